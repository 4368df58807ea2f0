"""Enhance one piece of a long video into a part file, and join the parts into the output.

Each piece is decoded from its keyframe (``chunks.span_frames``), run through the same
staged pipeline as ``enhance`` and encoded, video only, with the encoding of the final
output, into an MP4 part: of the containers FFmpeg writes, MP4/QuickTime alone gave
back every packet's pts and dts exactly (negative first dts included) in the source's
time base, for H.264, HEVC, VP9 and MPEG-4 alike; NUT, Matroska and MPEG-TS drop the
first decode timestamps or shift or round them. The join then opens the output exactly as ``enhance`` does (a
``VideoWriter``: the same stream set-up, colour tags, display matrix and audio carrier)
but muxes the parts' packets instead of encoding frames, and copies the source's audio
and subtitles once, interleaved by time. Nothing is encoded twice and every pts is kept.

Two things are adapted on the way: H.264/HEVC packets, which MP4 stores
length-prefixed, go back to the Annex B form the output's encoder would have produced
(``*_mp4toannexb``, which also repeats the parameter sets at each part's first
keyframe); and a part's first decode timestamps (its encoder starts dts a B-frame delay
before its first pts), which after a variable frame interval can fall at or before the
previous part's last dts, are moved just after it (never past their pts: then the join
fails and the caller enhances the video in one pass).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

from nightvid.engines.base import Engine
from nightvid.errors import NightvidError
from nightvid.jobs.chunks import Span, SplitError, span_with_context
from nightvid.streamer.colour import ColourTags, tags_for
from nightvid.streamer.decode import CorruptInputError, VideoInfo, display_matrix, iter_frames, open_input
from nightvid.streamer.encode import VideoWriter
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.pipeline import ProgressCallback, run_stages
from nightvid.streamer.target import check_output, temporary_output
from nightvid.streamer.tiling import tiled_engine

__all__ = ["PART_SUFFIX", "VideoFacts", "enhance_span", "join_parts", "unjoinable", "video_facts"]

#: Parts are MP4 files: exact pts and dts in the source's time base.
PART_SUFFIX = ".mp4"
#: Bitstream filters from MP4's length-prefixed packets back to the encoders' Annex B.
_TO_ANNEX_B = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
_NO_TIMESTAMPS = 0x0080  # AVFMT_NOTIMESTAMPS: raw streams


@dataclasses.dataclass(frozen=True)
class VideoFacts:
    """What every piece of a video is encoded with, taken from its first frame (as ``enhance`` does)."""

    info: VideoInfo
    colour: ColourTags
    matrix: tuple[int, ...] | None


def video_facts(src: Path) -> VideoFacts:
    """The stream description, frame size, colour tags and display matrix of ``src``'s first frame."""
    container, info = open_input(src)
    with container:
        try:
            first = next(iter_frames(container), None)
        except CorruptInputError as err:
            raise NightvidError(f"{src}: no frame could be decoded ({err})") from None
        if first is None:
            raise NightvidError(f"{src}: the video stream holds no decodable frame")
        info = dataclasses.replace(info, width=first.width, height=first.height)
        return VideoFacts(info, tags_for(first), display_matrix(first))


def enhance_span(
    src: Path,
    span: Span,
    part: Path,
    engine: Engine,
    *,
    encode: EncodeOptions,
    batch: int = 1,
    tile: int | str | None = "auto",
    temporal: int = 0,
    neighbours: tuple[Span | None, Span | None] = (None, None),
    on_progress: ProgressCallback | None = None,
) -> int:
    """Enhance the frames of ``span`` into the part file ``part`` (written atomically); frames written.

    ``encode`` must be resolved (``check_encoding`` against the final output): the
    part is encoded exactly as the output would be. ``temporal`` (the filter's radius)
    reads that many frames of the ``neighbours`` (the spans before and after) as the
    filter's context, so each frame is fused as in a single pass and the joins do not show.
    """
    if encode.codec == "auto":
        raise NightvidError("internal error: a part needs the codec resolved for the final output")
    facts = video_facts(src)
    info = dataclasses.replace(facts.info, carried=())
    size = (info.width, info.height)
    engine = tiled_engine(engine, info.height, info.width, tile=tile)
    with temporary_output(part) as tmp:
        writer = VideoWriter(tmp, info, colour=facts.colour, options=encode, display_matrix=facts.matrix)
        try:
            frames, context = span_with_context(src, span, *neighbours, temporal)
            done, _ = run_stages(
                frames,
                writer,
                engine,
                facts.colour,
                size=size,
                batch=batch,
                keep_partial=False,
                stabiliser=None,
                total=None,
                on_progress=on_progress,
                temporal=temporal,
                context=context,
            )
            writer.close()
        except BaseException:
            writer.abort()
            raise
    return done


def unjoinable(suffix: str) -> str | None:
    """Why outputs with this extension cannot be made from parts (None: they can).

    AVI keeps no presentation timestamps (a frame's place in the file is its time, and
    B-frames make the read-back order depend on where the keyframes fall), nor do raw
    streams: the same frames joined from parts would not read back with the pts of a
    single pass.
    """
    with tempfile.TemporaryDirectory(prefix="nightvid-probe-") as tmp:
        try:
            with av.open(str(Path(tmp) / f"probe{suffix}"), "w") as probe:
                name, flags = probe.format.name, probe.format.flags
        except (ValueError, av.error.FFmpegError):
            return f"{suffix or 'files without an extension'} cannot be written"
    if name == "avi" or flags & _NO_TIMESTAMPS:
        return f"a {suffix} file keeps no presentation timestamps, so pieces cannot be joined exactly"
    return None


def join_parts(src: Path, parts: list[Path], dst: Path, *, encode: EncodeOptions, overwrite: bool = False) -> int:
    """Mux the parts' video packets, in order, with ``src``'s audio and subtitles into ``dst``; frames joined.

    ``dst`` appears only when the whole join succeeded (written beside it, renamed).
    Raises ``SplitError`` when a part's timestamps cannot be placed in the output
    without changing a pts.
    """
    check_output(src, dst, overwrite=overwrite)
    facts = video_facts(src)
    frames = 0
    with temporary_output(dst) as tmp:
        writer = VideoWriter(tmp, facts.info, colour=facts.colour, options=encode, display_matrix=facts.matrix)
        try:
            time_base = writer.time_base
            last_dts: int | None = None
            for part in parts:
                with av.open(str(part)) as container:
                    for packet in _part_packets(container):
                        last_dts = _retime(packet, time_base, last_dts)
                        packet.stream = writer.video
                        writer.container.mux(packet)
                        frames += 1
                        writer.carrier.mux_until(writer.container, float(last_dts * time_base))
            writer.close()
        except BaseException:
            writer.abort()
            raise
    return frames


def _part_packets(container: av.container.InputContainer) -> Iterator[av.Packet]:
    """The video packets of a part in decode order, as the encoder made them (Annex B for H.264/HEVC)."""
    stream = container.streams.video[0]
    name = _TO_ANNEX_B.get(stream.codec_context.name)
    bsf = BitStreamFilterContext(name, in_stream=stream) if name else None
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if bsf is None:
            yield packet
            continue
        time_base = packet.time_base
        for out in bsf.filter(packet):
            out.time_base = time_base
            yield out
    if bsf is not None:
        yield from bsf.filter(None)


def _retime(packet: av.Packet, time_base: Fraction, last_dts: int | None) -> int:
    """Put ``packet``'s timestamps in ``time_base``, its dts after ``last_dts``; the new dts."""
    if packet.pts is None:
        raise SplitError("a part holds a packet without a pts")
    scale = Fraction(packet.time_base) / time_base
    pts = packet.pts * scale
    dts = packet.dts * scale if packet.dts is not None else pts
    if pts.denominator != 1 or dts.denominator != 1:
        raise SplitError("a part's timestamps do not fit the source's time base")
    new_dts = int(dts)
    if last_dts is not None and new_dts <= last_dts:
        new_dts = last_dts + 1
        if new_dts > pts:
            raise SplitError("two parts' decode timestamps overlap at a join")
    packet.pts, packet.dts, packet.time_base = int(pts), new_dts, time_base
    return new_dts
