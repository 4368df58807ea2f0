"""Write enhanced frames to a new container, carrying the other streams untouched.

The video is re-encoded with the source's frame rate, time base, pts (made strictly
increasing, see ``timestamps``), colour tags, HDR metadata and display matrix; the
source's tags and chapters are copied. The other streams are copied by ``carry.Carrier``.
Where a container stores time its own way the writer adapts: an input that starts late
(a TS at 1001 s) starts at 0; an MPEG-TS starts at 1.4 s as FFmpeg's own do, with no
stream moved against the source; an AVI keeps no pts, so it gets a constant rate and
no B-frames.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.logging
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.carry import Carrier, Dropped, copy_tags
from nightvid.streamer.colour import ColourTags, HdrMetadata, bit_depth
from nightvid.streamer.decode import VideoInfo
from nightvid.streamer.encode_options import (
    AUTO_CODECS,
    CRF_PRESET_CODECS,
    CRF_RANGE,
    PRESETS,
    QUALITY_OPTIONS,
    EncodeOptions,
)
from nightvid.streamer.timestamps import Timeline

__all__ = ["VideoWriter", "check_encoding"]

log = logging.getLogger(__name__)

#: Muxers that store times in milliseconds: moved frames must be 1 ms apart to stay apart.
_MS_FORMATS = ("matroska", "webm", "flv")
#: Muxers that write chapters (the others accept them and write nothing).
_CHAPTER_FORMATS = ("mov", "mp4", "matroska", "webm", "ipod", "ismv", "3gp")


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
    wanted = resolved.codec_options()
    context.options = dict(wanted)
    quiet_console(resolved)
    failure, messages = _open_collecting(context)
    if failure is not None:
        reason = "; ".join(messages) or getattr(failure, "strerror", None) or str(failure)
        raise NightvidError(
            f"encoder {codec_name} does not open with pixel format {context.pix_fmt} and "
            f"{wanted or 'no options'} ({reason})"
        )
    _check_extra(codec_name, resolved.extra_options(), context.options, messages)
    return resolved


def _check_extra(codec: str, extra: dict[str, str], unused: dict[str, str], messages: list[str]) -> None:
    """A NightvidError for an ``--encoder-opt`` the encoder has no option for or could not parse."""
    unknown = [key for key in extra if key in unused]
    if unknown:
        raise NightvidError(f"encoder {codec} has no option {unknown[0]!r} (--encoder-opt {unknown[0]}=...)")
    rejected = [m for m in messages if "rror parsing" in m or "nvalid" in m or "nknown" in m]
    if extra and rejected:
        given = " ".join(f"{key}={value}" for key, value in extra.items())
        raise NightvidError(f"encoder {codec} rejects --encoder-opt {given}: {rejected[0]}")


def quiet_console(options: EncodeOptions) -> None:
    """With ``quiet``, keep SVT-AV1's banner and settings off the console (it prints them
    itself, at the level in ``SVT_LOG``, read when an encoder starts); x265 is told through
    its parameters (``EncodeOptions.codec_options``)."""
    if options.quiet and options.codec == "libsvtav1":
        os.environ["SVT_LOG"] = "1"  # errors only


def _open_collecting(context: av.VideoCodecContext) -> tuple[av.error.FFmpegError | None, list[str]]:
    """Open ``context``; (its error or None, what it said while opening).

    FFmpeg's log and what libraries such as x264 print to stderr themselves are
    collected and kept off the console, so a refused option stays one error line.
    """
    messages: list[str] = []
    failure: av.error.FFmpegError | None = None
    level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.WARNING)
    av.logging.set_skip_repeated(False)  # the same complaint twice in a process is still a complaint
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with av.logging.Capture() as logs:
                try:
                    context.open()
                except av.error.FFmpegError as err:
                    failure = err
            messages.extend(str(line).strip() for _, _, line in logs)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            av.logging.set_level(level)
            av.logging.set_skip_repeated(skip)
        sink.seek(0)
        messages.extend(line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip())
    return failure, messages


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


class VideoWriter:
    """Owns the output container until ``close`` (finished) or ``abort`` (discarded).

    ``warnings`` and ``dropped`` say what was repaired or left out, for the summary.
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        *,
        colour: ColourTags,
        options: EncodeOptions,
        display_matrix: tuple[int, ...] | None = None,
        hdr: HdrMetadata | None = None,
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
        quiet_console(options)
        self.warnings: list[str] = []
        codec_options = self._with_hdr(options, hdr)
        try:
            self.container = av.open(str(path), "w", options=_muxer_options(path))
        except ValueError as err:
            raise NightvidError(f"cannot write {path.suffix or 'this'} files: {err}") from None
        try:
            avi = self.container.format.name == "avi"
            self.timeline = _timeline(info, constant_rate=avi, milliseconds=self.container.format.name in _MS_FORMATS)
            rate = 1 / self.timeline.base if avi else info.rate
            stream = cast(av.VideoStream, self.container.add_stream(options.codec, rate=rate, options=codec_options))
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, pix_fmt
            stream.time_base = self.timeline.base
            stream.codec_context.time_base = self.timeline.base
            if avi:
                stream.codec_context.max_b_frames = 0  # AVI keeps no pts to reorder by
            if info.aspect is not None and info.aspect != 1:  # else anamorphic video shows squeezed
                stream.codec_context.sample_aspect_ratio = info.aspect
            colour.stamp(stream)
            if display_matrix is not None:
                stream.set_display_matrix(display_matrix)
            self.video = stream
            self._copy_tags(info)
            self.carrier = Carrier(info.path, info.carried, self.container, stream, start=self.timeline.start)
        except BaseException:
            self.container.close()
            raise
        self.colour = colour
        self.pix_fmt = pix_fmt
        #: True when the output keeps more than 8 bits: frames should then be uint16 RGB.
        self.deep = bit_depth(pix_fmt) > 8
        self.time_base = self.timeline.base

    def _with_hdr(self, options: EncodeOptions, hdr: HdrMetadata | None) -> dict[str, str]:
        """The encoder options with the source's HDR10 metadata added where the encoder takes it."""
        opts = options.codec_options()
        if hdr is None:
            return opts
        added = hdr.encoder_options(options.codec)
        if added is None:
            self.warnings.append(
                f"HDR10 mastering-display/content-light metadata dropped: {options.codec} cannot write it "
                "(libx265, libx264 and libsvtav1 can)"
            )
            return opts
        key, value = added
        opts[key] = f"{opts[key]}:{value}" if opts.get(key) else value
        return opts

    def _copy_tags(self, info: VideoInfo) -> None:
        """The source's tags (title, creation time, location), its video stream's and its chapters."""
        with av.open(str(info.path), metadata_errors="ignore") as source:
            # A file-wide timecode would give every video track a tmcd track of its own.
            copy_tags(source.metadata, self.container.metadata, skip=("timecode",))
            copy_tags(source.streams[info.index].metadata, self.video.metadata)
            chapters = source.chapters()
        if not chapters:
            return
        if self.container.format.name not in _CHAPTER_FORMATS:
            suffix = Path(self.container.name).suffix
            self.warnings.append(f"{len(chapters)} chapter(s) dropped: a {suffix} file cannot hold chapters")
            return
        self.container.set_chapters(chapters)

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        """Encode one RGB frame (uint8, or uint16 when ``deep``) shown at ``pts`` and mux what is ready."""
        frame = self.colour.from_rgb(rgb, self.pix_fmt)
        frame.pts, frame.time_base = self.timeline.place(pts), self.time_base
        self._mux_video(self.video.encode(frame))

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.container.mux(packet)
            if packet.dts is not None:
                self.carrier.mux_until(self.container, float(packet.dts * packet.time_base))

    @property
    def dropped(self) -> list[Dropped]:
        """The source streams the output does not hold."""
        return self.carrier.dropped

    def notes(self) -> list[str]:
        """Every warning of this output: repaired timestamps, dropped streams and metadata."""
        moved = self.timeline.warning()
        return [*self.warnings, *([moved] if moved else []), *self.carrier.notes, *(d.line() for d in self.dropped)]

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


def _muxer_options(path: Path) -> dict[str, str]:
    """MPEG-TS: FFmpeg's usual 0.7 s muxing delay (its files start at 1.4 s) and no shifting.

    Without the delay an encoder's negative first dts (B-frames) made the muxer shift
    every stream (67 ms at 30 fps); with it those dts are positive and every pts lands
    1.4 s after the source's, as in a TS FFmpeg writes.
    """
    if path.suffix.lower() in (".ts", ".m2ts", ".mts"):
        return {"max_delay": "700000", "avoid_negative_ts": "disabled"}
    if path.suffix.lower() == ".avi":
        return {"avoid_negative_ts": "disabled"}
    return {}


def _timeline(info: VideoInfo, *, constant_rate: bool, milliseconds: bool) -> Timeline:
    """The output pts of this input: from 0 if it starts later; on the slots of its rate for AVI."""
    rate = info.rate or Fraction(30)
    if not constant_rate:
        step = max(1, round(1 / (rate * info.time_base)))
        spacing = Fraction(1, 1000) if milliseconds else Fraction(0)
        return Timeline(info.time_base, info.time_base, step, start=info.start, spacing=spacing)
    rate = rate.limit_denominator(1001)  # a VFR average (5871/158720 s) makes no usable AVI rate
    why = f"fell on the same frame slot of the AVI's constant {float(rate):.3f} fps as the frame before"
    return Timeline(source_base=info.time_base, base=1 / rate, step=1, start=info.start, why=why)
