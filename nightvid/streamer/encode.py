"""Write enhanced frames to a new container, carrying audio and subtitles untouched.

The video is re-encoded with the source's frame rate, time base, pts, colour tags and
display matrix. Audio and subtitle packets are read by a second demuxer on the source
and muxed unchanged (byte-identical), interleaved with the video by time so the muxer
never has to buffer a whole track.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.colour import ColourTags, bit_depth
from nightvid.streamer.decode import VideoInfo
from nightvid.streamer.encode_options import (
    AUTO_CODECS,
    CRF_PRESET_CODECS,
    CRF_RANGE,
    PRESETS,
    QUALITY_OPTIONS,
    EncodeOptions,
)

__all__ = ["VideoWriter", "check_encoding"]

log = logging.getLogger(__name__)


def _listed_codecs(suffix: str) -> set[str]:
    """Encoders PyAV says a container of this extension holds (incomplete for some, e.g. .ts)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nightvid-probe-") as tmp:
        try:
            with av.open(str(Path(tmp) / f"probe{suffix}"), "w") as probe:
                return set(probe.supported_codecs)
        except ValueError as err:
            raise NightvidError(f"cannot write {suffix or 'files without an extension'} files: {err}") from None


def check_encoding(options: EncodeOptions, dst: Path) -> EncodeOptions:
    """Every encoding option checked before anything is opened; ``codec="auto"`` resolved.

    A NightvidError (one line) for: an unknown or non-video encoder, one the container
    cannot hold (naming those it can), a crf outside the encoder's range, an unknown
    x264/x265 preset, or an encoder that refuses to open with these options (tried on a
    small probe frame, e.g. mjpeg with limited-range 4:2:0).
    """
    from dataclasses import replace
    from fractions import Fraction

    listed = _listed_codecs(dst.suffix)
    fitting = [c for c in AUTO_CODECS if c in listed]
    codec_name = options.codec
    if codec_name == "auto":
        codec_name = fitting[0] if fitting else "libx264"
    try:
        codec = av.Codec(codec_name, "w")
    except (av.error.FFmpegError, ValueError):
        raise NightvidError(f"unknown video encoder {codec_name!r}") from None
    if codec.type != "video":
        raise NightvidError(f"{codec_name!r} is not a video encoder")
    if fitting and codec_name not in listed:
        raise NightvidError(
            f"a {dst.suffix} file cannot hold {codec_name} video; use --codec "
            f"{' or '.join(fitting)}, or another extension"
        )
    crf_range = CRF_RANGE.get(codec_name)
    if options.crf is not None and crf_range is not None and not crf_range[0] <= options.crf <= crf_range[1]:
        raise NightvidError(f"--crf for {codec_name} is {crf_range[0]}..{crf_range[1]}, got {options.crf}")
    if (
        (codec_name in CRF_PRESET_CODECS or codec_name in QUALITY_OPTIONS)
        and options.preset
        and options.preset not in PRESETS
    ):
        raise NightvidError(f"unknown --preset {options.preset!r}; {codec_name} takes {', '.join(PRESETS)}")
    resolved = replace(options, codec=codec_name)
    context = cast(av.VideoCodecContext, av.CodecContext.create(codec_name, "w"))
    context.width, context.height, context.time_base = 64, 48, Fraction(1, 25)
    context.pix_fmt = _pick_pix_fmt(codec, options.pix_fmt, 64, 48)
    context.options = resolved.codec_options()
    try:
        context.open()
    except av.error.FFmpegError as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise NightvidError(
            f"encoder {codec_name} does not open with pixel format {context.pix_fmt} and "
            f"{resolved.codec_options() or 'no options'} ({reason})"
        ) from None
    return resolved


def _auto_pix_fmt(codec: av.Codec, source_pix_fmt: str | None) -> str:
    """yuv420p, or the same-depth 4:2:0 format for a 10/12-bit source if ``codec`` writes it."""
    depth = bit_depth(source_pix_fmt)
    if depth <= 8:
        return "yuv420p"
    supported = {f.name for f in (codec.video_formats or [])}
    for bits in (depth, 10):
        deep = f"yuv420p{bits}le"
        if bits <= depth and deep in supported:
            return deep
    log.warning("%s cannot write %d-bit video; writing 8-bit yuv420p", codec.name, depth)
    return "yuv420p"


def _pick_pix_fmt(codec: av.Codec, wanted: str, width: int, height: int, source_pix_fmt: str | None = None) -> str:
    """``wanted`` if the encoder takes it at this size, else the closest that works."""
    if wanted == "auto":
        wanted = _auto_pix_fmt(codec, source_pix_fmt)
    supported = [f.name for f in (codec.video_formats or [])]
    if supported and wanted not in supported:
        raise NightvidError(f"codec {codec.name} cannot write pixel format {wanted}; it takes: {', '.join(supported)}")
    subsampled = wanted.startswith(("yuv420", "yuvj420", "nv12", "yuv422"))
    if subsampled and (width % 2 or height % 2):
        full = wanted.replace("420", "444").replace("422", "444")
        if supported and full not in supported:
            raise NightvidError(f"{width}x{height} is odd-sized and {codec.name} has no 4:4:4 format to store it")
        log.warning("%dx%d is odd-sized: %s needs even sizes, writing %s", width, height, wanted, full)
        return full
    return wanted


class _Carrier:
    """Reads the carried streams from the source and muxes their packets by time."""

    def __init__(self, src: Path, indices: tuple[int, ...], output: av.container.OutputContainer):
        self._input = av.open(str(src), metadata_errors="ignore") if indices else None
        self._map: dict[int, av.stream.Stream] = {}
        self._pending: av.Packet | None = None
        self._packets: Iterator[av.Packet] = iter(())
        if self._input is None:
            return
        for index in indices:
            stream = self._input.streams[index]
            name = stream.codec_context.name
            # PyAV's list of a format's codecs is incomplete (MPEG-TS lists no AAC, which it
            # holds), so ask the muxer by adding the stream: it refuses what it cannot hold.
            try:
                self._map[index] = output.add_stream_from_template(stream)
            except ValueError:
                if stream.type == "audio":
                    raise NightvidError(
                        f"audio codec {name} cannot be stored in a .{output.format.name.split(',')[0]} "
                        "file; choose another extension for the output (e.g. .mkv)"
                    ) from None
                log.warning("dropping %s stream %d (%s): the output format cannot hold it", stream.type, index, name)
        if self._map:
            sources = [self._input.streams[i] for i in self._map]
            self._packets = self._input.demux(*sources)

    def mux_until(self, output: av.container.OutputContainer, seconds: float | None) -> None:
        """Mux carried packets that start before ``seconds`` (all of them when None)."""
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            if packet.size == 0:  # demuxer's flush packet, not data
                continue
            start = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and start is not None and float(start * packet.time_base) > seconds:
                self._pending = packet
                return
            packet.stream = self._map[packet.stream.index]
            output.mux(packet)

    def close(self) -> None:
        if self._input is not None:
            self._input.close()


class VideoWriter:
    """Owns the output container until ``close`` (finished) or ``abort`` (discarded)."""

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        *,
        colour: ColourTags,
        options: EncodeOptions,
        display_matrix: tuple[int, ...] | None = None,
    ) -> None:
        if options.codec == "auto":
            options = check_encoding(options, Path(path))
        try:
            codec = av.Codec(options.codec, "w")
        except (av.error.FFmpegError, ValueError):
            raise NightvidError(f"unknown video encoder {options.codec!r}") from None
        if codec.type != "video":
            raise NightvidError(f"{options.codec!r} is not a video encoder")
        pix_fmt = _pick_pix_fmt(codec, options.pix_fmt, info.width, info.height, info.pix_fmt)
        try:
            self.container = av.open(str(path), "w")
        except ValueError as err:
            raise NightvidError(f"cannot write {path.suffix or 'this'} files: {err}") from None
        try:
            stream = cast(
                av.VideoStream,
                self.container.add_stream(options.codec, rate=info.rate, options=options.codec_options()),
            )
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, pix_fmt
            stream.time_base = info.time_base
            stream.codec_context.time_base = info.time_base
            colour.stamp(stream)
            if display_matrix is not None:
                stream.set_display_matrix(display_matrix)
            self.video = stream
            self.carrier = _Carrier(info.path, info.carried, self.container)
        except BaseException:
            self.container.close()
            raise
        self.colour = colour
        self.pix_fmt = pix_fmt
        #: True when the output keeps more than 8 bits: frames should then be uint16 RGB.
        self.deep = bit_depth(pix_fmt) > 8
        self.time_base = info.time_base
        self._step = _ticks_per_frame(info)
        self._last_pts: int | None = None

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        """Encode one RGB frame (uint8, or uint16 when ``deep``) at ``pts`` and mux what is ready."""
        frame = self.colour.from_rgb(rgb, self.pix_fmt)
        if pts is None:  # streams without timestamps (raw elementary streams)
            pts = 0 if self._last_pts is None else self._last_pts + self._step
        self._last_pts = pts
        frame.pts, frame.time_base = pts, self.time_base
        self._mux_video(self.video.encode(frame))

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.container.mux(packet)
            if packet.dts is not None:
                self.carrier.mux_until(self.container, float(packet.dts * packet.time_base))

    def close(self) -> None:
        """Flush the encoder, mux the remaining carried packets and finish the file."""
        try:
            self._mux_video(self.video.encode(None))
            self.carrier.mux_until(self.container, None)
        finally:
            self.carrier.close()
            self.container.close()

    def abort(self) -> None:
        """Release everything without finishing the file (the caller deletes it)."""
        for closer in (self.carrier.close, self.container.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - already failing; the file is discarded
                log.debug("error while aborting the writer", exc_info=True)


def _ticks_per_frame(info: VideoInfo) -> int:
    rate = info.rate or Fraction(30)
    return max(1, round(1 / (rate * info.time_base)))
