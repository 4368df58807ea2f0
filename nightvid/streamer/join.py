"""Join the enhanced pieces of a long video (part files) into one output.

Parts are MP4 files: of the containers FFmpeg writes, MP4/QuickTime alone gave back
every packet's pts and dts exactly (negative first dts included) in the source's time
base, for H.264, HEVC, VP9 and MPEG-4 alike; NUT, Matroska and MPEG-TS drop the first
decode timestamps or shift or round them. The join opens the output exactly as
``enhance`` does (``pipeline.video_output``: the same stream set-up, colour tags,
display matrix and audio carrier) but muxes the parts' packets instead of encoding
frames, and copies the source's audio and subtitles once, interleaved by time. Nothing
is encoded twice and every pts is kept.

Two things are adapted on the way: H.264/HEVC packets, which MP4 stores
length-prefixed, go back to the Annex B form the output's encoder would have produced
(``*_mp4toannexb``, which also repeats the parameter sets at each part's first
keyframe); and a part's first decode timestamps (its encoder starts dts a B-frame delay
before its first pts), which after a variable frame interval can fall at or before the
previous part's last dts, are moved just after it (never past their pts: then the join
fails and the caller enhances the video in one pass).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.pipeline import video_facts, video_output
from nightvid.streamer.segments import SplitError
from nightvid.streamer.target import check_output

__all__ = ["PART_SUFFIX", "join_parts", "unjoinable"]

#: Parts are MP4 files: exact pts and dts in the source's time base.
PART_SUFFIX = ".mp4"
#: Bitstream filters from MP4's length-prefixed packets back to the encoders' Annex B.
_TO_ANNEX_B = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
_NO_TIMESTAMPS = 0x0080  # AVFMT_NOTIMESTAMPS: raw streams


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
    with video_output(dst, facts, encode=encode) as writer:
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
