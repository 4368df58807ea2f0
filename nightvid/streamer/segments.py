"""Where a long video can be cut into pieces enhanced apart, and how to read one piece of it.

A piece (``Span``) starts at a keyframe from which the decoder needs nothing earlier
and ends just before the next piece's keyframe, in decode order. Cutting there changes
no frame: every packet goes to exactly one piece, and a piece decodes to exactly the
frames (and pts) that a single pass over the whole file gives for those packets.

A keyframe is a safe cut only when, judged from the packets' timestamps alone, no
frame on either side needs the other: every packet before it in decode order is shown
before it, every packet from it on is shown at or after it (open GOPs, whose leading
B-frames come after the keyframe but are shown before it, fail this), and, for H.264,
whose non-IDR I-frames let later frames reference earlier ones, it is an IDR picture.
``span_frames`` checks the result as well: the frames a piece decodes to must have
exactly its packets' pts, or it raises ``SplitError`` and the caller enhances the
video in one piece instead.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from nightvid.errors import NightvidError
from nightvid.streamer.decode import CorruptInputError, open_input

__all__ = ["Cut", "Span", "SplitError", "h264_nal_types", "plan_spans", "span_frames", "span_with_context"]


class SplitError(NightvidError):
    """The video cannot be cut here without changing its frames; enhance it in one piece."""


@dataclass(frozen=True)
class Cut:
    """A keyframe packet, named by its timestamps (unique in decode order)."""

    pts: int
    dts: int | None


@dataclass(frozen=True)
class Span:
    """Video packets from keyframe ``start`` (None: the first packet) up to, not including,
    keyframe ``stop`` (None: the end), in decode order."""

    index: int
    start: Cut | None
    stop: Cut | None
    #: Shown duration in seconds, for progress and logs.
    seconds: float


@dataclass
class _Packet:
    pts: int
    dts: int | None
    #: A keyframe decoding may start at (``_clean_start``).
    clean: bool


def plan_spans(src: Path, seconds: float) -> list[Span]:
    """Cut ``src`` into spans of at least ``seconds`` at safe keyframes (one span if none).

    Reads every video packet's header (no decoding). A last piece shorter than half of
    ``seconds`` is merged into the one before it. Raises NightvidError if ``src`` cannot be
    read; a damaged packet or a packet without pts means one span (the single-pass
    pipeline then applies its own rules for damage).
    """
    if seconds <= 0:
        raise NightvidError(f"--chunk-seconds must be above 0, got {seconds}")
    container, _ = open_input(src)
    try:
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90000)
        codec = stream.codec_context.name
        extradata = bytes(stream.codec_context.extradata or b"")
        packets: list[_Packet] = []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.is_corrupt or packet.pts is None:
                return [_whole(packets, time_base)]
            clean = packet.is_keyframe and _clean_start(codec, extradata, bytes(packet) if codec == "h264" else b"")
            packets.append(_Packet(packet.pts, packet.dts, bool(clean)))
    except av.error.FFmpegError:
        return [Span(0, None, None, 0.0)]
    finally:
        container.close()
    return _cut(packets, time_base, seconds)


def _whole(packets: list[_Packet], time_base: Fraction) -> Span:
    shown = [p.pts for p in packets]
    return Span(0, None, None, float((max(shown) - min(shown)) * time_base) if shown else 0.0)


def _cut(packets: list[_Packet], time_base: Fraction, seconds: float) -> list[Span]:
    """Greedy cuts: the first safe keyframe at least ``seconds`` after the previous cut."""
    if not packets:
        return [Span(0, None, None, 0.0)]
    shown = [p.pts for p in packets]
    # before[i]: the latest pts among packets 0..i-1; after[i]: the earliest among i..end.
    before = [shown[0]] * len(shown)
    for i in range(1, len(shown)):
        before[i] = max(before[i - 1], shown[i - 1])
    after = list(shown)
    for i in range(len(shown) - 2, -1, -1):
        after[i] = min(after[i + 1], shown[i])
    step = seconds / time_base
    cuts: list[int] = []
    last_start = min(shown)
    for i, packet in enumerate(packets):
        if i == 0 or not packet.clean:
            continue
        here = shown[i]
        if before[i] < here <= after[i] and here - last_start >= step:
            cuts.append(i)
            last_start = here
    end = max(shown)
    if cuts and end - shown[cuts[-1]] < step / 2:
        cuts.pop()  # a short tail goes with the piece before it
    edges: list[int | None] = [None, *cuts, None]
    spans = []
    for index, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        first = min(shown) if a is None else shown[a]
        last = end if b is None else shown[b]
        spans.append(
            Span(
                index,
                None if a is None else Cut(shown[a], packets[a].dts),
                None if b is None else Cut(shown[b], packets[b].dts),
                float((last - first) * time_base),
            )
        )
    return spans


def _clean_start(codec: str, extradata: bytes, data: bytes) -> bool:
    """Whether decoding may start at this keyframe with nothing before it.

    H.264 keyframes are trusted only when they hold an IDR slice (NAL type 5): a non-IDR
    I-frame lets later frames reference frames before it. Other codecs' keyframes reset
    the references (VP9/AV1 key frames, HEVC IRAP pictures, MPEG-2/4 I-frames); their
    leading pictures, if any, are caught by the timestamp rule.
    """
    if codec != "h264":
        return True
    return 5 in h264_nal_types(extradata, data)


def h264_nal_types(extradata: bytes, data: bytes) -> set[int]:
    """NAL unit types in an H.264 packet, length-prefixed (MP4/MKV: avcC extradata) or Annex B."""
    types: set[int] = set()
    if extradata[:1] == b"\x01" and len(extradata) > 4:
        size = (extradata[4] & 3) + 1
        at = 0
        while at + size < len(data):
            length = int.from_bytes(data[at : at + size], "big")
            types.add(data[at + size] & 0x1F)
            at += size + length
        return types
    at = 0
    while (at := data.find(b"\x00\x00\x01", at)) >= 0 and at + 3 < len(data):
        types.add(data[at + 3] & 0x1F)
        at += 3
    return types


def span_frames(src: Path, span: Span) -> Iterator[av.VideoFrame]:
    """The decoded frames of ``span`` of the video ``src``, in presentation order.

    Decodes the span's packets from its keyframe and flushes the decoder at its end.
    Raises ``CorruptInputError`` on damage (as ``decode.iter_frames`` does) and
    ``SplitError`` when the frames do not carry exactly the span's packets' pts.
    """
    wanted: list[int] = []
    shown: list[int] = []
    container, packets = _open_at(src, span)
    with container:
        decoder = container.streams.video[0].codec_context
        try:
            for packet in packets:
                if packet.is_corrupt:
                    raise CorruptInputError(
                        f"input is corrupt after {len(shown)} decoded frames of part {span.index + 1}",
                        frames=len(shown),
                    )
                if not packet.is_discard:  # an edit list's trimmed frame: decoded, never shown
                    wanted.append(_pts(packet.pts, span))
                for frame in decoder.decode(packet):
                    shown.append(_pts(frame.pts, span))
                    yield frame
            for frame in decoder.decode(None):
                shown.append(_pts(frame.pts, span))
                yield frame
        except av.error.FFmpegError as err:
            reason = getattr(err, "strerror", None) or str(err)
            raise CorruptInputError(
                f"input is corrupt in part {span.index + 1} ({reason})", frames=len(shown)
            ) from None
    if sorted(wanted) != sorted(shown):
        raise SplitError(
            f"part {span.index + 1} decoded to {len(shown)} frames for its {len(wanted)} packets; "
            "the video cannot be cut at its keyframes"
        )


def span_with_context(
    src: Path, span: Span, before: Span | None, after: Span | None, counts: tuple[int, int]
) -> tuple[Iterator[av.VideoFrame], frozenset[int]]:
    """The frames of ``span`` with up to ``counts`` (before, after) frames of the
    neighbouring spans around them, and the pts of those neighbours' frames (context for
    the temporal filter, which a single pass gives each frame, never written by this part;
    ``streamer.temporal.context_frames``).

    The previous span is decoded whole for its last frames (a piece starts at a keyframe);
    the next one only until its first ``count`` frames are out.
    """
    lead_count, tail_count = counts
    lead: list[av.VideoFrame] = []
    if before is not None and lead_count > 0:
        lead = list(collections.deque(span_frames(src, before), maxlen=lead_count))
    tail: Iterator[av.VideoFrame] = iter(())
    if after is not None and tail_count > 0:
        tail = itertools.islice(span_frames(src, after), tail_count)
    context = frozenset(_pts(frame.pts, before) for frame in lead if before is not None)
    tail_frames = list(tail)
    context |= frozenset(_pts(frame.pts, after) for frame in tail_frames if after is not None)
    return itertools.chain(lead, span_frames(src, span), tail_frames), context


def _pts(pts: int | None, span: Span) -> int:
    if pts is None:
        raise SplitError(f"part {span.index + 1} has a packet or frame without a pts")
    return pts


def _open_at(src: Path, span: Span) -> tuple[av.container.InputContainer, Iterator[av.Packet]]:
    """An open container of ``src`` and the span's non-empty video packets in decode order.

    Seeks to the span's keyframe; if the seek fails or lands past it (seeking in MPEG-TS
    is inexact), reads from the beginning of a fresh container instead.
    """
    container, _ = open_input(src)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # as decode.iter_frames: frame threads, the same frames
    if span.start is None:
        return container, _between(container.demux(stream), span)
    target = span.start.dts if span.start.dts is not None else span.start.pts
    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
        packets = (p for p in container.demux(stream) if p.size)
        first = next(packets, None)
    except av.error.FFmpegError:
        first = None
    if first is not None and _at_or_before(first, span.start):
        return container, _between(itertools.chain([first], packets), span)
    container.close()
    container, _ = open_input(src)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, _between(container.demux(stream), span)


def _between(packets: Iterable[av.Packet], span: Span) -> Iterator[av.Packet]:
    """From ``span.start`` (inclusive) to ``span.stop`` (exclusive); empty flush packets dropped."""
    started = span.start is None
    for packet in packets:
        if packet.size == 0:
            continue
        if not started:
            assert span.start is not None
            started = _is(packet, span.start)
            if not started:
                continue
        if span.stop is not None and _is(packet, span.stop):
            return
        yield packet
    if not started:
        raise SplitError(f"part {span.index + 1}: its keyframe was not found again in the file")


def _is(packet: av.Packet, cut: Cut) -> bool:
    return packet.pts == cut.pts and packet.dts == cut.dts


def _at_or_before(packet: av.Packet, cut: Cut) -> bool:
    """Whether ``packet`` comes no later than ``cut`` in decode order."""
    if packet.dts is not None and cut.dts is not None:
        return packet.dts <= cut.dts
    return packet.pts is not None and packet.pts <= cut.pts
