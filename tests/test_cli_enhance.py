"""`nightvid enhance` end to end on small clips made with PyAV, and every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from safetensors.torch import save_file
from typer.testing import CliRunner

from nightvid import nets
from nightvid.cli import app
from tests.clips import make_audio_only, make_clip, read_video
from tests.procs import interruptible

runner = CliRunner()


def enhance(*args: str) -> CliRunner.invoke:
    return runner.invoke(app, ["enhance", *map(str, args)])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_enhance_keeps_timing_size_and_audio_and_brightens(dark_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "bright.mp4"
    result = enhance(dark_clip, out, "--quiet")
    assert result.exit_code == 0, result.output
    src, dst = read_video(dark_clip), read_video(out)
    assert dst["frames"] == src["frames"] == 12
    assert dst["pts"] == src["pts"]
    assert dst["seconds"] == src["seconds"]
    assert (dst["width"], dst["height"]) == (src["width"], src["height"])
    assert dst["rate"] == src["rate"] == 25
    assert dst["time_base"] == src["time_base"]
    assert dst["audio"] and dst["audio"] == src["audio"]  # byte-identical packets
    assert dst["luma"] > src["luma"] + 20, (src["luma"], dst["luma"])
    assert leftovers(tmp_path) == []


def test_odd_size_is_kept(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "odd.mp4", frames=5, size=(63, 47), pix_fmt="yuv444p")
    out = tmp_path / "odd-out.mp4"
    result = enhance(clip, out, "--quiet")
    assert result.exit_code == 0, result.output
    dst = read_video(out)
    assert (dst["width"], dst["height"], dst["frames"]) == (63, 47, 5)


def test_variable_frame_rate_pts_are_kept(tmp_path: Path) -> None:
    pts = [0, 40, 80, 150, 160, 300, 310, 420, 500, 505]
    clip = make_clip(tmp_path / "vfr.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 1000))
    out = tmp_path / "vfr-out.mp4"
    result = enhance(clip, out, "--quiet")
    assert result.exit_code == 0, result.output
    src, dst = read_video(clip), read_video(out)
    assert dst["seconds"] == pytest.approx(src["seconds"], abs=1e-6)
    assert dst["audio"] == src["audio"]


def test_matroska_output_keeps_frame_intervals(tmp_path: Path) -> None:
    # Matroska cannot store the AAC priming offset as a negative time, so the muxer
    # shifts every stream by the same amount: intervals and A/V sync stay exact.
    pts = [0, 40, 80, 150, 160, 300]
    clip = make_clip(tmp_path / "vfr.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 1000))
    out = tmp_path / "out.mkv"
    assert enhance(clip, out, "--quiet").exit_code == 0
    src, dst = read_video(clip), read_video(out)
    shift = dst["seconds"][0] - src["seconds"][0]
    assert [t - shift for t in dst["seconds"]] == pytest.approx(src["seconds"], abs=1e-3)
    assert dst["audio"] == src["audio"]


def test_rotation_is_carried_over(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "rot.mp4", frames=4, rotation=90)
    out = tmp_path / "rot-out.mp4"
    assert enhance(clip, out, "--quiet").exit_code == 0
    assert read_video(clip)["rotation"] == 90
    assert read_video(out)["rotation"] == 90


def test_json_summary(dark_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    result = runner.invoke(app, ["enhance", str(dark_clip), str(out), "--json", "--batch", "4"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 12 and summary["output"] == str(out)
    assert summary["fps"] > 0 and summary["seconds"] > 0


def test_bf16_output_is_close_to_fp32(dark_clip: Path, tmp_path: Path) -> None:
    import av
    import numpy as np

    outputs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.mp4"
        result = enhance(
            dark_clip, out, "--backend", "eager", "--precision", precision, "--crf", "0", "--preset", "ultrafast"
        )
        assert result.exit_code == 0, result.output
        with av.open(str(out)) as video:
            outputs[precision] = np.stack([f.to_ndarray(format="rgb24") for f in video.decode(video=0)])
        outputs[precision] = outputs[precision].astype(np.int16)
    diff = np.abs(outputs["fp32"] - outputs["bf16"])
    assert diff.mean() < 1.5 and diff.max() <= 8  # NoiSER: 0.5 / 4 levels measured on the dashcam clip
    assert outputs["fp32"].mean() > 60  # and both are the brightened video


def test_unknown_precision(dark_clip: Path, tmp_path: Path) -> None:
    result = enhance(dark_clip, tmp_path / "o.mp4", "--precision", "fp8")
    assert_clean_failure(result, "unknown precision 'fp8'", tmp_path)


def test_overwrite_replaces(dark_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    out.write_bytes(b"old")
    assert enhance(dark_clip, out, "--quiet", "--overwrite").exit_code == 0
    assert read_video(out)["frames"] == 12


# ---- bad input: one line, exit 1, no file left behind -------------------------------


def assert_clean_failure(result, expected: str, folder: Path, *, absent: Path | None = None) -> None:
    assert result.exit_code == 1, result.output
    # progress lines may precede it; the failure itself is exactly one line
    lines = [line for line in result.output.strip().splitlines() if not line.startswith("enhance ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    assert expected in result.output, result.output
    assert leftovers(folder) == []
    if absent is not None:
        assert not absent.exists()


def make_truncated(tmp_path: Path) -> Path:
    # faststart puts the index first, so a cut file opens and then fails part-way
    clip = tmp_path / "whole.mp4"
    make_clip(clip, frames=40, size=(96, 64), audio=True)
    with_index = tmp_path / "fs.mp4"
    import av

    with av.open(str(clip)) as inp, av.open(str(with_index), "w", options={"movflags": "+faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    data = with_index.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    return cut


@pytest.mark.parametrize("case", ["missing", "directory", "text", "image", "audio_only"])
def test_unreadable_inputs(case: str, tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    expected = {
        "missing": "input not found",
        "directory": "is a directory",
        "text": "cannot read",
        "image": "still image",
        "audio_only": "has no video stream",
    }[case]
    if case == "directory":
        src.mkdir()
    elif case == "text":
        src.write_text("this is not a video\n" * 50)
    elif case == "image":
        import cv2
        import numpy as np

        ok, png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
        src.write_bytes(png.tobytes())
    elif case == "audio_only":
        make_audio_only(src)
    out = tmp_path / "out.mp4"
    assert_clean_failure(enhance(src, out), expected, tmp_path, absent=out)


def test_truncated_input_fails_with_strict_and_writes_nothing(tmp_path: Path) -> None:
    src = make_truncated(tmp_path)
    out = tmp_path / "out.mp4"
    result = enhance(src, out, "--strict")
    assert_clean_failure(result, "corrupt or truncated after", tmp_path, absent=out)
    assert "decoded frames" in result.output


def test_truncated_input_with_keep_partial_keeps_decoded_frames(tmp_path: Path) -> None:
    src = make_truncated(tmp_path)
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["enhance", str(src), str(out), "--strict", "--keep-partial", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["truncated"] is True
    assert 0 < summary["frames"] < 40
    assert read_video(out)["frames"] == summary["frames"]


def test_truncated_input_by_default_keeps_every_frame_and_warns(tmp_path: Path) -> None:
    src = make_truncated(tmp_path)
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["enhance", str(src), str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["truncated"] is True and summary["damage"]["truncated"]
    assert any(w.startswith("input is truncated: the file ends after") for w in summary["warnings"])
    assert 0 < summary["frames"] < 40
    assert read_video(out)["frames"] == summary["frames"]


def test_output_exists_without_overwrite(dark_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    assert_clean_failure(enhance(dark_clip, out), "output exists", tmp_path)
    assert out.read_bytes() == b"keep me"


def test_output_directory_missing(dark_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "nope" / "o.mp4"
    assert_clean_failure(enhance(dark_clip, out), "output directory does not exist", tmp_path)


def test_output_directory_not_writable(dark_clip: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: use a read-only fs
            locked = Path("/sys")
            if not locked.is_dir() or os.access(locked, os.W_OK) and _can_create(locked):
                pytest.skip("no unwritable directory available")
        result = enhance(dark_clip, locked / "o.mp4")
        assert_clean_failure(result, "cannot write to", tmp_path, absent=locked / "o.mp4")
    finally:
        (tmp_path / "locked").chmod(0o700)


def _can_create(folder: Path) -> bool:
    try:
        (folder / ".nightvid-probe").touch()
    except OSError:
        return False
    (folder / ".nightvid-probe").unlink()
    return True


def test_output_same_as_input(dark_clip: Path, tmp_path: Path) -> None:
    before = dark_clip.read_bytes()
    result = enhance(dark_clip, tmp_path / "." / dark_clip.name, "--overwrite")
    assert_clean_failure(result, "same file as the input", tmp_path)
    assert dark_clip.read_bytes() == before


def test_unknown_model(dark_clip: Path, tmp_path: Path) -> None:
    result = enhance(dark_clip, tmp_path / "o.mp4", "--model", "nope")
    assert_clean_failure(result, "unknown model 'nope'; available:", tmp_path)
    assert "noiser" in result.output


@pytest.mark.parametrize("case", ["missing", "corrupt", "other_model", "wrong_shape"])
def test_bad_weights(case: str, dark_clip: Path, tmp_path: Path) -> None:
    weights = tmp_path / "w.safetensors"
    expected = {
        "missing": "weights file not found",
        "corrupt": "not a readable safetensors file",
        "other_model": "is for model 'denoiser', not 'noiser'",
        "wrong_shape": "does not fit model 'noiser'",
    }[case]
    if case == "corrupt":
        weights.write_bytes(b"\x00garbage" * 10)
    elif case == "other_model":
        state = nets.build("denoiser").state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(weights), metadata={"model": "denoiser"})
    elif case == "wrong_shape":
        state = nets.build("noiser", hidden=8).state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    out = tmp_path / "o.mp4"
    result = enhance(dark_clip, out, "--weights", weights)
    assert_clean_failure(result, expected, tmp_path, absent=out)


def test_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "long.mp4", frames=400, size=(320, 240))
    out = tmp_path / "o.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nightvid", "enhance", str(src), str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 120
    while not leftovers(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the run never started writing"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_first_run_says_it_builds_the_engine_and_prints_no_exporter_chatter(dark_clip: Path, tmp_path: Path) -> None:
    # A fresh engine cache: the default engine (NoiSER's fused kernel) and the temporal
    # filter's kernel are built in this run.
    env = {**os.environ, "NIGHTVID_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "nightvid", "enhance", str(dark_clip), str(tmp_path / "o.mp4")]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "building noiser (native kernel) once" in first.stderr
    assert "building temporal (native kernel) once" in first.stderr  # the temporal filter's, on by default
    for chatter in ("torchvision is not installed", "FutureWarning", "Warning:"):
        assert chatter not in first.stderr, first.stderr
    again = subprocess.run([*command, "--overwrite"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "building" not in again.stderr, again.stderr


def test_no_deblock_keeps_the_dark_blocks_that_the_default_smooths(tmp_path: Path) -> None:
    """A near-black checkerboard of purple and green 16x16 squares (a codec's night sky):
    by default the output's square-to-square colour change is under half of --no-deblock's."""
    import av
    import numpy as np

    def sky(i: int, width: int, height: int) -> np.ndarray:
        rows, cols = np.arange(height)[:, None] // 16, np.arange(width)[None, :] // 16
        board = ((rows + cols) % 2).astype(bool)[..., None]
        return np.where(board, np.array([7, 2, 9], np.uint8), np.array([2, 7, 2], np.uint8))

    src = make_clip(tmp_path / "sky.mp4", frames=3, size=(96, 64), content=sky, audio=False, options={"qp": "0"})

    def jumps(path: Path) -> float:
        with av.open(str(path)) as container:
            image = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.float64)
        blocks = image.reshape(4, 16, 6, 16, 3).mean(axis=(1, 3))
        chroma = np.stack([blocks[..., 0] - blocks[..., 1], blocks[..., 2] - blocks[..., 1]], -1)
        return float(np.abs(np.diff(chroma, axis=0)).mean() + np.abs(np.diff(chroma, axis=1)).mean())

    smoothed, kept = tmp_path / "smoothed.mp4", tmp_path / "kept.mp4"
    for out, extra in ((smoothed, []), (kept, ["--no-deblock"])):
        result = enhance(src, out, "--quiet", "--crf", "0", *extra)
        assert result.exit_code == 0, result.output
    assert jumps(kept) > 10 and jumps(smoothed) < 0.5 * jumps(kept), (jumps(smoothed), jumps(kept))
