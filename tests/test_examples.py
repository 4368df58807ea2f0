"""The scripts in examples/ run as documented (docs/PYTHON.md) and write what they say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.clips import make_clip, read_video

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("examples") / "dark.mp4", frames=5, size=(64, 48))


def run_example(name: str, *args: str | Path, tmp: Path) -> Path:
    """Run ``examples/<name>.py`` (temporary files under ``tmp``); the path it prints last."""
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip().splitlines()[-1])
    assert written.is_file(), done.stdout
    return written


def image(path: Path) -> np.ndarray:
    read = cv2.imread(str(path))
    assert read is not None, f"OpenCV cannot read {path}"
    return read


def test_enhance_file(clip: Path, tmp_path: Path) -> None:
    out = run_example("enhance_file", clip, tmp_path / "bright.mp4", "--backend", "eager", tmp=tmp_path)
    assert out == tmp_path / "bright.mp4"
    src, dst = read_video(clip), read_video(out)
    assert dst["frames"] == src["frames"] == 5 and dst["pts"] == src["pts"]
    assert dst["luma"] > src["luma"] + 20


def test_enhance_file_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    script = EXAMPLES / "enhance_file.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "none.mp4"), str(tmp_path / "out.mp4")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: input not found: {tmp_path / 'none.mp4'}"]


def test_opencv_frames(clip: Path, tmp_path: Path) -> None:
    out = run_example("opencv_frames", clip, tmp_path / "cv.mp4", "--frames", "3", "--backend", "eager", tmp=tmp_path)
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 3
    capture.release()
    sheet = image(out.with_suffix(".png"))
    assert sheet.shape == (48, 128, 3)
    assert sheet[:, 64:].mean() > sheet[:, :64].mean() + 20  # after is brighter than before


def test_opencv_frames_defaults_to_the_bundled_clip(tmp_path: Path) -> None:
    out = run_example("opencv_frames", "--frames", "2", "--backend", "eager", tmp=tmp_path)
    assert out.is_relative_to(tmp_path) and out.name == "night-demo-opencv.mp4"
    assert image(out.with_suffix(".png")).shape == (360, 1280, 3)


def test_torch_tensors(clip: Path, tmp_path: Path) -> None:
    out = run_example("torch_tensors", clip, tmp_path / "t.png", "--frames", "4", "--backend", "eager", tmp=tmp_path)
    sheet = image(out)
    assert sheet.shape == (48, 128, 3)
    assert sheet[:, 64:].mean() > sheet[:, :64].mean() + 20
