"""Part of a video (``--start``, ``--duration``), cut as ``ffmpeg -ss S -i IN -t D`` cuts it.

Times count from the input's start, as a whole ``enhance`` counts its output's. The
frames kept are those FFmpeg keeps: every frame shown at S or later, up to the last one
whose time after S, placed on the nearest slot of the frame rate (halves up, as FFmpeg
places frames before it applies ``-t``), falls before D. The output starts at 0: each
kept frame is shown at its time less S, except the first, which is shown from 0 (where
it falls between two frames, S is held by the frame after it, as in FFmpeg's MP4 output,
which repeats that frame there). The other streams keep the packets that start in the
span, byte for byte, moved back by S; chapters are moved and clipped the same way.

The video is read from the last keyframe at or before S (``open_at``), as FFmpeg seeks;
the frames before S are decoded and dropped, and decoding stops after the span. The
frames just outside the span are handed on as neighbours of the temporal filter, so
the span's frames are fused as in a whole pass (the tags in ``neighbours``).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from nightvid.errors import NightvidError

if TYPE_CHECKING:  # PyAV loads when a video is read; parsing needs none of it
    import av

    from nightvid.streamer.decode import VideoInfo

__all__ = ["Trim", "check_trim", "open_at", "parse_seconds", "trim_chapters", "trimmed"]

_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)")
#: Seconds before the start a seek tries in turn when the demuxer lands on a keyframe after it.
_SEEK_MARGINS = (0, 2, 10, 60)


def parse_seconds(value: float | str | None, flag: str) -> Fraction | None:
    """``90``, ``1.5``, ``"1:30"`` or ``"01:02:03.5"`` -> exact seconds; None stays None.

    Example:
        >>> parse_seconds("1:30.5", "--start"), parse_seconds(0.1, "--start")
        (Fraction(181, 2), Fraction(1, 10))
    """
    if value is None:
        return None
    text = repr(value) if isinstance(value, float) else str(value).strip()
    clock = _CLOCK.fullmatch(text)
    try:
        if clock:
            hours, minutes, seconds = clock.groups()
            if int(minutes) >= 60 and hours is not None or float(seconds) >= 60:
                raise ValueError(text)
            result = Fraction(int(hours or 0) * 3600 + int(minutes) * 60) + Fraction(seconds)
        else:
            result = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise NightvidError(f"{flag} takes seconds (90, 1.5) or [HH:]MM:SS[.ms] (1:30), got {str(value)!r}") from None
    if result < 0:
        raise NightvidError(f"{flag} must be 0 or more seconds, got {value}")
    return result


@dataclass(frozen=True)
class Trim:
    """From ``start`` seconds of the input, for ``duration`` seconds (None: to the end)."""

    start: Fraction = Fraction(0)
    duration: Fraction | None = None

    @classmethod
    def parse(cls, start: float | str | None, duration: float | str | None) -> Trim | None:
        """``--start`` and ``--duration`` as given; None when they ask for the whole video.

        Raises NightvidError (one line) for a value that is not seconds, is negative, or a
        duration of 0.
        """
        begin = parse_seconds(start, "--start")
        length = parse_seconds(duration, "--duration")
        if length == 0:
            raise NightvidError("--duration must be above 0 seconds, got 0")
        if not begin and length is None:
            return None
        return cls(begin or Fraction(0), length)

    def __str__(self) -> str:
        begin = f"{float(self.start):g} s"
        return f"after {begin}" if self.duration is None else f"from {begin} to {float(self.start + self.duration):g} s"

    def origin(self, start: Fraction, time_base: Fraction) -> Fraction:
        """The source time (s) that becomes the output's 0, for an input starting at ``start``:
        S later, on a tick of the video's ``time_base`` (the first frame is moved there)."""
        if not self.start:
            return start
        return math.ceil((start + self.start) / time_base) * time_base

    def holds(self, offset: Fraction, rate: Fraction | None) -> bool:
        """Whether a frame shown ``offset`` seconds after S is not yet past the span's end:
        its time on the nearest slot of ``rate`` (halves up) before D, as FFmpeg decides."""
        if self.duration is None:
            return True
        if not rate:
            return offset < self.duration
        return math.floor(offset * rate + Fraction(1, 2)) < self.duration * rate

    def frames_hint(self, info: VideoInfo) -> int | None:
        """About how many frames the span holds, for progress."""
        if info.rate is None:
            return None
        lengths = [] if self.duration is None else [self.duration]
        if info.frames_hint:
            lengths.append(max(Fraction(0), info.frames_hint / info.rate - self.start))
        return max(1, math.ceil(min(lengths) * info.rate)) if lengths else None


def check_trim(src: Path, trim: Trim | None) -> None:
    """A NightvidError when ``trim`` starts at or after the end of ``src`` (from its header)."""
    if trim is None or not trim.start:
        return
    from nightvid.streamer.decode import open_input

    container, _ = open_input(src)
    with container:
        length = container.duration
    if length is not None and length > 0 and trim.start >= Fraction(length, 1_000_000):
        raise NightvidError(
            f"--start {float(trim.start):g} is past the end of {src.name} ({length / 1_000_000:.2f} s long)"
        )


def open_at(src: Path, trim: Trim, *, lead: int = 0) -> tuple[av.container.InputContainer, VideoInfo, bool]:
    """``src`` opened (``decode.open_input``) and its video put on the last keyframe at or
    before ``trim``'s start, ``lead`` frames earlier still (the temporal filter's context,
    ``streamer.temporal.context_frames``); (container, info, whether it was moved). The
    caller closes it.

    A demuxer may land on a keyframe shown after the time asked for (an MP4 with
    B-frames, whose index holds decode times): then a little earlier is tried, and at
    last the file is read from the beginning.
    """
    from nightvid.streamer.decode import open_input

    container, info = open_input(src)
    try:
        stream = container.streams.video[0]
        time_base = info.time_base
        rate = stream.guessed_rate or info.rate
        early = Fraction(lead) / Fraction(rate) if lead and rate else Fraction(0)
        target = (info.start + trim.start - early) / time_base
        begin = stream.start_time or 0
        moved = False
        for margin in _SEEK_MARGINS:
            position = math.floor(target - margin / time_base)
            if not trim.start or position <= begin:
                break
            moved = True
            if _lands_before(container, stream, position, target):
                container.seek(position, stream=stream, backward=True, any_frame=False)
                return container, info, True
    except BaseException:
        container.close()
        raise
    if moved:  # start again from a fresh container: a seek to the beginning is not exact in every format
        container.close()
        container, info = open_input(src)
    return container, info, False


def _lands_before(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, position: int, target: Fraction
) -> bool:
    """Whether a seek to ``position`` lands on a keyframe shown at or before ``target`` (pts)."""
    import av

    try:
        container.seek(position, stream=stream, backward=True, any_frame=False)
        first = next((p for p in container.demux(stream) if p.size), None)
    except av.error.FFmpegError:
        return False
    return first is not None and first.is_keyframe and first.pts is not None and first.pts <= target


def trimmed(
    frames: Iterator[av.VideoFrame],
    trim: Trim,
    info: VideoInfo,
    *,
    rate: Fraction | None,
    context: tuple[int, int] = (0, 0),
    neighbours: set[int] | None = None,
) -> Iterator[av.VideoFrame]:
    """The frames of ``frames`` (decoded from ``info``'s video) that ``trim`` keeps, the first
    moved to S (``Trim.origin``); decoding stops after the span.

    ``context`` (before, after) frames around the span come too, their pts added to
    ``neighbours`` before each is handed on (the temporal filter's neighbours, never
    written). Raises NightvidError when no frame falls in the span.
    """
    time_base = info.time_base
    start = info.start + trim.start
    origin = round(trim.origin(info.start, time_base) / time_base)
    lead, tail = context
    before: deque[av.VideoFrame] = deque(maxlen=lead)
    tags = neighbours if neighbours is not None else set()
    kept = 0
    shown: Fraction | None = None
    step = 1 / rate if rate else Fraction(0)
    past: av.VideoFrame | None = None
    for frame in frames:
        if frame.pts is not None:
            shown = frame.pts * time_base
        else:  # a raw stream: frames a rate's step apart from the input's start
            shown = info.start if shown is None else shown + step
        if shown < start:
            before.append(frame)
            continue
        if not trim.holds(shown - start, rate):
            past = frame
            break
        if not kept:
            yield from _tagged(before, tags)
            if trim.start and frame.pts is not None and frame.pts > origin:
                frame.pts = origin
        kept += 1
        yield frame
    if not kept:
        raise NightvidError(f"no frame of {info.path.name} is shown {trim}")
    if past is not None and tail:
        after = [past]
        for more in frames:
            if len(after) >= tail:
                break
            after.append(more)
        yield from _tagged(after, tags)


def _tagged(frames: deque[av.VideoFrame] | list[av.VideoFrame], tags: set[int]) -> Iterator[av.VideoFrame]:
    """``frames`` as neighbours only: each pts in ``tags`` (none where a frame has no pts)."""
    pts = [frame.pts for frame in frames]
    if None in pts:
        return
    tags.update(p for p in pts if p is not None)
    yield from frames


def trim_chapters(chapters: list[dict], origin: Fraction, duration: Fraction | None) -> list[dict]:
    """``chapters`` (PyAV's dicts) moved back by ``origin`` seconds and clipped to the span."""
    kept = []
    for chapter in chapters:
        base = Fraction(chapter["time_base"])
        shift = origin / base
        first = max(Fraction(0), chapter["start"] - shift)
        last = chapter["end"] - shift
        if duration is not None:
            last = min(last, duration / base)
        if last <= first:
            continue
        kept.append({**chapter, "start": math.floor(first), "end": math.ceil(last)})
    return kept
