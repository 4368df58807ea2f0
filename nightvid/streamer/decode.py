"""Open a video, check it is one, and yield its frames.

Every failure a user can cause (missing file, not a video, no video stream, a file
corrupt part-way) becomes a ``NightvidError`` with a one-line reason.
"""

from __future__ import annotations

import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.logging
from av.sidedata.sidedata import SideData
from av.stream import Disposition

from nightvid.errors import NightvidError

__all__ = [
    "CorruptInputError",
    "DamageReport",
    "VideoInfo",
    "check_input",
    "deinterlaced",
    "display_matrix",
    "field_order",
    "demuxer_errors",
    "has_exact_index",
    "is_still_image",
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


def is_still_image(path: Path) -> bool:
    """Whether ``path`` holds one picture (a photo, a one-frame GIF), not a video; False where
    FFmpeg cannot read it at all (``open_input`` then says why)."""
    _check_path(path)
    try:
        with _open_container(path) as container:
            fmt = container.format.name
    except NightvidError:
        return False
    return _is_still_image(path, fmt)


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
            rate=_rate(container, stream),
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


#: AVFMT_NOTIMESTAMPS: a raw elementary stream (.h264, .hevc) whose packets carry no time.
_NO_TIMESTAMPS = 0x80


def _rate(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Fraction | None:
    """The frame rate FFmpeg reads: the stream's average, but for a raw elementary stream
    the codec's own (its SPS timing: 30), not the demuxer's default 25 it gives as average."""
    if container.format.flags & _NO_TIMESTAMPS:
        return stream.codec_context.framerate or stream.guessed_rate or stream.average_rate
    return stream.average_rate or stream.guessed_rate


def _start(container: av.container.InputContainer) -> Fraction:
    """When the first stream starts, in seconds, if later than 0 (earlier starts are kept: edit lists)."""
    start = container.start_time
    return Fraction(start, 1_000_000) if start and start > 0 else Fraction(0)


#: Codecs whose every video packet is one shown frame: fewer frames than packets is damage.
ONE_FRAME_PER_PACKET = frozenset({"h264", "hevc", "mpeg2video", "mpeg1video", "mjpeg", "prores", "dnxhd", "ffv1"})
#: Demuxers whose index (``stream.frames``) counts every packet the file must hold.
_EXACT_INDEX = ("mov", "mp4")
#: Damaged positions a report lists by time; the rest are counted.
_SHOWN_POSITIONS = 5


@dataclass
class DamageReport:
    """What decoding met that FFmpeg would warn about, filled in while frames are decoded.

    Discarded packets (``AV_PKT_FLAG_DISCARD``: frames an edit list trims, which FFmpeg
    decodes for reference and never shows), decoder delay, and pictures before the
    stream's first keyframe are not damage: FFmpeg outputs none of them either.
    """

    #: Packets that did not become a frame: decode errors, and for ``ONE_FRAME_PER_PACKET``
    #: codecs, packets after the first keyframe that produced no frame.
    skipped_packets: int = 0
    #: Packets the demuxer flagged corrupt (decoded all the same, as FFmpeg does).
    corrupt_packets: int = 0
    #: Frames the decoder flagged corrupt (concealed errors; kept, as FFmpeg keeps them).
    corrupt_frames: int = 0
    #: Why the file ends early (None: it does not).
    truncated: str | None = None
    #: Packets before the first keyframe (a recording cut mid-GOP); FFmpeg starts at the keyframe too.
    leading_skipped: int = 0
    #: Seconds (from the stream's start) of the first damaged positions.
    positions: list[float] = field(default_factory=list)
    #: What the demuxer said at error level ("File ended prematurely"), first few.
    messages: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return bool(self.skipped_packets or self.corrupt_packets or self.corrupt_frames or self.truncated)

    def add_demuxer_errors(self, messages: list[str], *, strict: bool) -> None:
        """Errors of ``demuxer_errors``: a file cut short is truncated, others are damage."""
        if not messages:
            return
        self.messages.extend(messages[:_SHOWN_POSITIONS])
        ended = [m for m in messages if "prematurely" in m or "truncat" in m or "End of file" in m]
        if ended:
            self.truncated = self.truncated or f"the file ends early (the demuxer: {ended[0]})"
        else:
            self.corrupt_packets += len(messages)
        if strict:
            raise CorruptInputError(
                f"input is corrupt or truncated after 0 decoded frames (the demuxer: {messages[0]})", frames=0
            )

    def note(self, seconds: float | None) -> None:
        if seconds is not None and len(self.positions) < _SHOWN_POSITIONS and seconds not in self.positions:
            self.positions.append(seconds)

    def warnings(self) -> list[str]:
        """One line per kind of problem, for stderr and ``--json``'s ``warnings``."""
        lines = []
        if self.leading_skipped:
            lines.append(
                f"the video starts mid-GOP: {self.leading_skipped} packets before its first keyframe "
                "cannot be decoded and were skipped (as FFmpeg does)"
            )
        parts = []
        if self.skipped_packets:
            parts.append(f"{self.skipped_packets} video packets did not decode and were skipped")
        if self.corrupt_packets:
            parts.append(f"{self.corrupt_packets} packets were marked corrupt by the demuxer")
        if self.corrupt_frames:
            were = "frame was" if self.corrupt_frames == 1 else "frames were"
            parts.append(f"{self.corrupt_frames} {were} decoded with concealed errors")
        if parts:
            at = ", ".join(f"{t:.2f} s" for t in sorted(self.positions))
            more = (
                ", ..."
                if self.skipped_packets + self.corrupt_packets + self.corrupt_frames > len(self.positions)
                else ""
            )
            where = f" (at {at}{more})" if at else ""
            lines.append(f"input is damaged: {'; '.join(parts)}{where}; every other frame kept at its time")
        if self.truncated:
            lines.append(f"input is truncated: {self.truncated}; enhanced what it holds")
        return lines

    def as_dict(self) -> dict[str, object]:
        return {
            "skipped_packets": self.skipped_packets,
            "corrupt_packets": self.corrupt_packets,
            "corrupt_frames": self.corrupt_frames,
            "truncated": self.truncated,
            "leading_skipped": self.leading_skipped,
            "at_seconds": [round(t, 3) for t in sorted(self.positions)],
        }


def demuxer_errors(path: Path) -> list[str]:
    """What the demuxer says at error level reading all of ``path`` ("File ended prematurely").

    A Matroska file cut short ends without any error a caller can catch; only FFmpeg's
    log says so. PyAV's log hook takes the GIL, and a decoder's frame threads that log
    through it while the caller holds the GIL waiting for them deadlock, so the log is
    listened to only here: a demux-only pass, before any decoder or other thread runs,
    with the hook removed again afterwards.
    """
    level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # a second file's "File ended prematurely" is news too
    try:
        with av.logging.Capture() as said, av.open(str(path), metadata_errors="ignore") as container:
            for _ in container.demux():
                pass
    except av.error.FFmpegError as err:
        return [str(getattr(err, "strerror", None) or err)]
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip)
    return [str(text).strip() for lvl, _, text in said if lvl <= av.logging.ERROR]


def has_exact_index(container: av.container.InputContainer) -> bool:
    """Whether the container's index counts every packet (MP4/MOV sample tables)."""
    return any(name in container.format.name.split(",") for name in _EXACT_INDEX)


def iter_frames(
    container: av.container.InputContainer,
    *,
    strict: bool = False,
    report: DamageReport | None = None,
    seeked: bool = False,
) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream, in presentation order, as FFmpeg outputs them.

    By default damage is handled as FFmpeg handles it: a packet that fails to decode is
    skipped, frames the decoder concealed are kept, decoding goes on, and every frame
    keeps its pts; ``report`` (when given) counts what was skipped and where, and whether
    the file ends early. With ``strict`` the first damage raises ``CorruptInputError``
    (with the count decoded so far) instead. Damage is:

    - a packet that fails to decode, or that the demuxer marks corrupt (an MPEG-TS with
      garbage in it, a fragmented MP4 cut mid-fragment), or a frame flagged corrupt;
    - for ``ONE_FRAME_PER_PACKET`` codecs, fewer frames than the packets from the first
      keyframe on (FFmpeg's frame threads drop what they cannot decode without an error);
    - the file ending early: fewer packets than an MP4/MOV index lists (a cut MP4 ends
      without any error). What the demuxer only says in its log ("File ended
      prematurely") is read by ``demuxer_errors`` before decoding starts.

    Not damage: packets flagged discard (an edit list's trimmed frames), and pictures
    shown before the first keyframe (a TS cut mid-GOP, an open GOP's leading pictures).
    ``seeked``: the container was moved to a keyframe part-way (``streamer.trim``), so the
    packets the index lists before it are not missing.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: several times faster decoding
    report = report if report is not None else DamageReport()
    # the sample table: discarded packets too
    promised = stream.frames if has_exact_index(container) and not seeked else 0
    one_each = stream.codec_context.name in ONE_FRAME_PER_PACKET
    origin = stream.start_time if stream.start_time is not None else 0
    time_base = stream.time_base or Fraction(1, 90000)

    def seconds(pts: int | None) -> float | None:
        return None if pts is None else float((pts - origin) * time_base)

    def damage(message: str, pts: int | None) -> None:
        report.note(seconds(pts))
        if strict:
            raise CorruptInputError(
                f"input is corrupt or truncated after {count} decoded frames ({message})", frames=count
            )

    count = packets = expected_count = 0
    keyframe_pts: int | None = None  # pts of the first keyframe; pictures shown before it are leading
    expected: set[int] = set()  # pts of packets that must each become a frame (one_each)
    shown: set[int] = set()
    demuxed = container.demux(stream)
    while True:
        try:
            packet = next(demuxed, None)
        except av.error.FFmpegError as err:
            packet, failure = None, getattr(err, "strerror", None) or str(err)
            report.truncated = report.truncated or f"the demuxer stopped: {failure}"
            damage(failure, None)
        if packet is None:
            break
        if packet.size and not packet.is_discard:
            packets += 1
            if packet.is_keyframe and keyframe_pts is None:
                keyframe_pts = packet.pts if packet.pts is not None else -(2**62)
            if keyframe_pts is None or (packet.pts is not None and packet.pts < keyframe_pts):
                report.leading_skipped += 1
            else:
                expected_count += 1
                if packet.pts is not None:
                    expected.add(packet.pts)
            if packet.is_corrupt:
                report.corrupt_packets += 1
                damage(f"a damaged video packet at {seconds(packet.pts) or 0:.2f} s", packet.pts)
        elif packet.size:
            packets += 1  # discarded: decoded for reference, never shown
        try:
            decoded = packet.decode()
        except av.error.FFmpegError as err:
            if keyframe_pts is None:
                continue  # before the first keyframe: counted as leading
            report.skipped_packets += 1
            damage(getattr(err, "strerror", None) or str(err), packet.pts)
            continue
        for frame in decoded:
            if frame.is_corrupt:
                report.corrupt_frames += 1
                damage(f"a corrupt frame at {seconds(frame.pts) or 0:.2f} s", frame.pts)
            if frame.pts is not None:
                shown.add(frame.pts)
            count += 1
            yield frame
    if promised and packets < promised:
        report.truncated = report.truncated or (
            f"the file ends after {packets} of the {promised} video packets its index lists"
        )
        damage(f"the file ends after {packets} of the {promised} video packets its index lists", None)
    if one_each:
        lost = sorted(expected - shown)
        # packets without a pts (a raw elementary stream) are counted instead
        missing = len(lost) if expected_count == len(expected) else max(0, expected_count - count)
        missing = max(0, missing - report.skipped_packets)  # those that raised are counted already
        if missing:
            for pts in lost:
                report.note(seconds(pts))
            report.skipped_packets += missing
            damage(f"{missing} of its {packets} video packets did not decode", lost[0] if lost else None)
    # the leading pictures a decoder does show (a recovery point) are not skipped
    report.leading_skipped = max(0, report.leading_skipped - len(shown - expected))


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
