"""Every stream but the enhanced video, copied into the output when its container can hold it.

Audio, subtitles, data (telemetry, KLV), attachments (fonts, cover art) and further video
streams are read by a second demuxer on the source and muxed unchanged (byte-identical),
interleaved with the video by time so the muxer never buffers a whole track. A stream
the output cannot hold is dropped and said so (``Dropped``, in the ``--json`` summary),
except audio, which is never dropped: that is an error naming a container that holds it
and an ``--audio-codec`` that would work. Whether the output holds each audio codec is
decided before anything is decoded (``audio_plan``): by the muxer's own answer, a probe
file the stream's first packet is muxed into, and a table of pairs the muxer accepts but
writes unreadable (Vorbis in MPEG-TS) or aborts on (PCM in FLV). With ``--audio-codec``
the audio is decoded, resampled and encoded instead, each stream from its source time.
A QuickTime timecode track (tmcd) is carried as the video's ``timecode`` tag, from which
the MP4/MOV muxer writes a new one and Matroska a tag.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from av.stream import Discard, Disposition

from nightvid.errors import NightvidError
from nightvid.streamer.encode_options import AUDIO_ENCODERS
from nightvid.streamer.trim import Trim

__all__ = ["AudioPlan", "Carrier", "Dropped", "audio_plan", "copy_tags", "probe_write"]

#: Containers that keep a timecode tag on the video stream.
_TIMECODE_FORMATS = ("mov", "mp4", "matroska", "webm")
#: Subtitle codecs an MPEG-TS reader recognises (text subtitles there are unreadable private data).
_TS_SUBTITLES = {"dvb_subtitle", "dvb_teletext"}
#: Tags each muxer writes itself; copying them would repeat or contradict it.
_OWN_TAGS = {"duration", "encoder", "major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id"}
#: mkvmerge's per-track statistics: wrong once the video is re-encoded.
_STATISTICS_TAGS = {"bps", "number_of_frames", "number_of_bytes"}
#: The audio codecs of muxers that accept more than they can hold: an MPEG-TS writes Vorbis,
#: FLAC or PCM as private data no reader plays as audio; FLV aborts the process on copied
#: PCM and writes Opus, AC-3 and FLAC only as "enhanced FLV", which FFmpeg before 6.1 and
#: most players read as an unknown codec. MXF holds PCM at 48 kHz.
_AUDIO_HELD: dict[str, tuple[frozenset[str], frozenset[int]]] = {
    "mpegts": (
        frozenset({"mp1", "mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m"}),
        frozenset(),
    ),
    "flv": (frozenset({"aac", "mp3"}), frozenset()),
    "mxf": (frozenset({"pcm_s16le", "pcm_s24le"}), frozenset({48000})),
}
#: Muxers that cannot finish a file of audio alone (MXF wants its video): the table decides.
_TABLE_ONLY = ("mxf",)
#: Containers named, in this order, for audio the output cannot hold.
_AUDIO_CONTAINERS = (".mp4", ".mkv", ".mov", ".avi", ".ts")
#: Channel layouts by count, for sources whose layout has no order ("6 channels").
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


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


@dataclass(frozen=True)
class AudioPlan:
    """How one audio stream goes into the output: copied (``encoder`` None), encoded with
    ``encoder`` at ``rate`` Hz in ``layout``, or left out (``drop``: ``--audio-codec none``)."""

    encoder: str | None = None
    rate: int = 0
    layout: str = ""
    drop: bool = False


@functools.lru_cache(maxsize=64)
def _format_of(suffix: str) -> tuple[str, bool]:
    """(the muxer of ``suffix`` files, whether it holds audio at all)."""
    with tempfile.TemporaryDirectory(prefix="nightvid-probe-") as tmp:
        try:
            with av.open(str(Path(tmp) / f"probe{suffix}"), "w") as probe:
                return probe.format.name, probe.default_audio_codec != "none"
        except (ValueError, av.error.FFmpegError) as err:
            raise NightvidError(f"cannot write {suffix or 'files without an extension'} files: {err}") from None


def probe_write(suffix: str, add: Callable[[av.container.OutputContainer], list[av.Packet]]) -> str | None:
    """Why a ``suffix`` file with the stream(s) ``add`` puts in it cannot be written (None: it can).

    ``add`` adds streams and returns packets to mux; the header, the packets and the
    trailer are written to a file in a temporary folder, and what the muxer said is
    collected (kept off the console) for the reason.
    """
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as said, tempfile.TemporaryDirectory(prefix="nightvid-probe-") as tmp:
            try:
                with av.open(str(Path(tmp) / f"probe{suffix}"), "w") as probe:
                    packets = add(probe)
                    probe.start_encoding()  # the header, even with no packet
                    for packet in packets:
                        probe.mux(packet)
            except (ValueError, av.error.FFmpegError) as err:
                messages = [str(text).strip() for lvl, _, text in said if lvl <= av.logging.ERROR]
                return messages[0] if messages else (getattr(err, "strerror", None) or str(err))
    finally:
        av.logging.set_level(level)
    return None


def _first_packet(stream: av.stream.Stream) -> av.Packet | None:
    """A copy of ``stream``'s first packet with data (read by a demuxer of its own)."""
    with av.open(stream.container.name, metadata_errors="ignore") as source:
        for packet in source.demux(source.streams[stream.index]):
            if packet.size:
                copy = av.Packet(bytes(packet))
                copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
                copy.is_keyframe = packet.is_keyframe
                return copy
    return None


def _copy_refusal(suffix: str, stream: av.audio.AudioStream) -> str | None:
    """Why a ``suffix`` file cannot hold a copy of the audio ``stream`` (None: it can)."""
    fmt, holds_audio = _format_of(suffix.lower())
    name = _codec_name(stream)
    if not holds_audio:
        return f"a {suffix} file holds no audio"
    if fmt == "avi" and name == "aac" and _is_adts(stream):
        return "the AVI muxer stores ADTS AAC unreadable"
    reason = _held(suffix, fmt, name, [stream.codec_context.sample_rate])
    if reason is not None or fmt in _TABLE_ONLY:
        return reason
    first = _first_packet(stream)

    def add(probe: av.container.OutputContainer) -> list[av.Packet]:
        copy = probe.add_stream_from_template(stream)
        if first is None:
            return []
        first.stream = copy
        return [first]

    return probe_write(suffix, add)


def _held(suffix: str, fmt: str, codec: str, rates: list[int]) -> str | None:
    """Why ``_AUDIO_HELD`` says a ``fmt`` file cannot hold ``codec`` at any of ``rates`` (None: it can)."""
    if fmt not in _AUDIO_HELD:
        return None
    codecs, rates_held = _AUDIO_HELD[fmt]
    if codec not in codecs:
        return f"a {suffix} file holds only {', '.join(sorted(codecs))} audio"
    if rates_held and not rates_held.intersection(rates):
        return f"a {suffix} file holds audio at {' or '.join(map(str, sorted(rates_held)))} Hz only"
    return None


def _layout(stream: av.audio.AudioStream) -> str:
    layout = stream.codec_context.layout
    if not layout.name.endswith("channels"):
        return layout.name
    return _LAYOUTS.get(layout.nb_channels, "stereo")


def _encoding(suffix: str, stream: av.audio.AudioStream, encoder: str) -> tuple[AudioPlan | None, str]:
    """(how ``stream`` is encoded with ``encoder`` into a ``suffix`` file, or None; why not)."""
    codec = av.Codec(encoder, "w")
    fmt, holds_audio = _format_of(suffix.lower())
    if not holds_audio:
        return None, f"a {suffix} file holds no audio"
    source = stream.codec_context.sample_rate or 48000
    rates = list(codec.audio_rates or [])
    fitting = source if not rates or source in rates else min((r for r in rates if r > source), default=max(rates))
    tried = [r for r in dict.fromkeys((fitting, 48000, 44100)) if not rates or r in rates]
    refused = _held(suffix, fmt, codec.canonical_name, tried)
    if refused is not None:
        return None, refused
    reason = ""
    if fmt in _TABLE_ONLY:
        rate = next(r for r in tried if _held(suffix, fmt, codec.canonical_name, [r]) is None)
        return AudioPlan(encoder=encoder, rate=rate, layout=_layout(stream)), ""
    for layout in dict.fromkeys((_layout(stream), "stereo")):
        for rate in tried:

            def add(probe: av.container.OutputContainer, rate: int = rate, layout: str = layout) -> list[av.Packet]:
                out = cast(av.audio.AudioStream, probe.add_stream(encoder, rate=rate))
                out.codec_context.layout = layout
                return []

            reason = probe_write(suffix, add) or ""
            if not reason:
                return AudioPlan(encoder=encoder, rate=rate, layout=layout), ""
    return None, reason


def _suggestions(suffix: str, stream: av.audio.AudioStream) -> str:
    """``use .mp4 or .mkv, or --audio-codec aac``: what would hold ``stream``."""
    fmt = _format_of(suffix.lower())[0]
    others = [c for c in _AUDIO_CONTAINERS if _format_of(c)[0] != fmt]
    where = [c for c in others if _copy_refusal(c, stream) is None][:2]
    encoder = next((e for e in AUDIO_ENCODERS if _has_encoder(e) and _encoding(suffix, stream, e)[0] is not None), None)
    parts = [f"use {' or '.join(where)}"] if where else []
    if encoder is not None:
        parts.append(f"--audio-codec {encoder}")
    elif _format_of(suffix.lower())[1] is False:
        parts.append("--audio-codec none to leave the audio out")
    return ", or ".join(parts) if parts else "no container tried holds it"


def _has_encoder(name: str) -> bool:
    try:
        return av.Codec(name, "w").type == "audio"
    except (av.error.FFmpegError, ValueError):
        return False


def audio_plan(suffix: str, stream: av.audio.AudioStream, audio_codec: str = "copy") -> AudioPlan:
    """How the audio ``stream`` goes into a ``suffix`` file (``--audio-codec``: copy, none
    or an encoder); a NightvidError, one line, when it cannot, naming what would work."""
    name = _codec_name(stream)
    if audio_codec == "none":
        return AudioPlan(drop=True)
    if audio_codec == "copy":
        reason = _copy_refusal(suffix, stream)
        if reason is None:
            return AudioPlan()
        if "ADTS" in reason:
            raise NightvidError(
                f"AAC audio from an MPEG-TS (ADTS) cannot be stored in a {suffix} file; {_suggestions(suffix, stream)}"
            )
        raise NightvidError(f"audio codec {name} cannot be stored in a {suffix} file; {_suggestions(suffix, stream)}")
    if not _has_encoder(audio_codec):
        raise NightvidError(
            f"--audio-codec {audio_codec} is not an audio encoder; give copy, none or one of "
            f"{', '.join(e for e in AUDIO_ENCODERS if _has_encoder(e))}"
        )
    plan, reason = _encoding(suffix, stream, audio_codec)
    if plan is None:
        alternative = next(
            (e for e in AUDIO_ENCODERS if e != audio_codec and _has_encoder(e) and _encoding(suffix, stream, e)[0]),
            None,
        )
        hint = f"; --audio-codec {alternative} works" if alternative else ""
        raise NightvidError(f"--audio-codec {audio_codec}: a {suffix} file cannot hold it ({reason}){hint}")
    return plan


class _AudioEncoder:
    """Decodes one carried audio stream and encodes it as its ``AudioPlan`` says.

    The first sample keeps its source time (less the input's start, as for every carried
    packet); the rest follow it sample for sample, as FFmpeg times re-encoded audio.
    Packets that do not decode are skipped and counted.
    """

    def __init__(self, source: av.audio.AudioStream, target: av.audio.AudioStream) -> None:
        self._source, self._target = source, target
        self._resampler: av.AudioResampler | None = None
        self._next: int | None = None
        self.skipped = 0

    def encode(self, packet: av.Packet | None) -> list[av.Packet]:
        """The target's packets made from ``packet`` (None: flush the rest)."""
        context = self._target.codec_context
        if self._resampler is None:  # the encoder is open now: its frame size is known
            self._resampler = av.AudioResampler(
                format=context.format,
                layout=context.layout,
                rate=context.sample_rate,
                frame_size=context.frame_size or None,
            )
        frames: list[av.AudioFrame] = []
        if packet is None:
            frames = [None]  # type: ignore[list-item]
        else:
            try:
                frames = list(self._source.codec_context.decode(packet))
            except av.error.FFmpegError:
                self.skipped += 1
        out: list[av.Packet] = []
        for frame in frames:
            if frame is not None and self._next is None and frame.pts is not None and frame.time_base:
                self._next = round(frame.pts * frame.time_base * context.sample_rate)
            for resampled in self._resampler.resample(frame):
                if self._next is None:
                    self._next = 0
                resampled.pts = self._next
                resampled.time_base = Fraction(1, context.sample_rate)
                self._next += resampled.samples
                out.extend(self._target.encode(resampled))
        if packet is None:
            out.extend(self._target.encode(None))
        return out


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
    ``trim``: only the packets that start in the span are carried (from ``start``, the
    span's start, for ``trim.duration``); cover art is carried as it is.
    ``audio_codec``: ``copy``, ``none`` or the encoder of every audio stream (``audio_plan``).
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
        audio_codec: str = "copy",
        trim: Trim | None = None,
    ) -> None:
        self._input = av.open(str(src), metadata_errors="ignore") if indices else None
        self._trim = trim
        #: With ``trim``: the carried streams not yet past the span's end.
        self._live: set[int] = set()
        self._map: dict[int, av.stream.Stream] = {}
        self._encoders: dict[int, _AudioEncoder] = {}
        self._audio_codec = audio_codec
        self._flushed = False
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
        if sources and trim is not None:
            self._live = {s.index for s in sources if not s.disposition & Disposition.attached_pic}
            if trim.start:
                self._packets = self._from(sources, start)

    def _from(self, sources: list[av.stream.Stream], start: Fraction) -> Iterator[av.Packet]:
        """The sources' packets from about ``start`` seconds on: a seek a second earlier, or
        the beginning where the demuxer lands after ``start``."""
        assert self._input is not None
        try:
            self._input.seek(max(0, int((start - 1) * av.time_base)), backward=True)
            packets = self._input.demux(*sources)
            first = next((p for p in packets if p.size), None)
        except av.error.FFmpegError:
            first = None
        if first is not None:
            time = first.pts if first.pts is not None else first.dts
            if time is None or time * first.time_base <= start:
                return itertools.chain([first], packets)
        self._input.seek(0, backward=True)
        return self._input.demux(*sources)

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
        if isinstance(stream, av.audio.AudioStream):
            self._add_audio(stream, output)
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

    def _add_audio(self, stream: av.audio.AudioStream, output: av.container.OutputContainer) -> None:
        """Copy or encode the audio ``stream`` as ``audio_plan`` decides (it refuses what cannot be)."""
        plan = audio_plan(Path(output.name).suffix, stream, self._audio_codec)
        if plan.drop:
            self.dropped.append(Dropped(stream.index, "audio", _codec_name(stream), "left out (--audio-codec none)"))
            return
        if plan.encoder is None:
            copy: av.stream.Stream = output.add_stream_from_template(stream)
        else:
            encoded = cast(av.audio.AudioStream, output.add_stream(plan.encoder, rate=plan.rate))
            encoded.codec_context.layout = plan.layout
            encoded.time_base = Fraction(1, plan.rate)
            self._encoders[stream.index] = _AudioEncoder(stream, encoded)
            copy = encoded
        copy_tags(stream.metadata, copy.metadata)
        copy.disposition = stream.disposition
        self._map[stream.index] = copy

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
                if seconds is None and not self._flushed:
                    self._flushed = True
                    for index, encoder in self._encoders.items():
                        output.mux(encoder.encode(None))
                        if encoder.skipped:
                            self.notes.append(
                                f"audio stream {index}: {encoder.skipped} packet(s) did not decode and were skipped"
                            )
                return
            start = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and start is not None and float(start * packet.time_base) > seconds:
                self._pending = packet
                return
            encoding = self._encoders.get(packet.stream.index)
            if encoding is not None:
                output.mux(encoding.encode(packet))
                continue
            packet.stream = self._map[packet.stream.index]
            output.mux(packet)

    def _next(self) -> av.Packet | None:
        """The next carried packet with data, its timestamps moved back by the input's start
        time; with a trim, only those that start in the span, and none once every stream is past it."""
        for packet in self._packets:
            if packet.size == 0:  # demuxer's flush packet, not data
                continue
            if self._trim is not None:
                if packet.stream.disposition & Disposition.attached_pic:
                    return packet  # cover art: one picture for the whole file, at its own time
                if not self._live:
                    return None
            if self._start:
                ticks = round(self._start / packet.time_base)
                if packet.pts is not None:
                    packet.pts -= ticks
                if packet.dts is not None:
                    packet.dts -= ticks
            if self._trim is not None and not self._in_span(packet):
                continue
            return packet
        return None

    def _in_span(self, packet: av.Packet) -> bool:
        """Whether ``packet`` (moved back by the span's start) starts in the span; a stream's
        first packet past its end ends that stream."""
        assert self._trim is not None
        time = packet.pts if packet.pts is not None else packet.dts
        if time is None:
            return packet.stream.index in self._live
        seconds = time * packet.time_base
        if seconds < 0:
            return False
        if self._trim.duration is not None and seconds >= self._trim.duration:
            self._live.discard(packet.stream.index)
            return False
        return packet.stream.index in self._live

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
