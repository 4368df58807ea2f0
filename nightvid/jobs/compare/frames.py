"""The frames a comparison looks at: chosen times of a video, or photos of a folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.colour import tags_for
from nightvid.streamer.decode import open_input

__all__ = ["Picked", "check_times", "consecutive_frames", "pick_frames", "timed_frames", "video_duration"]

_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class Picked:
    """One frame to compare: RGB uint8 ``(H, W, 3)`` and its label (time or file name)."""

    label: str
    rgb: np.ndarray
    #: Seconds from the start of the video (None for photos).
    time: float | None = None


def _shrink(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """Scale down so the longer side is at most ``max_side`` (even sizes kept even)."""
    if max_side is None or max(rgb.shape[:2]) <= max_side:
        return rgb
    scale = max_side / max(rgb.shape[:2])
    size = (max(2, round(rgb.shape[1] * scale)), max(2, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def video_duration(path: Path) -> float:
    """Seconds of the first video stream (from the stream, else the container)."""
    container, _ = open_input(path)
    with container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration:
            return container.duration / av.time_base
    raise NightvidError(f"{path}: the video has no duration; give the times with --at")


def check_times(source: Path, at: list[float] | None) -> None:
    """A NightvidError for an ``--at`` time before the start or past the end of the video ``source``."""
    if not at or source.is_dir():
        return
    if any(t < 0 for t in at):
        raise NightvidError(f"--at times must be >= 0 seconds, got {at}")
    try:
        duration = video_duration(source)
    except NightvidError:  # no duration in the file: a time past the end finds no frame later
        return
    late = [t for t in at if t > duration + 1e-3]
    if late:
        raise NightvidError(f"--at {late[0]:g} s is past the end of {source.name}, which is {duration:.2f} s long")


def _decoded(container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
    """Frames of the first video stream from where the container stands; damage is an error."""
    try:
        yield from container.decode(container.streams.video[0])
    except av.error.FFmpegError as err:
        raise NightvidError(f"{container.name}: cannot decode ({getattr(err, 'strerror', None) or err})") from None


def _frame_at(
    container: av.container.InputContainer, seconds: float
) -> tuple[av.VideoFrame | None, Iterator[av.VideoFrame]]:
    """The first frame shown at or after ``seconds`` (seeking to the keyframe before it),
    and the decoding that goes on from it."""
    stream = container.streams.video[0]
    time_base = stream.time_base or Fraction(1, av.time_base)
    start = stream.start_time or 0
    container.seek(start + int(seconds / time_base), stream=stream, backward=True, any_frame=False)
    frames = _decoded(container)
    last = None
    for frame in frames:
        if frame.time is None or frame.time >= seconds + float(start * time_base) - 1e-6:
            return frame, frames
        last = frame
    return last, frames


def _video_frames(path: Path, times: list[float], max_side: int | None) -> list[Picked]:
    container, _ = open_input(path)
    picked = []
    with container:
        for seconds in times:
            frame, _ = _frame_at(container, seconds)
            if frame is None:
                raise NightvidError(f"{path} has no frame at {seconds:g} s")
            rgb = _shrink(tags_for(frame).to_rgb(frame), max_side)
            picked.append(Picked(f"{seconds:.2f} s", rgb, seconds))
    return picked


def _image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise NightvidError(f"no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) in {folder}")
    return files


def _read_rgb(path: Path, max_side: int | None) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise NightvidError(f"cannot read image {path}")
    return _shrink(np.ascontiguousarray(bgr[:, :, ::-1]), max_side)


def _spread(count: int, total: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)`` (centres of equal parts)."""
    count = min(count, total)
    return sorted({int((i + 0.5) * total / count) for i in range(count)})


def pick_frames(
    source: Path, *, frames: int = 4, at: list[float] | None = None, max_side: int | None = 640
) -> list[Picked]:
    """Frames of a video (at ``at`` seconds, or ``frames`` spread over it) or a photo folder.

    A folder gives ``frames`` photos spread over its sorted files (``at`` is refused).
    Frames and photos larger than ``max_side`` on their longer side are scaled down
    first, so slow models stay quick to compare (None keeps the full size).
    """
    if frames < 1:
        raise NightvidError(f"--frames must be at least 1, got {frames}")
    if not source.exists():
        raise NightvidError(f"input not found: {source}")
    if source.is_dir():
        if at:
            raise NightvidError("--at picks times in a video; the input is a folder of images")
        files = _image_files(source)
        return [Picked(files[i].name, _read_rgb(files[i], max_side)) for i in _spread(frames, len(files))]
    if at:
        check_times(source, at)
        times = list(at)
    else:
        duration = video_duration(source)
        times = [duration * (i + 0.5) / frames for i in range(frames)]
    return _video_frames(source, times, max_side)


def consecutive_frames(source: Path, start: float, count: int, *, max_side: int | None = 640) -> Iterator[np.ndarray]:
    """Up to ``count`` consecutive RGB frames of a video from ``start`` seconds (for flicker)."""
    container, _ = open_input(source)
    with container:
        first, rest = _frame_at(container, start)
        if first is None:
            return
        yield _shrink(tags_for(first).to_rgb(first), max_side)
        for n, frame in enumerate(rest, start=1):
            if n >= count:
                break
            yield _shrink(tags_for(frame).to_rgb(frame), max_side)


def timed_frames(
    source: Path, *, seconds: float | None = None, max_side: int | None = 640
) -> Iterator[tuple[np.ndarray, int | None, Fraction, Fraction | None]]:
    """Every frame of a video from the start (up to ``seconds``): ``(rgb, pts, time_base, rate)``."""
    container, info = open_input(source)
    with container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        for frame in _decoded(container):
            if seconds is not None and frame.time is not None and frame.time - float(start * info.time_base) > seconds:
                break
            pts = None if frame.pts is None else frame.pts - start
            yield _shrink(tags_for(frame).to_rgb(frame), max_side), pts, info.time_base, info.rate
