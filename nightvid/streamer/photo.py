"""One photo through an engine: ``nightvid enhance photo.jpg out.png``.

The picture is read with OpenCV, which applies its EXIF orientation (a phone's portrait
photo comes out upright) and keeps 16 bits of a 16-bit PNG or TIFF, or with FFmpeg where
OpenCV cannot read it (a one-frame GIF). It is enhanced once at its own size, scaled if
asked (``--scale``: Lanczos up, area down), and written in the format of the output's
extension (JPEG and WebP at quality 95, 8 bits where the format holds no more) to a
temporary file that is renamed into place only when it is complete. Transparency, EXIF
data and colour profiles are not carried over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.decode import is_still_image
from nightvid.streamer.scale import Scale
from nightvid.streamer.target import check_output, temporary_output

if TYPE_CHECKING:  # the checks of a job load neither torch nor OpenCV
    from nightvid.engines.base import Engine
    from nightvid.streamer.pipeline import EnhanceSummary

__all__ = ["PHOTO_SUFFIXES", "check_photo", "enhance_photo", "is_photo_job", "read_photo", "resized"]

#: Image files ``enhance`` writes from a photo.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Formats that hold 16 bits a channel; the others get 8.
_DEEP_SUFFIXES = (".png", ".tif", ".tiff")
_QUALITY = 95


def is_photo_job(src: Path, dst: Path) -> bool:
    """Whether ``src`` is a photo to enhance into the image ``dst``; False for a video into a
    video. One line (NightvidError) for a photo into a video file; a video into an image
    file is refused by ``encode.check_encoding``."""
    if not is_still_image(src):
        return False
    if dst.suffix.lower() not in PHOTO_SUFFIXES:
        raise NightvidError(
            f"{src} is a still image (a photo): enhance it into an image file "
            f"({', '.join(PHOTO_SUFFIXES)}), not {dst.suffix or 'a file without an extension'}"
        )
    return True


def check_photo(src: Path, dst: Path, *, overwrite: bool) -> None:
    """The checks of a photo job that read no pixels: the output's name and folder."""
    import cv2

    check_output(src, dst, overwrite=overwrite)
    if not cv2.haveImageWriter(str(dst)):
        raise NightvidError(f"this OpenCV build cannot write {dst.suffix} images; use .png or .jpg")


def read_photo(src: Path) -> np.ndarray:
    """``src`` as RGB, uint8 or uint16 (H, W, 3), upright."""
    import cv2

    picture = cv2.imread(str(src), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if picture is not None and picture.dtype in (np.uint8, np.uint16) and picture.ndim == 3:
        return np.ascontiguousarray(picture[..., ::-1])
    try:
        with av.open(str(src), metadata_errors="ignore") as container:
            frame = next(container.decode(video=0))
            return frame.to_ndarray(format="rgb24")
    except (av.error.FFmpegError, StopIteration) as err:
        raise NightvidError(f"cannot read the photo {src} ({err})") from None


def resized(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` at ``size`` (width, height): area when shrinking, Lanczos when growing."""
    import cv2

    height, width = rgb.shape[:2]
    if (width, height) == size:
        return rgb
    shrink = size[0] <= width and size[1] <= height
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)


def _encoded(rgb: np.ndarray, suffix: str) -> bytes:
    """``rgb`` in the image format of ``suffix``, 8 bits where that format holds no more."""
    import cv2

    if rgb.dtype == np.uint16 and suffix.lower() not in _DEEP_SUFFIXES:
        rgb = ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)
    params = {
        ".jpg": [cv2.IMWRITE_JPEG_QUALITY, _QUALITY],
        ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, _QUALITY],
        ".webp": [cv2.IMWRITE_WEBP_QUALITY, _QUALITY],
    }.get(suffix.lower(), [])
    ok, data = cv2.imencode(suffix, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise NightvidError(f"cannot write a {suffix} image")
    return data.tobytes()


def enhance_photo(
    src: Path,
    dst: Path,
    engine_for: Callable[[tuple[int, int]], Engine],
    *,
    scale: Scale | None = None,
    overwrite: bool = False,
) -> EnhanceSummary:
    """Enhance the photo ``src`` into the image ``dst`` (its format from the extension) with
    the engine ``engine_for((height, width))`` gives for its size.

    ``dst`` appears only when it is complete (a temporary file renamed into place);
    ``scale`` sizes the output after the net.
    """
    from nightvid.streamer.pipeline import EnhanceSummary

    src, dst = Path(src), Path(dst)
    check_photo(src, dst, overwrite=overwrite)
    picture = read_photo(src)
    engine = engine_for((picture.shape[0], picture.shape[1]))
    started = time.perf_counter()
    out = engine.enhance_frames(picture[None])[0]
    if scale is not None:
        out = resized(out, scale.size(out.shape[1], out.shape[0]))
    data = _encoded(out, dst.suffix)
    with temporary_output(dst, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    seconds = time.perf_counter() - started
    return EnhanceSummary(
        input=str(src),
        output=str(dst),
        frames=1,
        seconds=round(seconds, 3),
        fps=round(1 / seconds, 2) if seconds > 0 else 0.0,
        width=out.shape[1],
        height=out.shape[0],
        pix_fmt="rgb48" if out.dtype == np.uint16 and dst.suffix.lower() in _DEEP_SUFFIXES else "rgb24",
    )
