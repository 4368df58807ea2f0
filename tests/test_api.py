"""The Python API (issue #26): ``nightvid.enhance``, ``nightvid.load`` and ``FrameEnhancer``."""

from __future__ import annotations

import json
import pydoc
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nightvid
from nightvid import nets
from nightvid.cli import app
from tests.clips import dark_frame, make_clip, read_video

SUMMARY_KEYS = {
    "input",
    "output",
    "frames",
    "seconds",
    "fps",
    "width",
    "height",
    "pix_fmt",
    "truncated",
    "warnings",
    "dropped",
    "damage",
}


@pytest.fixture(scope="module")
def noiser() -> nightvid.FrameEnhancer:
    return nightvid.load("noiser", backend="eager")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 dark 72x40 frames with AAC audio (not written to by any test)."""
    return make_clip(tmp_path_factory.mktemp("api") / "dark.mp4", frames=6, size=(72, 40))


def dark_batch(count: int = 3, width: int = 64, height: int = 48) -> np.ndarray:
    return np.stack([dark_frame(i, width, height) for i in range(count)])


def decoded(path: Path) -> tuple[list[np.ndarray], list[int | None]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in frames], [f.pts for f in frames]


def one_line_error(call: Any) -> str:
    with pytest.raises(nightvid.NightvidError) as caught:
        call()
    message = str(caught.value)
    assert message and "\n" not in message, message
    return message


# --- the package -----------------------------------------------------------------------


def test_import_nightvid_loads_no_torch_numpy_or_pyav() -> None:
    code = (
        "import sys, nightvid\n"
        "names = (nightvid.enhance, nightvid.load, nightvid.FrameEnhancer, nightvid.NightvidError)\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'av', 'cv2') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_public_names_and_docs() -> None:
    assert {"enhance", "load", "FrameEnhancer", "NightvidError"} <= set(nightvid.__all__)
    assert {"enhance", "load", "FrameEnhancer"} <= set(dir(nightvid))
    namespace: dict[str, Any] = {}
    exec("from nightvid import *", namespace)
    assert namespace["enhance"] is nightvid.enhance and namespace["load"] is nightvid.load
    with pytest.raises(AttributeError):
        nightvid.no_such_name  # noqa: B018
    for function in (nightvid.enhance, nightvid.load):
        text = pydoc.render_doc(function)
        assert "Example:" in text and f"nightvid.{function.__name__}(" in text, text
    assert "uint16" in pydoc.render_doc(nightvid.FrameEnhancer)


# --- enhance: a file ---------------------------------------------------------------------


def test_enhance_keeps_every_frame_its_time_and_the_audio(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "bright.mp4"
    progress: list[tuple[int, int | None]] = []
    summary = nightvid.enhance(str(clip), out, backend="eager", on_progress=lambda d, t: progress.append((d, t)))
    assert set(summary) == SUMMARY_KEYS
    assert summary["frames"] == 6 and summary["output"] == str(out)
    assert (summary["width"], summary["height"]) == (72, 40)
    assert summary["truncated"] is False and summary["warnings"] == [] and summary["dropped"] == []
    json.dumps(summary)  # as `--json` prints it
    src, dst = read_video(clip), read_video(out)
    assert dst["frames"] == src["frames"] == 6
    assert dst["pts"] == src["pts"] and dst["time_base"] == src["time_base"]
    assert dst["audio"] and dst["audio"] == src["audio"]
    assert dst["luma"] > src["luma"] + 20
    assert progress and progress[-1][0] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bright.mp4"]


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        ({}, []),
        (
            {"exposure": "0.3", "deblock": False, "temporal": 1, "stabilize": True},
            ["--exposure", "0.3", "--no-deblock", "--temporal", "1", "--stabilize"],
        ),
    ],
    ids=["defaults", "options"],
)
def test_enhance_writes_what_the_cli_writes(
    clip: Path, tmp_path: Path, options: dict[str, Any], flags: list[str]
) -> None:
    # FFV1 (lossless): the nets' frames are compared, not an encoder's run-to-run choices.
    api_out, cli_out = tmp_path / "api.mkv", tmp_path / "cli.mkv"
    summary = nightvid.enhance(clip, api_out, backend="eager", codec="ffv1", **options)
    args = ["enhance", str(clip), str(cli_out), "--backend", "eager", "--codec", "ffv1", "--json", *flags]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    timing = ("output", "seconds", "fps")
    assert {k: v for k, v in summary.items() if k not in timing} == {
        k: v for k, v in printed.items() if k not in timing
    }
    (api_frames, api_pts), (cli_frames, cli_pts) = decoded(api_out), decoded(cli_out)
    assert api_pts == cli_pts and len(api_frames) == 6
    for a, b in zip(api_frames, cli_frames, strict=True):
        np.testing.assert_array_equal(a, b)


def test_enhance_errors_are_one_line_and_leave_nothing(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert "input not found" in one_line_error(lambda: nightvid.enhance(tmp_path / "none.mp4", out))
    assert "unknown model" in one_line_error(lambda: nightvid.enhance(clip, out, model="nope"))
    assert "temporal takes an odd number" in one_line_error(lambda: nightvid.enhance(clip, out, temporal=2))
    assert "crf" in one_line_error(lambda: nightvid.enhance(clip, out, crf=99))
    assert "folder" in one_line_error(lambda: nightvid.enhance(clip, f"{tmp_path}/"))
    unknown: dict[str, Any] = {"fps": 30}
    assert "'fps'" in one_line_error(lambda: nightvid.enhance(clip, out, **unknown))
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"mine")
    message = one_line_error(lambda: nightvid.enhance(clip, out, backend="eager"))
    assert "overwrite=True" in message and "--" not in message  # in Python's words, not the CLI's
    assert out.read_bytes() == b"mine"


def test_enhance_takes_encoder_options_as_a_dict(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "tuned.mp4"
    summary = nightvid.enhance(
        clip, out, backend="eager", temporal=1, crf=30, preset="ultrafast", encoder_opt={"tune": "film"}
    )
    assert summary["frames"] == 6 and read_video(out)["frames"] == 6
    message = one_line_error(lambda: nightvid.enhance(clip, tmp_path / "x.mp4", encoder_opt={"crf": "30"}))
    assert "encoder_opt crf=30" in message


# --- load: frames you bring --------------------------------------------------------------


def test_frame_enhancer_says_what_it_runs(noiser: nightvid.FrameEnhancer) -> None:
    assert isinstance(noiser, nightvid.FrameEnhancer)
    assert (noiser.model, noiser.backend, noiser.device, noiser.precision) == ("noiser", "eager", "cpu", "fp32")
    assert repr(noiser) == "FrameEnhancer(model='noiser', backend='eager', device='cpu', precision='fp32')"


def test_uint8_frames_single_and_batch(noiser: nightvid.FrameEnhancer) -> None:
    frames = dark_batch()
    before = frames.copy()
    bright = noiser(frames)
    assert bright.shape == frames.shape and bright.dtype == np.uint8
    assert bright.mean() > frames.mean() + 40
    np.testing.assert_array_equal(frames, before)  # the input is not touched
    one = noiser(frames[1])
    assert one.shape == (48, 64, 3) and one.dtype == np.uint8
    assert np.abs(one.astype(int) - bright[1]).max() <= 1
    # the same frames as the engine that enhance() runs
    np.testing.assert_array_equal(bright, noiser.engine.enhance_frames(frames))


def test_uint16_frames(noiser: nightvid.FrameEnhancer) -> None:
    frames = dark_batch(2)
    deep = frames.astype(np.uint16) * 257
    bright = noiser(deep)
    assert bright.shape == deep.shape and bright.dtype == np.uint16
    assert np.abs(bright / 257.0 - noiser(frames)).max() <= 1.5
    assert noiser(deep[0]).shape == (48, 64, 3)


def test_views_and_tiny_frames(noiser: nightvid.FrameEnhancer) -> None:
    bgr = dark_batch(1)[0]
    rgb_view = bgr[..., ::-1]  # negative strides, as OpenCV users write it
    np.testing.assert_array_equal(noiser(rgb_view), noiser(np.ascontiguousarray(rgb_view)))
    tiny = np.full((5, 7, 3), 20, np.uint8)
    assert noiser(tiny).shape == (5, 7, 3)
    assert noiser(torch.full((3, 5, 7), 0.08)).shape == (3, 5, 7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_tensors(noiser: nightvid.FrameEnhancer, dtype: torch.dtype) -> None:
    frames = dark_batch(2)
    batch = torch.from_numpy(frames).permute(0, 3, 1, 2).to(dtype) / 255
    before = batch.clone()
    bright = noiser(batch)
    assert bright.shape == batch.shape and bright.dtype == dtype and bright.device == batch.device
    assert 0.0 <= bright.min() and bright.max() <= 1.0
    assert not bright.is_inference() and not bright.requires_grad
    torch.testing.assert_close(batch, before)
    # the integer path is this one, rounded
    as_frames = (bright * 255).round().permute(0, 2, 3, 1).numpy()
    assert np.abs(as_frames - noiser(frames)).max() <= 1.0
    single = noiser(batch[0])
    assert single.shape == (3, 48, 64) and single.dtype == dtype
    torch.testing.assert_close(single, bright[0], atol=1 / 255, rtol=0)


@pytest.mark.parametrize(
    ("frames", "words"),
    [
        (np.zeros((8, 8, 3), np.float32), "uint8 or uint16"),
        (np.zeros((8, 8, 3), np.int32), "uint8 or uint16"),
        (np.zeros((8, 8, 4), np.uint8), "(H, W, 3)"),
        (np.zeros((8, 8), np.uint8), "(H, W, 3)"),
        (np.zeros((1, 2, 8, 8, 3), np.uint8), "(H, W, 3)"),
        (np.zeros((0, 8, 3), np.uint8), "no pixels"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "float"),
        (torch.zeros(1, 8, 8, 3), "(B, 3, H, W)"),
        ([np.zeros((8, 8, 3), np.uint8)], "numpy array"),
    ],
    ids=["float-array", "int32", "4-channels", "grey", "5-dims", "empty", "uint8-tensor", "nhwc-tensor", "list"],
)
def test_wrong_frames_are_one_line_errors(noiser: nightvid.FrameEnhancer, frames: Any, words: str) -> None:
    assert words in one_line_error(lambda: noiser(frames))


def test_load_errors_are_one_line() -> None:
    assert "unknown model" in one_line_error(lambda: nightvid.load("nope"))
    assert "unknown backend" in one_line_error(lambda: nightvid.load(backend="fastest"))
    assert "unknown precision" in one_line_error(lambda: nightvid.load(precision="fp8"))
    message = one_line_error(lambda: nightvid.load(exposure=3))
    assert message.startswith("exposure is") and "--" not in message
    assert "not found" in one_line_error(lambda: nightvid.load(weights="/no/such.safetensors", backend="eager"))


def test_load_takes_a_weights_file(noiser: nightvid.FrameEnhancer) -> None:
    shipped = nets.shipped_weights("noiser")
    assert shipped is not None
    same = nightvid.load("noiser", weights=shipped, backend="eager", deblock=None)
    frames = dark_batch(1)
    np.testing.assert_array_equal(same(frames), noiser(frames))
    plain = nightvid.load("noiser", backend="eager", deblock=False, exposure="none")
    assert plain(frames).shape == frames.shape
