"""Every stream but the enhanced video, copied into the output when its container can hold it.

Audio, subtitles, data (telemetry, KLV), attachments (fonts, cover art) and further video
streams are read by a second demuxer on the source and muxed unchanged (byte-identical),
interleaved with the video by time so the muxer never buffers a whole track. A stream
the output cannot hold is dropped and said so (``Dropped``, in the ``--json`` summary),
except audio, which is never dropped: that is an error naming a container that holds it.
A QuickTime timecode track (tmcd) is carried as the video's ``timecode`` tag, from which
the MP4/MOV muxer writes a new one and Matroska a tag.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.stream import Discard, Disposition

from nightvid.errors import NightvidError

__all__ = ["Carrier", "Dropped", "copy_tags"]

#: Containers that keep a timecode tag on the video stream.
_TIMECODE_FORMATS = ("mov", "mp4", "matroska", "webm")
#: Subtitle codecs an MPEG-TS reader recognises (text subtitles there are unreadable private data).
_TS_SUBTITLES = {"dvb_subtitle", "dvb_teletext"}
#: Tags each muxer writes itself; copying them would repeat or contradict it.
_OWN_TAGS = {"duration", "encoder", "major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id"}
#: mkvmerge's per-track statistics: wrong once the video is re-encoded.
_STATISTICS_TAGS = {"bps", "number_of_frames", "number_of_bytes"}


@dataclass(frozen=True)
class Dropped:
    """A source stream the output does not get, and why."""

    index: int
    type: str
    codec: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        return f"dropped {self.type} stream {self.index} ({self.codec}): {self.reason}"


def copy_tags(source: dict[str, str], target: dict[str, str], *, skip: tuple[str, ...] = ()) -> None:
    """Copy metadata (language, title, creation time, location) except what muxers write themselves."""
    for key, value in source.items():
        lowered = key.lower()
        if lowered in skip:
            continue
        if lowered not in _OWN_TAGS and lowered not in _STATISTICS_TAGS and not lowered.startswith("_statistics"):
            target[key] = value


def _codec_name(stream: av.stream.Stream) -> str:
    context = stream.codec_context
    if context is not None:
        return context.name
    tag = getattr(stream, "codec_tag", "") or ""
    return stream.metadata.get("filename") or tag or "unknown"


def _is_adts(stream: av.stream.Stream) -> bool:
    """AAC without a global header: ADTS frames, as MPEG-TS carries it."""
    return stream.container.format.name == "mpegts" or not stream.codec_context.extradata


def _is_timecode(stream: av.stream.Stream) -> bool:
    return stream.type == "data" and "timecode" in stream.metadata


def _header_refusal(suffix: str, template: av.stream.Stream) -> str | None:
    """Why the muxer of ``suffix`` files refuses ``template`` when writing its header (None: it accepts)."""
    with tempfile.TemporaryDirectory(prefix="nightvid-probe-") as tmp:
        try:
            with av.open(str(Path(tmp) / f"probe{suffix}"), "w") as probe:
                probe.add_stream_from_template(template)
                probe.start_encoding()
        except (ValueError, av.error.FFmpegError) as err:
            return getattr(err, "strerror", None) or str(err)
    return None


def _refusal(output: av.container.OutputContainer, stream: av.stream.Stream) -> str | None:
    """Why ``output`` cannot hold a copy of ``stream`` (None: as far as rules and a header tell)."""
    fmt = output.format.name
    suffix = Path(output.name).suffix
    if stream.type == "audio" and fmt == "avi" and _codec_name(stream) == "aac" and _is_adts(stream):
        raise NightvidError(
            "AAC audio from an MPEG-TS (ADTS) cannot be stored in a .avi file; choose .mkv or .mp4 for the output"
        )
    if stream.type == "attachment" and fmt not in ("matroska", "webm"):
        return f"a {suffix} file cannot hold attachments; a .mkv can"
    if stream.type == "data" and fmt in ("avi", "matroska", "webm"):
        return f"a {suffix} file cannot hold data streams; a .mov or .ts can"
    if stream.type == "subtitle" and fmt == "mpegts" and _codec_name(stream) not in _TS_SUBTITLES:
        return "a .ts file holds only DVB subtitles; a .mkv holds text subtitles"
    if stream.type in ("data", "attachment"):
        refused = _header_refusal(suffix, stream)
        return f"the {fmt} muxer refuses it ({refused})" if refused else None
    return None


def _cannot_hold(suffix: str, codec: str, kind: str) -> str:
    """The reason, with the container that would hold a text subtitle."""
    hint = {
        "mov_text": "; a .mp4 or .mov can",
        "subrip": "; a .mkv can",
        "srt": "; a .mkv can",
        "ass": "; a .mkv can",
    }.get(codec, "")
    if kind == "subtitle" and not hint:
        hint = "; a .mkv holds most subtitle formats"
    return f"a {suffix} file cannot hold {codec} {kind} streams{hint}"


class Carrier:
    """Copies the source's other streams into ``output`` and muxes their packets by time.

    ``start``: seconds subtracted from every carried timestamp, as from the video's.
    ``dropped``/``notes`` say what was not carried and what was carried specially.
    """

    def __init__(
        self,
        src: Path,
        indices: tuple[int, ...],
        output: av.container.OutputContainer,
        video: av.video.stream.VideoStream,
        *,
        start: Fraction = Fraction(0),
    ) -> None:
        self._input = av.open(str(src), metadata_errors="ignore") if indices else None
        self._map: dict[int, av.stream.Stream] = {}
        self._pending: av.Packet | None = None
        self._packets: Iterator[av.Packet] = iter(())
        self._start = start
        self.dropped: list[Dropped] = []
        self.notes: list[str] = []
        if self._input is None:
            return
        try:
            for index in indices:
                self._add(self._input.streams[index], output, video)
        except BaseException:
            self._input.close()
            raise
        sources = [self._input.streams[i] for i in self._map if self._input.streams[i].type != "attachment"]
        if sources:
            self._packets = self._input.demux(*sources)

    def _add(
        self, stream: av.stream.Stream, output: av.container.OutputContainer, video: av.video.stream.VideoStream
    ) -> None:
        """Copy ``stream`` into ``output``, or note why not; audio that cannot be copied is an error."""
        name = _codec_name(stream)
        if stream.discard == Discard.all:  # a QuickTime chapter track: the writer copies the chapters
            return
        if _is_timecode(stream):
            self._timecode(stream, output, video)
            return
        reason = _refusal(output, stream)
        if reason is None:
            # PyAV's list of a format's codecs is incomplete (MPEG-TS lists no AAC, which it
            # holds), so ask the muxer by adding the stream: it refuses what it cannot hold.
            try:
                copy = output.add_stream_from_template(stream)
            except ValueError:
                reason = _cannot_hold(Path(output.name).suffix, name, stream.type)
        if reason is not None:
            if stream.type == "audio":
                raise NightvidError(
                    f"audio codec {name} cannot be stored in a .{output.format.name.split(',')[0]} "
                    "file; choose another extension for the output (e.g. .mkv)"
                )
            self.dropped.append(Dropped(stream.index, stream.type, name, reason))
            return
        copy_tags(stream.metadata, copy.metadata)
        copy.disposition = stream.disposition
        self._map[stream.index] = copy
        if stream.type == "video" and not stream.disposition & Disposition.attached_pic:
            self.notes.append(
                f"video stream {stream.index} ({name}) copied as it is, not enhanced: "
                "nightvid enhances the first video stream only"
            )

    def _timecode(
        self, stream: av.stream.Stream, output: av.container.OutputContainer, video: av.video.stream.VideoStream
    ) -> None:
        value = stream.metadata["timecode"]
        if output.format.name.split(",")[0] in _TIMECODE_FORMATS:
            video.metadata["timecode"] = value
            return
        reason = f"a {Path(output.name).suffix} file keeps no timecode ({value}); a .mov, .mp4 or .mkv does"
        self.dropped.append(Dropped(stream.index, "data", "tmcd", reason))

    def mux_until(self, output: av.container.OutputContainer, seconds: float | None) -> None:
        """Mux carried packets that start before ``seconds`` (all of them when None)."""
        while True:
            packet = self._pending or self._next()
            self._pending = None
            if packet is None:
                return
            start = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and start is not None and float(start * packet.time_base) > seconds:
                self._pending = packet
                return
            packet.stream = self._map[packet.stream.index]
            output.mux(packet)

    def _next(self) -> av.Packet | None:
        """The next carried packet with data, its timestamps moved back by the input's start time."""
        for packet in self._packets:
            if packet.size == 0:  # demuxer's flush packet, not data
                continue
            if self._start:
                ticks = round(self._start / packet.time_base)
                if packet.pts is not None:
                    packet.pts -= ticks
                if packet.dts is not None:
                    packet.dts -= ticks
            return packet
        return None

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
