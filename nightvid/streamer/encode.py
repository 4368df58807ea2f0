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

import dataclasses
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
from av.video.reformatter import VideoReformatter

from nightvid.errors import NightvidError
from nightvid.streamer.carry import Carrier, Dropped, copy_tags, probe_write
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
from nightvid.streamer.trim import Trim, trim_chapters

__all__ = ["VideoWriter", "check_encoding", "check_streams"]

log = logging.getLogger(__name__)

#: Muxers that store times in milliseconds: moved frames must be 1 ms apart to stay apart.
_MS_FORMATS = ("matroska", "webm", "flv")
#: Muxers that write chapters (the others accept them and write nothing).
_CHAPTER_FORMATS = ("mov", "mp4", "matroska", "webm", "ipod", "ismv", "3gp")


#: Muxers whose codec list says yes to codecs they then refuse (MXF: H.264 only as AVC-Intra).
_QUERY_ONLY_FORMATS = ("mxf", "mxf_d10", "mxf_opatom")
#: Encoders whose bitstream carries the pixel aspect ratio (VP8/VP9/AV1 carry none).
_SAR_IN_BITSTREAM = (
    "libx264",
    "libx265",
    "mpeg1video",
    "mpeg2video",
    "mpeg4",
    "h264_nvenc",
    "hevc_nvenc",
    "h264_qsv",
    "hevc_qsv",
)
#: Muxers whose own codec ``--codec auto`` picks though they take H.264: an MPEG program
#: stream reads H.264 back without most timestamps; MXF is MPEG-2 by custom (FFmpeg's picks).
_OWN_CODEC_FORMATS = ("mpeg", "vcd", "svcd", "dvd", "vob", "mxf")
#: Muxers that keep the order of reordered frames only for MPEG-1/2 (MXF): no B-frames otherwise.
_NO_REORDER_FORMATS = ("mxf", "mxf_d10", "mxf_opatom")
#: Muxers that count time in frames of the stream's time base (Ogg's granules: Theora, VP8).
_FRAME_COUNT_FORMATS = ("ogg", "ogv")
#: Encoders that take only the standard frame rates as their time base (24000/1001 .. 60).
_RATE_TIME_BASE_CODECS = ("mpeg1video", "mpeg2video")
#: Muxers whose HEVC gets the ``hvc1`` tag (parameter sets in the sample description), which
#: Apple's players require; FFmpeg's default ``hev1`` plays elsewhere only.
_HVC1_FORMATS = ("mp4", "mov")
#: Pixel formats for 8-bit output, best first, for encoders without yuv420p (gif: rgb8).
_EIGHT_BIT_FORMATS = ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12", "rgb24", "bgr24", "rgb8", "bgr8", "pal8")


def _container(suffix: str) -> tuple[str, set[str], str]:
    """(the muxer of this extension, the codecs PyAV says it holds (incomplete for some, e.g.
    .ts), its default video codec)."""
    with tempfile.TemporaryDirectory(prefix="nightvid-probe-") as tmp:
        try:
            with av.open(str(Path(tmp) / f"probe{suffix}"), "w") as probe:
                return probe.format.name, set(probe.supported_codecs), probe.default_video_codec
        except ValueError as err:
            raise NightvidError(f"cannot write {suffix or 'files without an extension'} files: {err}") from None


def _is_image_muxer(fmt: str) -> bool:
    """Muxers that write still pictures (image sequences), not a video file."""
    return fmt in ("image2", "image2pipe") or (fmt.endswith("_pipe") and fmt != "yuv4mpegpipe")


def _video_refusal(suffix: str, codec_name: str) -> str | None:
    """Why a ``suffix`` file cannot hold ``codec_name`` video (None: it can): a small frame
    encoded and muxed into a temporary file, what the muxer said collected."""
    codec = av.Codec(codec_name, "w")
    pix_fmt = _auto_pix_fmt(codec, None, [])
    options = {"x265-params": "log-level=error"} if codec_name == "libx265" else {}

    def add(probe: av.container.OutputContainer) -> list[av.Packet]:
        stream = cast(av.VideoStream, probe.add_stream(codec_name, rate=25, options=options))
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        frame = av.VideoFrame(64, 48, pix_fmt)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = 0
        return [*stream.encode(frame), *stream.encode(None)]

    return probe_write(suffix, add)


def _auto_codec(suffix: str, fmt: str, listed: set[str], default_video: str) -> str:
    """``--codec auto``: the first of ``AUTO_CODECS`` the container lists, libx264 where it
    holds it, else the container's own codec (gif, rawvideo for .y4m, MPEG-1 for .mpg,
    mpeg2video for .mxf, libtheora or VP8 for .ogv), as FFmpeg picks."""
    fitting = [c for c in AUTO_CODECS if c in listed]
    if fitting:
        return fitting[0]
    if fmt in _OWN_CODEC_FORMATS:
        return default_video
    if fmt in ("ogg", "ogv") and _has_video_encoder("libtheora"):
        return "libtheora"
    if _has_video_encoder("libx264") and _video_refusal(suffix, "libx264") is None:
        return "libx264"
    own = {"wrapped_avframe": "rawvideo"}.get(default_video, default_video)
    if not _has_video_encoder(own):
        raise NightvidError(
            f"a {suffix} file holds {default_video} video, which this PyAV build cannot encode; "
            "use another extension (.mp4, .mkv)"
        )
    return av.Codec(own, "w").name


def _has_video_encoder(name: str) -> bool:
    try:
        return av.Codec(name, "w").type == "video"
    except (av.error.FFmpegError, ValueError):
        return False


def check_encoding(options: EncodeOptions, dst: Path) -> EncodeOptions:
    """Every encoding option checked before anything is opened; ``codec="auto"`` resolved.

    A NightvidError (one line) for: an unknown or non-video encoder, one the container
    cannot hold (naming those it can), a crf outside the encoder's range, an unknown
    x264/x265 preset, or an encoder that refuses to open with these options (tried on a
    small probe frame, e.g. mjpeg with limited-range 4:2:0).
    """
    from dataclasses import replace
    from fractions import Fraction

    fmt, listed, default_video = _container(dst.suffix)
    if _is_image_muxer(fmt):
        raise NightvidError(
            f"enhance writes video files; {dst.name} would be still images ({fmt}); "
            "use a video extension such as .mp4 or .mkv (an image is written from a photo)"
        )
    codec_name = options.codec
    if codec_name == "auto":
        codec_name = _auto_codec(dst.suffix, fmt, listed, default_video)
    try:
        codec = av.Codec(codec_name, "w")
    except (av.error.FFmpegError, ValueError):
        raise NightvidError(f"unknown video encoder {codec_name!r}") from None
    if codec.type != "video":
        raise NightvidError(f"{codec_name!r} is not a video encoder")
    fitting = [c for c in AUTO_CODECS if c in listed]
    if fitting and codec_name not in listed:
        raise NightvidError(
            f"a {dst.suffix} file cannot hold {codec_name} video; use --codec "
            f"{' or '.join(fitting)}, or another extension"
        )
    options.check_flags(codec_name)
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
    # after the encoder opened alone: a refusal here is the container's
    if codec_name not in listed or fmt in _QUERY_ONLY_FORMATS:  # PyAV's list is unsure: ask the muxer
        refused = _video_refusal(dst.suffix, codec_name)
        if refused is not None:
            works = _auto_codec(dst.suffix, fmt, listed, default_video)
            raise NightvidError(
                f"a {dst.suffix} file cannot hold {codec_name} video ({refused}); use --codec {works}, "
                "or another extension"
            )
    return resolved


def check_streams(
    src: Path, dst: Path, options: EncodeOptions, *, size: tuple[int, int] | None = None, trim: Trim | None = None
) -> None:
    """The output's streams set up and its header written in a temporary file before any
    frame is decoded: an encoder that does not open at the source's size (or ``size``) and
    rate, audio the container cannot hold (``carry.audio_plan``) or a muxer refusing the
    streams is one NightvidError now, not after the first frames."""
    from nightvid.streamer.colour import BT709, RANGE_FULL, RANGE_LIMITED, SMPTE170M
    from nightvid.streamer.decode import open_input

    container, info = open_input(src)
    container.close()
    tags = BT709 if info.height >= 720 or info.width >= 1280 else SMPTE170M
    full = (info.pix_fmt or "").startswith("yuvj")
    colour = ColourTags(tags, tags, tags, RANGE_FULL if full else RANGE_LIMITED)
    with tempfile.TemporaryDirectory(prefix="nightvid-probe-") as tmp:
        probe = Path(tmp) / f"probe{dst.suffix}"
        VideoWriter(probe, info, colour=colour, options=options, size=size, trim=trim).abort()


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


def _warn(notes: list[str] | None, message: str) -> None:
    """A warning for the summary (``notes``: the writer's, shown by --json too), else the log."""
    if notes is None:
        log.warning("%s", message)
    else:
        notes.append(message)


def _auto_pix_fmt(codec: av.Codec, source_pix_fmt: str | None, notes: list[str] | None = None) -> str:
    """yuv420p, or the same-depth 4:2:0 format for a 10/12-bit source if ``codec`` writes it."""
    depth = bit_depth(source_pix_fmt)
    if depth <= 8:
        return _eight_bit(codec)
    supported = {f.name for f in (codec.video_formats or [])}
    for bits in (depth, 10):
        deep = f"yuv420p{bits}le"
        if bits <= depth and deep in supported:
            return deep
    _warn(notes, f"{codec.name} cannot write {depth}-bit video; writing 8-bit {_eight_bit(codec)}")
    return _eight_bit(codec)


def _eight_bit(codec: av.Codec) -> str:
    """yuv420p, or the closest 8-bit format ``codec`` writes (gif: rgb8)."""
    supported = [f.name for f in (codec.video_formats or [])]
    if not supported or "yuv420p" in supported:
        return "yuv420p"
    return next((f for f in _EIGHT_BIT_FORMATS if f in supported), supported[0])


def _pick_pix_fmt(
    codec: av.Codec,
    wanted: str,
    width: int,
    height: int,
    source_pix_fmt: str | None = None,
    notes: list[str] | None = None,
) -> str:
    """``wanted`` if the encoder takes it at this size, else the closest that works (said in ``notes``)."""
    if wanted == "auto":
        wanted = _auto_pix_fmt(codec, source_pix_fmt, notes)
    supported = [f.name for f in (codec.video_formats or [])]
    if supported and wanted not in supported:
        raise NightvidError(f"codec {codec.name} cannot write pixel format {wanted}; it takes: {', '.join(supported)}")
    subsampled = wanted.startswith(("yuv420", "yuvj420", "nv12", "yuv422"))
    if subsampled and (width % 2 or height % 2):
        full = wanted.replace("420", "444").replace("422", "444")
        if supported and full not in supported:
            raise NightvidError(f"{width}x{height} is odd-sized and {codec.name} has no 4:4:4 format to store it")
        _warn(notes, f"{width}x{height} is odd-sized: {wanted} needs even sizes, writing {full}")
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
        size: tuple[int, int] | None = None,
        trim: Trim | None = None,
    ) -> None:
        """``size``: the output's frame size, square pixels (``--scale``; None: the source's);
        frames of another size are scaled to it (Lanczos). ``trim``: the output holds that
        span of the source, from 0 (``streamer.trim``)."""
        if options.codec == "auto":
            options = check_encoding(options, Path(path))
        try:
            codec = av.Codec(options.codec, "w")
        except (av.error.FFmpegError, ValueError):
            raise NightvidError(f"unknown video encoder {options.codec!r}") from None
        if codec.type != "video":
            raise NightvidError(f"{options.codec!r} is not a video encoder")
        self.warnings: list[str] = []
        width, height = size or (info.width, info.height)
        pix_fmt = _pick_pix_fmt(codec, options.pix_fmt, width, height, info.pix_fmt, self.warnings)
        self._scaled = size is not None
        self._trim = trim
        if trim is not None:
            info = dataclasses.replace(info, start=trim.origin(info.start, info.time_base))
        quiet_console(options)
        codec_options = self._with_hdr(options, hdr)
        try:
            self.container = av.open(str(path), "w", options=_muxer_options(path))
        except ValueError as err:
            raise NightvidError(f"cannot write {path.suffix or 'this'} files: {err}") from None
        try:
            fmt = self.container.format.name
            avi = fmt == "avi"
            # MPEG-1/2 take only the standard rates as time base: frames go on the slots of one, as in AVI
            constant = avi or fmt in _FRAME_COUNT_FORMATS or options.codec in _RATE_TIME_BASE_CODECS
            slots = "AVI" if avi else options.codec if options.codec in _RATE_TIME_BASE_CODECS else fmt
            self.timeline = _timeline(info, constant_rate=constant, milliseconds=fmt in _MS_FORMATS, slots=slots)
            rate = 1 / self.timeline.base if constant else info.rate
            stream = cast(av.VideoStream, self.container.add_stream(options.codec, rate=rate, options=codec_options))
            if options.codec == "libx265" and fmt in _HVC1_FORMATS:
                stream.codec_context.codec_tag = "hvc1"
            self.size = size or self._shape(info, fmt, options.codec)
            stream.width, stream.height, stream.pix_fmt = *self.size, pix_fmt
            stream.time_base = self.timeline.base
            stream.codec_context.time_base = self.timeline.base
            if avi or (fmt in _NO_REORDER_FORMATS and options.codec not in _RATE_TIME_BASE_CODECS):
                # AVI keeps no pts to reorder by; MXF keeps none for H.264 (read back in decode order)
                stream.codec_context.max_b_frames = 0
            square = self._scaled or self.size != (info.width, info.height)  # scaled: square pixels
            if info.aspect is not None and info.aspect != 1 and not square:
                stream.codec_context.sample_aspect_ratio = info.aspect  # else anamorphic video shows squeezed
            colour.stamp(stream)
            if display_matrix is not None:
                stream.set_display_matrix(display_matrix)
            self.video = stream
            self._copy_tags(info)
            self.carrier = Carrier(
                info.path,
                info.carried,
                self.container,
                stream,
                start=self.timeline.start,
                audio_codec=options.audio_codec,
                trim=trim,
            )
            self._start(path, options.codec)
        except BaseException:
            self.container.close()
            raise
        self.colour = colour
        self.pix_fmt = pix_fmt
        #: True when the output keeps more than 8 bits: frames should then be uint16 RGB.
        self.deep = bit_depth(pix_fmt) > 8
        self.time_base = self.timeline.base
        #: Scales frames to ``size`` (``--scale``), keeping its swscale context from frame to frame.
        self._scaler = VideoReformatter()

    def _shape(self, info: VideoInfo, fmt: str, codec: str) -> tuple[int, int]:
        """The encoded frame size: the source's, or stretched to square pixels where the
        output could not say its pixels are not square (Matroska and WebM read the pixel
        shape from the stream, which PyAV cannot set, and VP9/AV1 carry none themselves)."""
        aspect = info.aspect
        if aspect is None or aspect == 1 or fmt not in ("matroska", "webm") or codec in _SAR_IN_BITSTREAM:
            return info.width, info.height
        width, height = info.width, info.height
        if aspect > 1:
            width = max(2, round(width * aspect / 2) * 2)
        else:
            height = max(2, round(height / aspect / 2) * 2)
        self.warnings.append(
            f"the source's pixels are not square ({aspect.numerator}:{aspect.denominator}) and a "
            f"{fmt} file from {codec} cannot say so: scaled {info.width}x{info.height} to "
            f"{width}x{height} square pixels, the same shape on screen (.mp4 keeps the source's pixels)"
        )
        return width, height

    def _start(self, path: Path, codec: str) -> None:
        """Open the encoders and write the header now: a refusal is one line before any frame."""
        level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as said:
                try:
                    self.container.start_encoding()
                except (ValueError, av.error.FFmpegError) as err:
                    messages = [str(text).strip() for lvl, _, text in said if lvl <= av.logging.ERROR]
                    reason = messages[0] if messages else (getattr(err, "strerror", None) or str(err))
                    raise NightvidError(f"cannot write a {path.suffix} file with {codec} video: {reason}") from None
        finally:
            av.logging.set_level(level)

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
        if self._trim is not None:
            chapters = trim_chapters(chapters, self.timeline.start, self._trim.duration)
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
        if (frame.width, frame.height) != self.size:
            if self._scaled:
                frame = self._scaler.reformat(frame, width=self.size[0], height=self.size[1], interpolation="LANCZOS")
            else:
                frame = frame.reformat(width=self.size[0], height=self.size[1], interpolation="BICUBIC")
            self.colour.stamp(frame)
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


def _timeline(info: VideoInfo, *, constant_rate: bool, milliseconds: bool, slots: str = "AVI") -> Timeline:
    """The output pts of this input: from 0 if it starts later; on the slots of its rate for
    AVI and MPEG-1/2 (``slots`` names which, for the warning)."""
    rate = info.rate or Fraction(30)
    if not constant_rate:
        step = max(1, round(1 / (rate * info.time_base)))
        spacing = Fraction(1, 1000) if milliseconds else Fraction(0)
        return Timeline(info.time_base, info.time_base, step, start=info.start, spacing=spacing)
    rate = rate.limit_denominator(1001)  # a VFR average (5871/158720 s) makes no usable AVI rate
    why = f"fell on the same frame slot of the {slots}'s constant {float(rate):.3f} fps as the frame before"
    return Timeline(source_base=info.time_base, base=1 / rate, step=1, start=info.start, why=why)
