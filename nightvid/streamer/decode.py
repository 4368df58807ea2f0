"""Open a video, check it is one, and yield its frames.

Every failure a user can cause (missing file, not a video, no video stream, a file
corrupt part-way) becomes a ``NightvidError`` with a one-line reason.
"""

from __future__ import annotations

import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.sidedata.sidedata import SideData

from nightvid.errors import NightvidError

__all__ = ["CorruptInputError", "VideoInfo", "check_input", "display_matrix", "iter_frames", "open_input"]

# Demuxers that read still images; a PNG renamed .mp4 opens as one of these.
#: Demuxers of still images; an image format that can animate is a still only with one frame.
_IMAGE_FORMATS = ("image2", "_pipe")
_ANIMATED_FORMATS = ("gif", "apng", "webp")


def _is_still_image(path: Path, fmt: str) -> bool:
    """True for a single picture: an image demuxer, or a GIF/APNG/WebP with one frame."""
    if any(tag in fmt for tag in _IMAGE_FORMATS):
        return True
    if not any(tag in fmt for tag in _ANIMATED_FORMATS):
        return False
    try:
        with av.open(str(path), metadata_errors="ignore") as probe:
            if not probe.streams.video:
                return False
            packets = 0
            for packet in probe.demux(probe.streams.video[0]):
                packets += packet.size > 0
                if packets > 1:
                    return False
    except av.error.FFmpegError:
        return False
    return True


class CorruptInputError(NightvidError):
    """The input stopped decoding part-way; ``frames`` were decoded before that."""

    def __init__(self, message: str, *, frames: int) -> None:
        super().__init__(message)
        self.frames = frames


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about the input before decoding it."""

    path: Path
    width: int
    height: int
    codec: str
    pix_fmt: str | None
    #: Nominal frame rate (None when the container gives none).
    rate: Fraction | None
    time_base: Fraction
    #: Frame count from the header: an estimate for progress, not a promise.
    frames_hint: int | None
    #: Streams copied to the output untouched (audio, subtitles).
    carried: tuple[int, ...]


def check_input(path: Path) -> None:
    """The checks that need no decoding (exists, not a folder, not a pipe), run before an
    engine is built so a wrong path fails at once."""
    _check_path(path)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise NightvidError(f"input not found: {path}")
    if path.is_dir():
        raise NightvidError(f"input is a directory, not a video: {path}")
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
        # The video and the carried audio are read by two demuxers; a pipe can be read
        # once, and the second reader would silently get what the first left over.
        raise NightvidError(
            f"input {path} is a pipe or device, which can be read only once; save it to a file first (e.g. cat > in.ts)"
        )


def _open_container(path: Path) -> av.container.InputContainer:
    _check_path(path)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise NightvidError(f"cannot read {path} as a video ({reason})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise NightvidError(f"cannot read {path}: {err}") from None


def open_input(path: Path) -> tuple[av.container.InputContainer, VideoInfo]:
    """Open ``path`` and describe its first video stream; the caller closes the container."""
    container = _open_container(path)
    try:
        fmt = container.format.name
        if _is_still_image(path, fmt):
            raise NightvidError(f"{path} is a still image ({fmt}), not a video")
        if not container.streams.video:
            kinds = ", ".join(f"{s.type} {s.codec_context.name}" for s in container.streams) or "none"
            raise NightvidError(f"{path} has no video stream (streams: {kinds})")
        stream = container.streams.video[0]
        if not stream.width or not stream.height:
            raise NightvidError(f"{path}: the video stream has no frame size; the file is damaged")
        carried = tuple(s.index for s in container.streams if s.type in ("audio", "subtitle"))
        info = VideoInfo(
            path=path,
            width=stream.width,
            height=stream.height,
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt,
            rate=stream.average_rate or stream.guessed_rate,
            time_base=stream.time_base or Fraction(1, 90000),
            frames_hint=stream.frames or None,
            carried=carried,
        )
    except BaseException:
        container.close()
        raise
    return container, info


#: Codecs whose every video packet is one shown frame: fewer frames than packets is damage.
ONE_FRAME_PER_PACKET = frozenset({"h264", "hevc", "mpeg2video", "mpeg1video", "mjpeg", "prores", "dnxhd", "ffv1"})


def iter_frames(container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream, in presentation order.

    Raises ``CorruptInputError`` (with the count decoded so far) instead of silently
    returning a short video when:

    - decoding fails part-way;
    - the demuxer marks a packet corrupt (an MPEG-TS with garbage in it, a fragmented MP4
      cut mid-fragment: FFmpeg resyncs and its frame threads drop what they cannot
      decode without an error);
    - the demuxer ran out of packets before the count its index promises (a cut MP4 with
      its index up front ends early without any error);
    - for codecs whose every packet is one shown frame (``ONE_FRAME_PER_PACKET``), fewer
      frames came out than packets went in.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: several times faster decoding
    promised = stream.frames  # exact for MP4/MOV (sample table); 0 when unknown
    one_each = stream.codec_context.name in ONE_FRAME_PER_PACKET
    count = packets = 0
    try:
        for packet in container.demux(stream):
            if packet.is_corrupt:
                at = f" at {float(packet.pts * packet.time_base):.2f} s" if packet.pts is not None else ""
                raise CorruptInputError(
                    f"input is corrupt or truncated after {count} decoded frames (a damaged video packet{at})",
                    frames=count,
                )
            packets += packet.size > 0
            for frame in packet.decode():
                count += 1
                yield frame
    except av.error.FFmpegError as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise CorruptInputError(
            f"input is corrupt or truncated after {count} decoded frames ({reason})", frames=count
        ) from None
    if promised and packets < promised:
        raise CorruptInputError(
            f"input is corrupt or truncated after {count} decoded frames "
            f"(the file ends after {packets} of the {promised} video packets its index lists)",
            frames=count,
        )
    if one_each and count < packets:
        raise CorruptInputError(
            f"input is corrupt or truncated after {count} decoded frames "
            f"({packets - count} of its {packets} video packets did not decode)",
            frames=count,
        )


def display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The 3x3 display matrix (rotation/flip) attached to a frame, if any."""
    side = frame.side_data.get("DISPLAYMATRIX")
    if not isinstance(side, SideData):
        return None
    return struct.unpack("<9i", bytes(side))
