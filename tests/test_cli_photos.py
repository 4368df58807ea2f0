"""`nightvid enhance photo.jpg out.png`: one photo through the model into an image file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import nightvid
from nightvid.cli import app
from tests.clips import dark_frame, make_clip

runner = CliRunner()
FAST = ("--backend", "eager", "--quiet")


def enhance(*args: str | Path) -> CliRunner.invoke:
    return runner.invoke(app, ["enhance", *map(str, args)])


def write_photo(path: Path, rgb: np.ndarray) -> Path:
    ok, data = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[..., ::-1]))
    assert ok
    path.write_bytes(data.tobytes())
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A dark 96x64 JPEG."""
    return write_photo(tmp_path / "night.jpg", dark_frame(0, 96, 64))


def read(path: Path) -> np.ndarray:
    picture = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert picture is not None, path
    return picture


def mess(folder: Path) -> list[str]:
    """Temporary files left beside an output."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_a_photo_is_enhanced_into_the_image_its_extension_names(photo: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"bright{suffix}"
    result = enhance(photo, out, *FAST, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["frames"], summary["width"], summary["height"]) == (1, 96, 64)
    made = read(out)
    assert made.shape == (64, 96, 3) and made.dtype == np.uint8
    assert made.mean() > read(photo).mean() + 20
    assert mess(tmp_path) == []


def test_the_photo_is_what_the_model_makes_of_it(photo: Path, tmp_path: Path) -> None:
    """Lossless PNG out: the pixels are the engine's output for the photo's pixels."""
    out = tmp_path / "bright.png"
    assert enhance(photo, out, *FAST).exit_code == 0
    expected = nightvid.load("noiser", backend="eager")(np.ascontiguousarray(read(photo)[..., ::-1]))
    np.testing.assert_array_equal(read(out)[..., ::-1], expected)


def test_a_phone_photo_comes_out_upright(tmp_path: Path) -> None:
    """EXIF orientation 6 (turn 90 degrees clockwise): the output is the picture as shown."""
    stored = dark_frame(0, 96, 64)
    stored[:, :8] = 200  # a bright left edge: the top once turned
    ok, jpeg = cv2.imencode(".jpg", stored[..., ::-1])
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">HHHIHHI", 1, 0x0112, 3, 1, 6, 0, 0)
    exif = b"Exif\x00\x00" + tiff
    data = jpeg.tobytes()
    src = tmp_path / "phone.jpg"
    src.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:])
    out = tmp_path / "phone.png"
    assert enhance(src, out, *FAST).exit_code == 0
    made = read(out)
    assert made.shape == (96, 64, 3)
    assert made[:8].mean() > made[8:].mean() + 30


def test_sixteen_bit_png_stays_sixteen_bit_and_jpeg_gets_eight(tmp_path: Path) -> None:
    deep = (dark_frame(0, 48, 32).astype(np.uint16) * 257 + 100).astype(np.uint16)
    src = write_photo(tmp_path / "deep.png", deep)
    assert enhance(src, tmp_path / "deep-out.png", *FAST).exit_code == 0
    assert enhance(src, tmp_path / "deep-out.jpg", *FAST).exit_code == 0
    assert read(tmp_path / "deep-out.png").dtype == np.uint16
    assert read(tmp_path / "deep-out.jpg").dtype == np.uint8


def test_scale_sizes_a_photo_after_the_model(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "small.png"
    result = enhance(photo, out, *FAST, "--scale", "0.5", "--json")
    assert result.exit_code == 0, result.output
    assert read(out).shape == (32, 48, 3)
    assert (json.loads(result.stdout)["width"], json.loads(result.stdout)["height"]) == (48, 32)


def test_a_photo_under_a_video_name_is_still_a_photo(photo: Path, tmp_path: Path) -> None:
    src = tmp_path / "renamed.mp4"
    src.write_bytes(photo.read_bytes())
    assert enhance(src, tmp_path / "out.png", *FAST).exit_code == 0
    assert read(tmp_path / "out.png").shape == (64, 96, 3)


def test_the_api_enhances_a_photo(photo: Path, tmp_path: Path) -> None:
    summary = nightvid.enhance(photo, tmp_path / "api.png", backend="eager")
    assert summary["frames"] == 1 and summary["output"].endswith("api.png")


@pytest.mark.parametrize(
    "case, options, message",
    [
        ("photo", ["out.mp4"], "{src} is a still image (a photo): enhance it into an image file (.jpg, "),
        ("video", ["out.png"], "enhance writes video files; out.png would be still images"),
        ("photo", ["out.png", "--start", "1"], "--start cuts a video; {src} is a photo"),
        ("photo", ["out.png", "--duration", "1"], "--duration cuts a video; {src} is a photo"),
        ("photo", ["out.png", "--crf", "20"], "--crf sets how video is encoded; {src} is a photo"),
        ("photo", ["out.png", "--codec", "libx265"], "--codec sets how video is encoded"),
        ("photo", ["out.png", "--scale", "3x2x1"], "--scale takes WIDTHxHEIGHT"),
        ("photo", ["missing/out.png"], "output directory does not exist"),
        ("exists", ["out.png"], "output exists"),
    ],
)
def test_mixing_photos_and_videos_or_video_options_is_one_line(
    photo: Path, tmp_path: Path, case: str, options: list[str], message: str
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    src = make_clip(folder / "clip.mp4", frames=3) if case == "video" else folder / photo.name
    if case != "video":
        src.write_bytes(photo.read_bytes())
    if case == "exists":
        (folder / "out.png").write_bytes(b"mine")
    before = sorted(p.name for p in folder.iterdir())
    result = enhance(src, folder / options[0], *FAST, *options[1:])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message.format(src=src)}"), result.output
    assert sorted(p.name for p in folder.iterdir()) == before
    if case == "exists":
        assert (folder / "out.png").read_bytes() == b"mine"


def test_a_write_that_fails_half_way_leaves_nothing(
    photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image goes to a temporary file renamed into place: a full disk leaves no half file."""

    def half_then_full(self: Path, data: bytes) -> int:
        with open(self, "wb") as file:
            file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    out = tmp_path / "full.png"
    result = enhance(photo, out, *FAST)
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith(f"error: cannot write {out}: No space left on device")
    assert not out.exists() and mess(tmp_path) == []
