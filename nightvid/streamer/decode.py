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
from av.stream import Disposition

from nightvid.errors import NightvidError

__all__ = [
    "CorruptInputError",
    "VideoInfo",
    "check_input",
    "deinterlaced",
    "display_matrix",
    "field_order",
    "iter_frames",
    "open_input",
]

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
    #: Streams copied to the output untouched where it can hold them (``carry.Carrier``):
    #: every stream but the enhanced one (audio, subtitles, data, attachments, other video).
    carried: tuple[int, ...]
    #: Pixel shape (anamorphic DVD, HDV: 64/45, 4/3); None for square pixels or unknown.
    aspect: Fraction | None = None
    #: Index of the enhanced video stream in the container.
    index: int = 0
    #: Seconds the input starts after 0 (a TS cut from a longer recording); the output starts at 0.
    start: Fraction = Fraction(0)


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
        if all(s.disposition & Disposition.attached_pic for s in container.streams.video):
            raise NightvidError(f"{path} has no video stream, only cover art (an audio file?)")
        if not stream.width or not stream.height:
            raise NightvidError(f"{path}: the video stream has no frame size; the file is damaged")
        carried = tuple(s.index for s in container.streams if s.index != stream.index)
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
            index=stream.index,
            start=_start(container),
            aspect=stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio or None,
        )
    except BaseException:
        container.close()
        raise
    return container, info


def _start(container: av.container.InputContainer) -> Fraction:
    """When the first stream starts, in seconds, if later than 0 (earlier starts are kept: edit lists)."""
    start = container.start_time
    return Fraction(start, 1_000_000) if start and start > 0 else Fraction(0)


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


#: AVFieldOrder values of interlaced video, as the field shown first (TB: top coded, bottom shown first).
_FIELD_ORDERS = {2: "top field first", 3: "bottom field first", 4: "bottom field first", 5: "top field first"}


def field_order(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> str | None:
    """How ``frame`` is interlaced ("top field first", ...), or None when it is progressive."""
    if not frame.interlaced_frame:
        return None
    return _FIELD_ORDERS.get(stream.codec_context.field_order, "interlaced")


def deinterlaced(frames: Iterator[av.VideoFrame], time_base: Fraction) -> Iterator[av.VideoFrame]:
    """``frames`` through FFmpeg's bwdif: one progressive frame per frame, with its pts.

    Nets see a frame as one picture; two fields 1/50 s apart woven together would be
    smeared into each other by every convolution. ``deint=interlaced`` passes frames not
    marked interlaced untouched (streams that switch); a change of size starts a new graph.
    """
    graph: av.filter.Graph | None = None
    shape: tuple[int, int, str] | None = None
    for frame in frames:
        if graph is None or (frame.width, frame.height, frame.format.name) != shape:
            if graph is not None:
                yield from _drained(graph, time_base, flush=True)
            graph, shape = _bwdif(frame, time_base), (frame.width, frame.height, frame.format.name)
        graph.push(frame)
        yield from _drained(graph, time_base)
    if graph is not None:
        yield from _drained(graph, time_base, flush=True)


def _bwdif(frame: av.VideoFrame, time_base: Fraction) -> av.filter.Graph:
    graph = av.filter.Graph()
    source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=time_base)
    bwdif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
    sink = graph.add("buffersink")
    source.link_to(bwdif)
    bwdif.link_to(sink)
    graph.configure()
    return graph


def _drained(graph: av.filter.Graph, time_base: Fraction, *, flush: bool = False) -> Iterator[av.VideoFrame]:
    """The frames ``graph`` has ready (all of them with ``flush``), pts back in ``time_base``."""
    if flush:
        graph.push(None)
    while True:
        try:
            out = graph.pull()
        except (BlockingIOError, av.error.EOFError):
            return
        assert isinstance(out, av.VideoFrame)
        if out.pts is not None and out.time_base:
            out.pts = round(out.pts * out.time_base / time_base)
        out.time_base = time_base
        yield out
