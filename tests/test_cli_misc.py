"""`nightvid models`, `train noiser` and `bench` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nightvid import nets
from nightvid.cli import app
from nightvid.errors import NightvidError

runner = CliRunner()


def test_models_lists_every_net_with_counts_and_weights() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(nets.list_nets())
    assert rows["noiser"]["params"] == 1763 and rows["noiser"]["weights"] == "noiser.safetensors"
    assert rows["lednet"]["params"] == 7_408_893
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0 and "noiser" in table.stdout


def test_train_noiser_writes_weights_card_and_refuses_to_clobber(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "noiser", "--out", str(out), "--iters", "20", "--quiet"])
    assert result.exit_code == 0, result.output
    weights = Path(result.stdout.strip().splitlines()[-1])
    assert weights == out / "best.safetensors" and weights.is_file()
    card = json.loads((out / "model_card.json").read_text())
    assert card["iterations"] == 20 and card["seed"] == 0 and card["torch"]
    net = nets.build("noiser")
    nets.load_weights(net, weights, name="noiser")  # loads strictly into the net
    again = runner.invoke(app, ["train", "noiser", "--out", str(out), "--iters", "20"])
    assert again.exit_code == 1 and again.output.startswith("error: ")


def test_bench_json_has_every_stage(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "bench",
            "--size",
            "64x48",
            "--frames",
            "6",
            "--preset",
            "ultrafast",
            "--backend",
            "eager",
            "--repeats",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    stages = {row["stage"] for row in report["rows"]}
    assert stages == {"decode", "inference", "encode", "end-to-end"}
    assert all(row["fps"] > 0 and row["frames"] == 6 and row["runs"] == 2 for row in report["rows"])
    assert all(row["cpu_ms_per_frame"] > 0 for row in report["rows"])
    assert report["repeats"] == 2 and report["x264_preset"] == "ultrafast"
    assert report["end_to_end_over_slowest"]["noiser:eager"] > 0
    stages = {row["stage"]: row for row in report["rows"]}
    slowest = min(stages[s]["fps"] for s in ("decode", "inference", "encode"))
    assert 0 < report["bound_fps"]["noiser:eager"] <= slowest


def test_bench_rejects_bad_size() -> None:
    result = runner.invoke(app, ["bench", "--size", "huge"])
    assert result.exit_code == 1 and "size must be" in result.output


def test_cli_encode_defaults_are_the_encoders() -> None:
    import inspect

    from nightvid.cli.enhance import enhance
    from nightvid.cli.measure import bench
    from nightvid.streamer.encode_options import EncodeOptions

    defaults = EncodeOptions()
    flags = inspect.signature(enhance).parameters
    assert [flags[name].default for name in ("codec", "crf", "preset", "pix_fmt")] == [
        defaults.codec,
        defaults.crf,
        defaults.preset,
        defaults.pix_fmt,
    ]
    assert inspect.signature(bench).parameters["preset"].default == defaults.preset


def test_bench_specs_name_their_workers() -> None:
    from nightvid.engines import EngineSpec
    from nightvid.jobs.bench import parse_spec

    def named(spec: EngineSpec) -> tuple:
        return spec.model, spec.backend, spec.workers

    base = EngineSpec(exposure=0.3, workers=2)
    assert named(parse_spec("noiser", EngineSpec())) == ("noiser", "auto", None)
    assert named(parse_spec("noiser:onnx", base)) == ("noiser", "onnx", 2)
    assert named(parse_spec("kind:onnx:1", base)) == ("kind", "onnx", 1)
    assert parse_spec("kind:onnx:1", base).exposure == 0.3  # the rest of the base spec is kept
    for bad in ("noiser:onnx:two", "noiser:onnx:1:2"):
        with pytest.raises(NightvidError, match="MODEL:BACKEND"):
            parse_spec(bad, base)
    with pytest.raises(NightvidError, match="nosuch:onnx: unknown model"):
        parse_spec("nosuch:onnx", base)


def test_workers_with_a_backend_that_cannot_split_is_a_clear_error(tmp_path: Path) -> None:
    from tests.clips import make_clip

    src = make_clip(tmp_path / "in.mp4", frames=2, size=(64, 48), audio=False)
    result = runner.invoke(
        app, ["enhance", str(src), str(tmp_path / "out.mp4"), "--backend", "eager", "--workers", "2"]
    )
    assert result.exit_code == 1 and "only the fused or onnx backend on the CPU" in result.output
    assert not (tmp_path / "out.mp4").exists()
    result = runner.invoke(app, ["bench", "--size", "64x48", "--frames", "2", "--backend", "eager", "--workers", "2"])
    assert result.exit_code == 1 and result.output.startswith("error: ")


def test_version_prints_the_installed_version_and_exits_0() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"nightvid {version('nightvid')}"


def test_models_shows_weights_size_speed_and_the_default_uncut(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from nightvid.cli.enhance import enhance
    from nightvid.jobs.models import DEFAULT_MODEL

    assert inspect.signature(enhance).parameters["model"].default == DEFAULT_MODEL == "noiser"
    rows = {row["name"]: row for row in json.loads(runner.invoke(app, ["models", "--json"]).stdout)}
    assert [name for name, row in rows.items() if row["default"]] == ["noiser"]
    for name, row in rows.items():
        shipped = nets.shipped_weights(name)
        assert shipped is not None and row["weights_bytes"] == shipped.stat().st_size
    # the speed class follows the multiply-adds per pixel, and the measured CPU times (docs/BENCHMARKS.md)
    assert rows["noiser"]["macs_per_pixel"] == 1728
    assert [rows[n]["speed"] for n in ("noiser", "denoiser", "kind", "lednet")] == ["fast", "medium", "medium", "slow"]
    monkeypatch.setenv("COLUMNS", "100")
    wide = runner.invoke(app, ["models"]).stdout
    kib = rows["noiser"]["weights_bytes"] / 1024
    assert "noiser *" in wide and f"noiser.safetensors ({kib:.1f} KiB)" in wide and "fast (1.7k MAC/px)" in wide
    monkeypatch.setenv("COLUMNS", "40")
    narrow = runner.invoke(app, ["models"])
    assert narrow.exit_code == 0 and "…" not in narrow.stdout  # folded, never cut
    assert all(f"{name}:" in narrow.stdout for name in rows)  # every summary, wrapped


def test_progress_lines_off_a_terminal_say_the_time_left(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nightvid.cli import common

    now = [100.0]
    monkeypatch.setattr(common.time, "perf_counter", lambda: now[0])
    with common.ProgressLine("compare a.mp4", quiet=False) as progress:
        assert not progress.rich
        progress(0, 4, "gain on 0.50 s")
        now[0] = 106.0
        progress(2, 4, "noiser on 0.50 s")
        now[0] = 107.0
        progress(3, 4)  # within 5 s of the last line: not shown
        now[0] = 108.0
        progress(4, 4)  # done: always shown
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "compare a.mp4: 0/4 frames, 0.0 fps gain on 0.50 s",
        "compare a.mp4: 2/4 frames, 0.3 fps, 0:06 left noiser on 0.50 s",
        "compare a.mp4: 4/4 frames, 0.5 fps",
    ]
    assert common.clock(3725) == "1:02:05" and common.counted(1, "frame") == "1 frame"


def test_bench_shows_progress_and_json_keeps_the_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from nightvid.cli import common

    args = [
        "bench",
        "--size",
        "64x48",
        "--frames",
        "2",
        "--backend",
        "eager",
        "--repeats",
        "1",
        "--preset",
        "ultrafast",
    ]
    plain = runner.invoke(app, args)
    assert plain.exit_code == 0, plain.output
    assert "bench: 0/1 engine, " in plain.stderr and "bench: 1/1 engine, " in plain.stderr
    silent = runner.invoke(app, [*args, "--json"])  # off a terminal: JSON alone
    assert silent.exit_code == 0 and "bench:" not in silent.stderr
    screen = io.StringIO()
    monkeypatch.setattr(common, "err_console", Console(file=screen, force_terminal=True, width=100))
    shown = runner.invoke(app, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["rows"] and "1/1" in screen.getvalue()  # the bar on stderr, JSON on stdout


def test_help_texts_say_what_the_code_does() -> None:
    from typing import get_args

    from nightvid.cli.common import Exposure, Workers
    from nightvid.engines import BACKEND_SPECS

    workers_help = get_args(Workers)[1].help
    multi = [name for name, spec in BACKEND_SPECS.items() if spec.multi_worker]
    assert multi and all(name in workers_help for name in multi)
    for refused in (0.0, 1.0):
        with pytest.raises(NightvidError):
            nets.parse_exposure(refused)
    assert "strictly between 0 and 1" in get_args(Exposure)[1].help
    demo_help = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--quiet" in demo_help and "print nothing but errors" in demo_help


def test_one_frame_is_counted_as_one_frame(tmp_path: Path) -> None:
    from tests.clips import make_clip

    src = make_clip(tmp_path / "in.mp4", frames=1, size=(64, 48), audio=False)
    result = runner.invoke(app, ["enhance", str(src), str(tmp_path / "out.mp4"), "--backend", "eager"])
    assert result.exit_code == 0, result.output
    assert "1 frame in " in result.stderr and "1 frames" not in result.stderr


def test_cache_list_and_clear(tmp_path: Path) -> None:
    from nightvid.engines.cache import list_entries, load_or_build, remove_entries

    cache = tmp_path / "cache"
    for net in ("kind", "noiser", "kind+denoiser"):
        expected = {"format": 1, "net": net, "backend": "onnx", "precision": "fp32", "device": "cpu"}
        load_or_build(expected, cache_dir=cache, suffix=".onnx", build=lambda p: p.write_bytes(b"x" * 1000), load=str)
    (cache / "auto-noiser-0123456789abcdef.json").write_text(
        json.dumps({"model": "noiser", "choice": "fused", "frame": "640x360", "ms_per_frame": {"fused": 21.46}})
    )
    (cache / "kernels").mkdir()
    (cache / "kernels" / "deblock-0123456789abcdef.so").write_bytes(b"k" * 10)
    (cache / "notes.txt").write_text("not nightvid's")

    listed = runner.invoke(app, ["cache", "list", "--cache-dir", str(cache), "--json"])
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.stdout)["entries"]
    assert [(e["kind"], e["model"], e["backend"]) for e in entries] == [
        ("engine", "kind", "onnx"),
        ("engine", "kind+denoiser", "onnx"),
        ("engine", "noiser", "onnx"),
        ("auto", "noiser", "fused"),
        ("kernel", "deblock", "fused"),
    ]
    engine = entries[0]
    assert engine["bytes"] == 1000 + Path(engine["files"][1]).stat().st_size and engine["created"].startswith("20")
    assert entries[3]["detail"] == "640x360: fused 21.5 ms"
    table = runner.invoke(app, ["cache", "list", "--cache-dir", str(cache)], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and "5 entries" in table.stderr and "kind+denoiser" in table.stdout

    cleared = runner.invoke(app, ["cache", "clear", "--model", "kind", "--cache-dir", str(cache)])
    assert cleared.exit_code == 0 and "removed 2 entries" in cleared.stderr  # kind's and its chain's
    assert [(e.kind, e.model) for e in list_entries(cache)] == [
        ("engine", "noiser"),
        ("auto", "noiser"),
        ("kernel", "deblock"),
    ]
    assert [e.kind for e in remove_entries(cache)] == ["engine", "auto", "kernel"]
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == ["notes.txt"]


def test_a_finished_noiser_run_goes_on_to_more_iterations(tmp_path: Path) -> None:
    """--resume with a larger --iters continues a finished run: the same weights as one longer run."""
    longer, whole = tmp_path / "longer", tmp_path / "whole"
    for out, iters, more in ((longer, "10", []), (longer, "20", ["--resume"]), (whole, "20", [])):
        result = runner.invoke(app, ["train", "noiser", "--out", str(out), "--iters", iters, "--quiet", *more])
        assert result.exit_code == 0, result.output
    for name in ("best.safetensors", "final.safetensors"):
        assert (longer / name).read_bytes() == (whole / name).read_bytes()
    assert json.loads((longer / "model_card.json").read_text())["iterations"] == 20
    events = [json.loads(line)["event"] for line in (longer / "metrics.jsonl").read_text().splitlines()]
    assert events.count("end") == 1
    shorter = runner.invoke(app, ["train", "noiser", "--out", str(longer), "--iters", "15", "--resume"])
    assert shorter.exit_code == 1 and shorter.output.startswith("error: ")


def test_a_run_with_a_learning_rate_schedule_is_not_made_longer(tmp_path: Path) -> None:
    import torch

    from nightvid.trainers.loop import read_checkpoint

    path = tmp_path / "checkpoint.pt"
    torch.save({"format": 1, "run": {"iters": 20, "lr": 0.1}, "state": {}}, path)
    assert read_checkpoint(path, run={"iters": 40, "lr": 0.1}, extend=True)["run"]["iters"] == 20
    with pytest.raises(NightvidError, match="schedule over all its iterations"):
        read_checkpoint(path, run={"iters": 40, "lr": 0.1}, extend=False)
    with pytest.raises(NightvidError, match="different run"):
        read_checkpoint(path, run={"iters": 40, "lr": 0.2}, extend=True)


def test_inductor_jit_says_it_compiles_before_it_does(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import torch

    from nightvid.cli.common import setup_logging
    from nightvid.engines.inductor import build_torch_compile

    with caplog.at_level(logging.INFO, logger="nightvid.engines.cache"):
        build_torch_compile(nets.build_enhancer("noiser"), device=torch.device("cpu"), dtype=torch.float32)
    assert "compiling NoiSER" in caplog.text and "this takes a minute or two, once per run" in caplog.text
    setup_logging(quiet=False)  # what the CLI shows
    assert logging.getLogger("nightvid.engines.cache.inductor").isEnabledFor(logging.INFO)
