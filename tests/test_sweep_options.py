"""Option checks and messages as a demanding user tried them: a correct result, or one
`error:` line (exit 1; exit 2 for a flag typer cannot parse), never a traceback, and
nothing written where refused."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from nightvid.errors import NightvidError
from tests.clips import make_clip

runner = CliRunner()


def error_line(output: str) -> str:
    """The output's one line, progress and INFO lines aside; fails on more or on a traceback."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith(("enhance ", "INFO:"))]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


def no_engine(*args: object, **kwargs: object) -> None:
    raise AssertionError("an engine was built before the options were checked")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "in.mp4", frames=3, size=(64, 48))


# ----------------------------------------------------------------------- enhance, refused


@pytest.mark.parametrize(
    "dst, args, code, words",
    [
        ("out.mp4", ["--preset", ""], 1, "--preset is empty"),
        ("out.mp4", ["--encoder-opt", "crf=30", "--crf", "18"], 1, "--encoder-opt crf=30 sets what --crf sets"),
        ("out.mp4", ["--encoder-opt", "preset=slow"], 1, "use --preset slow"),
        ("out.mp4", ["--encoder-opt", "pix_fmt=yuv444p"], 1, "sets what --pix-fmt sets"),
        ("out.mp4", ["--bitrate", "abc"], 1, "--bitrate takes bits per second"),
        ("out.mp4", ["--bitrate", "0"], 1, "--bitrate takes bits per second"),
        ("out.mp4", ["--bitrate", "300k", "--crf", "30"], 1, "give one"),
        ("out.mp4", ["--bitrate", "300k", "--encoder-opt", "b=200k"], 1, "sets what --bitrate sets"),
        ("out.mp4", ["--encoder-opt", "b=fast"], 1, "--encoder-opt b= takes bits per second"),
        ("out.mp4/", [], 1, "output names a folder: "),
        ("out.mp4", ["--model", "nosuch"], 1, "unknown model 'nosuch'"),
        ("out.mp4", ["--backend", "nosuch"], 1, "unknown backend 'nosuch'"),
        ("out.mp4", ["--exposure", "bright"], 1, "got 'bright'"),
        ("out.mp4", ["--crf", "abc"], 2, "Invalid value for '--crf'"),
        ("out.mp4", ["--crf", "18.5"], 2, "Invalid value for '--crf'"),
        ("out.mp4", ["--batch", "abc"], 2, "Invalid value for '--batch'"),
        ("out.mp4", ["--bogus"], 2, "No such option: --bogus"),
    ],
)
def test_enhance_refuses_in_one_line_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clip: Path, dst: str, args: list[str], code: int, words: str
) -> None:
    monkeypatch.setattr("nightvid.engines.create_engine", no_engine)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["enhance", str(clip), dst, "--backend", "eager", *args])
    assert result.exit_code == code, result.output
    assert words in error_line(result.output)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["enhanc"], "No such command 'enhanc'"),
        (["--bogus"], "No such option: --bogus"),
        (["enhance"], "Missing argument"),
        (["enhance-many", "x", "-o", "out", "--jobs", "two"], "Invalid value for '--jobs'"),
        (["compare", "x.mp4", "--frames", "four"], "Invalid value for '--frames'"),
        (["bench", "--frames", "0"], "--frames"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args, words) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert words in error_line(result.output)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_input_is_refused_before_torch_loads(tmp_path: Path) -> None:
    # what was imported, not how long it took: a timed bound flakes on a busy machine
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nightvid", "enhance", "missing.mp4", "out.mp4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    said = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert "input not found: missing.mp4" in error_line("\n".join(said))
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" not in imported, "torch imported before the input was checked"
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------- enhance, done right


def _x264_settings(path: Path) -> str:
    data = path.read_bytes()
    start = data.index(b"x264 - core")
    return data[start : start + 2000].decode(errors="replace")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--bitrate", "300k"], "rc=abr mbtree=1 bitrate=300 "),
        (["--encoder-opt", "b=250k"], "rc=abr mbtree=1 bitrate=250 "),
        ([], "rc=crf mbtree=1 crf=18.0 "),
    ],
)
def test_bitrate_switches_x264_to_abr(tmp_path: Path, clip: Path, args: list[str], expected: str) -> None:
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["enhance", str(clip), str(out), "--backend", "eager", "--quiet", *args])
    assert result.exit_code == 0, result.output
    assert expected in _x264_settings(out)


def test_odd_size_warning_is_in_the_json_summary(tmp_path: Path) -> None:
    odd = make_clip(tmp_path / "odd.mkv", frames=2, size=(63, 35), pix_fmt="yuv444p", audio=False)
    out = tmp_path / "out.mkv"
    result = runner.invoke(app, ["enhance", str(odd), str(out), "--backend", "eager", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("odd-sized" in line for line in summary["warnings"]), summary["warnings"]
    assert "WARNING:" not in result.output  # said once, as the summary's warning


def test_a_tiny_move_is_said_in_microseconds() -> None:
    from nightvid.streamer.timestamps import Timeline

    timeline = Timeline(Fraction(1, 90000), Fraction(1, 90000), 3000)
    timeline.place(0)
    timeline.place(0)
    assert "by at most 11.1 µs" in str(timeline.warning())


@pytest.mark.parametrize("overwrite, kept", [(None, b"theirs"), (False, b"theirs"), (True, b"ours")])
def test_an_output_that_appears_meanwhile_is_replaced_only_with_overwrite(
    tmp_path: Path, overwrite: bool | None, kept: bytes
) -> None:
    from nightvid.streamer.target import temporary_output

    dst = tmp_path / "out.mp4"
    with pytest.raises(NightvidError, match="output appeared while") if kept == b"theirs" else _nothing():
        with temporary_output(dst, overwrite=overwrite) as tmp:
            tmp.write_bytes(b"ours")
            dst.write_bytes(b"theirs")  # another run finished first
    assert dst.read_bytes() == kept
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_an_output_there_at_the_start_is_replaced(tmp_path: Path) -> None:
    from nightvid.streamer.target import temporary_output

    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"old")  # check_output allowed it (--overwrite)
    with temporary_output(dst) as tmp:
        tmp.write_bytes(b"new")
    assert dst.read_bytes() == b"new"


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ----------------------------------------------------------------------- enhance-many


def test_many_refuses_a_bad_model_before_making_the_out_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clip: Path
) -> None:
    monkeypatch.setattr("nightvid.engines.create_engine", no_engine)
    out = tmp_path / "out"
    result = runner.invoke(app, ["enhance-many", str(clip), "-o", str(out), "--model", "nosuch"])
    assert result.exit_code == 1, result.output
    assert "unknown model 'nosuch'" in error_line(result.output)
    assert not out.exists()


def test_folders_with_a_manifest_are_outputs_not_inputs(tmp_path: Path) -> None:
    from nightvid.jobs.many.inputs import find_videos
    from nightvid.jobs.many.manifest import MANIFEST_NAME

    (tmp_path / "in" / "first").mkdir(parents=True)
    (tmp_path / "in" / "cam").mkdir()
    (tmp_path / "in" / "cam" / "a.mp4").write_bytes(b"")
    (tmp_path / "in" / "first" / "a.mp4").write_bytes(b"")  # an earlier run's output
    (tmp_path / "in" / "first" / MANIFEST_NAME).write_text("")
    items = find_videos([tmp_path / "in"], tmp_path / "in" / "second")
    assert [item.key for item in items] == ["cam/a.mp4"]


def test_the_manifest_lock_is_gone_when_the_run_ends(tmp_path: Path) -> None:
    from nightvid.jobs.many.manifest import LOCK_NAME, Manifest

    with Manifest(tmp_path):
        assert (tmp_path / LOCK_NAME).exists()
        with pytest.raises(NightvidError, match="another enhance-many"), Manifest(tmp_path):
            pass
        assert (tmp_path / LOCK_NAME).exists()  # the refused one leaves the holder's lock alone
    assert not (tmp_path / LOCK_NAME).exists()
    with Manifest(tmp_path):  # and the next run takes it again
        pass


# ----------------------------------------------------------------------- compare and bench


@pytest.mark.parametrize(
    "args, words",
    [
        (["--out", "x.mp4"], "the contact sheet is an image"),
        (["--out", "sheet"], "the contact sheet is an image"),
        (["--out", "nowhere/x.png"], "output folder does not exist"),
        (["--at", "99"], "--at 99 s is past the end of in.mp4, which is"),
        (["--at", "-1"], "--at times must be >= 0"),
        (["--exposure", "bright"], "got 'bright'"),
        (["--video", "side.avi"], "--video writes H.264"),
        (["--models", "noiser,nosuch"], "unknown model 'nosuch'"),
    ],
)
def test_compare_refuses_before_building_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clip: Path, args: list[str], words: str
) -> None:
    monkeypatch.setattr("nightvid.engines.create_engine", no_engine)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compare", str(clip), "--models", "noiser", *args])
    assert result.exit_code == 1, result.output
    assert words in error_line(result.output)
    assert list(tmp_path.iterdir()) == []


def _fake_rows(label: str, *args: object, **kwargs: object) -> list:
    from nightvid.streamer.stage_timing import StageTiming

    return [StageTiming(label, stage, 4, 100.0, 10.0, 1.0) for stage in ("decode", "inference", "encode", "end-to-end")]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--compare", "noiser:eager:3"], "noiser:eager:3: only the"),
        (["--compare", "noiser:nosuch"], "unknown backend 'nosuch'"),
        (["--compare", "noiser:eager:0"], "WORKERS at least 1"),
        (["--compare", "nosuch:eager"], "unknown model 'nosuch'"),
    ],
)
def test_bench_checks_every_compare_entry_first(monkeypatch: pytest.MonkeyPatch, args: list[str], words: str) -> None:
    monkeypatch.setattr("nightvid.jobs.bench.create_engine", no_engine)
    monkeypatch.setattr("nightvid.jobs.bench.bench_engine", no_engine)
    result = runner.invoke(app, ["bench", "--size", "64x48", "--frames", "4", "--backend", "eager", *args])
    assert result.exit_code == 1, result.output
    assert words in error_line(result.output)


def test_bench_keeps_the_rows_measured_before_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from nightvid.engines import EngineSpec
    from nightvid.engines.base import Engine

    built: list[tuple[str, int | None]] = []

    def engine(spec: EngineSpec) -> Engine:
        backend = spec.backend
        built.append((backend, spec.workers))
        if backend == "fused":
            raise NightvidError("fused kernel missing")
        import torch

        return Engine(fn=lambda x: x, backend=backend, device=torch.device("cpu"))

    monkeypatch.setattr("nightvid.jobs.bench.create_engine", engine)
    monkeypatch.setattr("nightvid.jobs.bench.bench_engine", _fake_rows)
    args = ["--size", "64x48", "--frames", "4", "--backend", "onnx", "--workers", "2"]
    result = runner.invoke(app, ["bench", *args, "--compare", "noiser:eager", "--compare", "noiser:fused", "--json"])
    assert result.exit_code == 1, result.output
    assert built == [("onnx", 2), ("eager", None), ("fused", None)]  # --workers is --backend's alone
    report = json.loads(result.stdout)
    assert {row["label"] for row in report["rows"]} == {"noiser:onnx", "noiser:eager"}
    assert report["failed"] == {"engine": "noiser:fused", "reason": "fused kernel missing"}
    assert "noiser:fused: fused kernel missing" in error_line(result.stderr)
