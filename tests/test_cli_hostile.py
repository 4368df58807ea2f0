"""Hostile inputs and wrong options (issue 13): a clean result or one `error:` line, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from tests.clips import make_clip, read_video

runner = CliRunner()


def _gif(path: Path, frames: int) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("gif", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb8"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i + 10, np.uint8), format="rgb24")
            out.mux(stream.encode(frame.reformat(format="rgb8")))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(
    "args, words",
    [
        (["--codec", "mjpeg"], "encoder mjpeg does not open"),
        (["--codec", "nope"], "unknown video encoder"),
        (["--codec", "aac"], "not a video encoder"),
        (["--preset", "wrong"], "unknown --preset"),
        (["--tile", "1"], "at least 64 px"),
        (["--tile", "16"], "at least 64 px"),
        (["--crf", "-1"], "0..51"),
        (["--crf", "99"], "0..51"),
        (["--batch", "0"], "--batch must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_wrong_options_are_one_line_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], words: str
) -> None:
    def no_engine(*a, **k):
        raise AssertionError("the engine was built before the options were checked")

    monkeypatch.setattr("nightvid.engines.create_engine", no_engine)
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    result = runner.invoke(app, ["enhance", str(clip), str(tmp_path / "out.mp4"), *args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ") and words in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_webm_output_gets_a_codec_it_holds_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    out = tmp_path / "out.webm"
    result = runner.invoke(app, ["enhance", str(clip), str(out), "--backend", "eager", "--quiet"])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
    assert read_video(out)["frames"] == 4
    wrong = runner.invoke(app, ["enhance", str(clip), str(tmp_path / "x.webm"), "--codec", "libx264"])
    assert wrong.exit_code == 1 and "cannot hold libx264" in wrong.output and "libvpx-vp9" in wrong.output


def test_one_by_one_video_is_enhanced(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "tiny.mkv", frames=3, size=(1, 1), pix_fmt="yuv444p", audio=False)
    out = tmp_path / "out.mkv"
    result = runner.invoke(app, ["enhance", str(clip), str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    made = read_video(out)
    assert made["frames"] == 3 and (made["width"], made["height"]) == (1, 1)


def test_animated_gif_is_a_video_and_a_one_frame_gif_is_a_still(tmp_path: Path) -> None:
    moving, still = _gif(tmp_path / "moving.gif", 5), _gif(tmp_path / "still.gif", 1)
    result = runner.invoke(app, ["enhance", str(moving), str(tmp_path / "out.mp4"), "--backend", "eager", "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_video(tmp_path / "out.mp4")["frames"] == 5
    refused = runner.invoke(app, ["enhance", str(still), str(tmp_path / "still.mp4")])
    assert refused.exit_code == 1 and "still image" in refused.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    src = make_clip(tmp_path / "long.mp4", frames=400, size=(320, 240))
    out = tmp_path / "o.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nightvid", "enhance", str(src), str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    partials = lambda: list(tmp_path.glob(".o.nightvid-*.partial.mp4"))  # noqa: E731
    deadline = time.monotonic() + 120
    while not partials() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert partials(), "the run never started writing"
    time.sleep(0.3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"terminated by {signal.Signals(signum).name}" in err and "Traceback" not in err
    assert not out.exists() and partials() == []


def test_stale_partial_files_of_dead_runs_are_removed(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.nightvid-{dead.pid}-0badf00d.partial.mp4"
    alive = tmp_path / f".out.nightvid-{os.getpid()}-feedbeef.partial.mp4"
    other = tmp_path / ".notes.nightvid-1-aaaaaaaa.partial.mp4"  # another output's: not ours to judge
    for path in (stale, alive, other):
        path.write_bytes(b"half a video")
    result = runner.invoke(app, ["enhance", str(clip), str(tmp_path / "out.mp4"), "--backend", "eager", "--quiet"])
    assert result.exit_code == 0, result.output
    assert not stale.exists() and alive.exists() and other.exists()


def test_a_device_this_machine_lacks_is_one_line(tmp_path: Path) -> None:
    import torch

    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU (cuda:0 on a CPU machine)
    for device in (missing, "tpu"):
        result = runner.invoke(app, ["enhance", str(clip), str(tmp_path / "out.mp4"), "--device", device])
        assert result.exit_code == 1 and result.output.startswith("error: ") and "this machine has cpu" in result.output
    ok = runner.invoke(app, ["enhance", str(clip), str(tmp_path / "out.mp4"), "--device", "cpu", "--quiet"])
    assert ok.exit_code == 0, ok.output


def test_aac_from_a_ts_is_carried_into_a_ts(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.ts", frames=10)
    out = tmp_path / "out.ts"
    result = runner.invoke(app, ["enhance", str(clip), str(out), "--backend", "eager", "--quiet"])
    assert result.exit_code == 0, result.output
    source, made = read_video(clip), read_video(out)
    assert made["frames"] == source["frames"] == 10
    assert made["audio"] == source["audio"] and made["audio"]  # AAC packets byte for byte
    webm = runner.invoke(app, ["enhance", str(clip), str(tmp_path / "out.webm"), "--backend", "eager"])
    assert webm.exit_code == 1 and "audio codec aac cannot be stored" in webm.output


def _fragmented(path: Path, frames: int = 60) -> Path:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "frag_keyframe+empty_moov"}) as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "10"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 60, (64, 96, 3), dtype=np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _damaged(src: Path, dst: Path, *, at: float, size: int = 0, cut: bool = False) -> Path:
    data = bytearray(src.read_bytes())
    start = int(len(data) * at)
    if cut:
        data = data[:start]
    else:
        data[start : start + size] = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("kind", ["ts_with_garbage", "fragmented_mp4_cut"])
def test_damage_in_ts_and_fragmented_mp4_is_a_warning_and_a_strict_error(tmp_path: Path, kind: str) -> None:
    if kind == "ts_with_garbage":
        clean = make_clip(tmp_path / "clean.ts", frames=90, size=(160, 120))
        bad = _damaged(clean, tmp_path / "bad.ts", at=0.5, size=20_000)
    else:
        clean = _fragmented(tmp_path / "clean.mp4")
        bad = _damaged(clean, tmp_path / "bad.mp4", at=0.6, cut=True)
    ok = runner.invoke(app, ["enhance", str(clean), str(tmp_path / "ok.mkv"), "--backend", "eager", "--json"])
    assert ok.exit_code == 0, ok.output
    out = tmp_path / "out.mkv"
    warned = runner.invoke(app, ["enhance", str(bad), str(tmp_path / "warned.mkv"), "--backend", "eager", "--json"])
    assert warned.exit_code == 0, warned.output
    said = json.loads(warned.stdout.strip().splitlines()[-1])
    assert any(w.startswith(("input is damaged", "input is truncated")) for w in said["warnings"]), said
    assert 0 < said["frames"] == read_video(tmp_path / "warned.mkv")["frames"]
    refused = runner.invoke(app, ["enhance", str(bad), str(out), "--backend", "eager", "--strict"])
    assert refused.exit_code == 1 and "corrupt or truncated" in refused.output and not out.exists()
    kept = runner.invoke(
        app, ["enhance", str(bad), str(out), "--backend", "eager", "--strict", "--keep-partial", "--json"]
    )
    assert kept.exit_code == 0, kept.output
    summary = json.loads(kept.stdout.strip().splitlines()[-1])
    assert summary["truncated"] is True and 0 < summary["frames"] == read_video(out)["frames"]
    assert summary["frames"] <= said["frames"]


def test_a_pipe_as_input_is_refused_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "stream.ts"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["enhance", str(fifo), str(tmp_path / "out.mkv")])
    assert result.exit_code == 1 and "can be read only once" in result.output
    assert len(result.output.strip().splitlines()) == 1
    stdin = runner.invoke(app, ["enhance", "/dev/stdin", str(tmp_path / "out2.mkv")])
    assert stdin.exit_code == 1 and stdin.output.startswith("error: ")


def test_encoders_get_crf_and_preset_in_their_own_terms() -> None:
    from nightvid.streamer.encode_options import EncodeOptions

    assert EncodeOptions(codec="h264_nvenc", crf=20, preset="veryfast").codec_options() == {"cq": "20", "preset": "p2"}
    assert EncodeOptions(codec="hevc_nvenc", crf=28, preset="slow").codec_options() == {"cq": "28", "preset": "p6"}
    assert EncodeOptions(codec="h264_qsv", crf=22, preset="medium").codec_options() == {
        "global_quality": "22",
        "preset": "medium",
    }
    assert EncodeOptions(codec="libsvtav1", crf=35, preset="veryfast").codec_options() == {"crf": "35", "preset": "10"}
    assert EncodeOptions(codec="libx264", crf=18, preset="fast").codec_options() == {"crf": "18", "preset": "fast"}


def test_fp16_on_a_cpu_says_it_is_slow(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    result = runner.invoke(
        app,
        [
            "enhance",
            str(clip),
            str(tmp_path / "out.mp4"),
            "--precision",
            "fp16",
            "--backend",
            "eager",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fp16 on a CPU is emulated" in result.output


@pytest.mark.parametrize("size", ["40k", "600k"])
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, size: str) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'not root'})")
    try:

        def grain(index: int, width: int, height: int) -> np.ndarray:  # incompressible: fills the disk part-way
            return np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)

        clip = make_clip(tmp_path / "in.mp4", frames=40, size=(320, 240), content=grain)
        result = runner.invoke(app, ["enhance", str(clip), str(disk / "out.mp4"), "--backend", "eager", "--quiet"])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error: ") and "No space left on device" in result.output
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_sigint_stops_a_run_started_with_sigint_ignored(tmp_path: Path) -> None:
    """Shells start background jobs with SIGINT ignored; `kill -INT` must still stop the run,
    here while the engine is being built (a fresh cache)."""
    src = make_clip(tmp_path / "long.mp4", frames=300, size=(320, 240))
    out = tmp_path / "o.mp4"
    env = {**os.environ, "NIGHTVID_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nightvid", "enhance", str(src), str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "cache").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)  # the cache folder appears when the engine build starts
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert not out.exists() and not list(tmp_path.glob(".o.nightvid-*"))
