"""One video through one engine: every option checked before anything is opened or built."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nightvid.engines.spec import EngineSpec
from nightvid.errors import NightvidError
from nightvid.streamer import DEFAULT_TEMPORAL
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.scale import parse_scale
from nightvid.streamer.trim import Trim

if TYPE_CHECKING:  # torch and PyAV load only when a job runs
    from nightvid.engines.base import Engine
    from nightvid.streamer.pipeline import EnhanceSummary, ProgressCallback

__all__ = ["DEFAULT_TEMPORAL", "EngineBuilder", "EngineSpec", "EnhanceJob", "check_temporal", "output_path"]

#: Builds the engine of a spec for frames of ``(height, width)``: ``EngineSpec.build``, or
#: enhance-many's builder that keeps one engine per process.
EngineBuilder = Callable[[EngineSpec, "tuple[int, int] | None"], "Engine"]


def output_path(text: str | Path) -> Path:
    """The output file named by ``text``, as typed: a name ending in a separator (``out.mp4/``)
    names a folder, and ``Path`` would drop the separator and write ``out.mp4``."""
    name = str(text)
    if not name.strip():
        raise NightvidError("the output name is empty")
    if name.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)) or Path(name).name in ("", ".", ".."):
        raise NightvidError(f"output names a folder: {name} (give a file name such as out.mp4)")
    return Path(name)


def check_temporal(frames: int) -> None:
    """``--temporal``: an odd count of frames fused (the frame and as many on either side)."""
    if frames < 1 or frames % 2 == 0 or frames > 9:
        raise NightvidError(f"--temporal takes an odd number of frames from 1 (off) to 9, got {frames}")


#: The flag of each ``EncodeOptions`` field, for a photo job that was given one.
_ENCODE_FLAGS = {
    "codec": "--codec",
    "crf": "--crf",
    "preset": "--preset",
    "pix_fmt": "--pix-fmt",
    "extra": "--encoder-opt",
    "bitrate": "--bitrate",
    "audio_codec": "--audio-codec",
}


@dataclass(frozen=True)
class EnhanceJob:
    """Enhance ``src`` into ``dst``: the engine, the encoding and how to run, as one value.

    A photo (``src`` a still image, ``dst`` an image file) is enhanced into an image
    (``streamer.photo``); the video options (encoding, span, temporal filter, stabiliser,
    damage handling) do not apply to it.
    """

    src: Path
    dst: Path
    engine: EngineSpec = field(default_factory=EngineSpec)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    overwrite: bool = False
    #: With ``strict``: if ``src`` is corrupt part-way, keep the frames decoded before the damage.
    keep_partial: bool = False
    #: Fail on any damage in ``src`` instead of skipping what does not decode (as FFmpeg does).
    strict: bool = False
    #: Smooth the output brightness over time (``streamer.stabilise``): on by default, it
    #: takes 16-56% of the flicker off every model on the night clips (docs/BENCHMARKS.md).
    stabilize: bool = True
    #: Frames fused by the temporal noise filter (``streamer.temporal``): 1 (off), 3, 5, ...
    temporal: int = DEFAULT_TEMPORAL
    #: ``--start``: enhance from this time of ``src`` (seconds, or ``[HH:]MM:SS[.ms]``); the output starts at 0.
    start: float | str | None = None
    #: ``--duration``: enhance this long a part of ``src`` (None: to the end), as ``ffmpeg -ss S -i IN -t D``.
    duration: float | str | None = None
    #: ``--scale``: the output size, ``1280x720``, ``720p`` or a factor (``streamer.scale``); None: the source's.
    scale: str | float | None = None

    def checked(self) -> EnhanceJob:
        """This job with every option checked and ``codec="auto"`` resolved; reads the input's
        header (no frame) and builds nothing.

        Raises NightvidError with a one-line reason for the first bad option.
        """
        from nightvid.streamer.decode import check_input, open_input
        from nightvid.streamer.encode import check_encoding, check_streams
        from nightvid.streamer.photo import check_photo, is_photo_job
        from nightvid.streamer.target import check_output
        from nightvid.streamer.trim import check_trim

        self.engine.check_cheap()
        check_temporal(self.temporal)
        trim = Trim.parse(self.start, self.duration)
        scale = parse_scale(self.scale)
        check_input(self.src)
        if is_photo_job(self.src, self.dst):
            self._check_photo_options(trim)
            check_photo(self.src, self.dst, overwrite=self.overwrite)
            return replace(self, engine=self.engine.checked())
        check_output(self.src, self.dst, overwrite=self.overwrite)
        check_trim(self.src, trim)
        encode = check_encoding(self.encode, self.dst)
        size = None
        if scale is not None:
            container, info = open_input(self.src)
            container.close()
            size = scale.size(info.width, info.height, info.aspect)
        # before any frame is decoded: the encoder, audio, muxer
        check_streams(self.src, self.dst, encode, size=size, trim=trim)
        engine = self.engine.checked()  # last: it imports torch (seconds), so a bad path is refused at once
        return replace(self, encode=encode, engine=engine)

    def _check_photo_options(self, trim: Trim | None) -> None:
        """A NightvidError naming a video option given for a photo: it would do nothing."""
        if trim is not None:
            given = "--start" if trim.start else "--duration"
            raise NightvidError(f"{given} cuts a video; {self.src} is a photo")
        defaults = EncodeOptions(quiet=self.encode.quiet)
        for option in fields(EncodeOptions):
            if getattr(self.encode, option.name) != getattr(defaults, option.name):
                flag = _ENCODE_FLAGS[option.name]
                raise NightvidError(
                    f"{flag} sets how video is encoded; {self.src} is a photo, written as {self.dst.suffix} says"
                )

    def run(self, on_progress: ProgressCallback | None = None, *, build: EngineBuilder | None = None) -> EnhanceSummary:
        """Check, build the engine, enhance; ``on_progress(done, total)`` after each batch.

        ``build``: how the engine is made from the spec (default ``EngineSpec.build``).
        """
        job = self.checked()  # before importing the pipeline (torch): refusals come at once
        from nightvid.streamer.decode import open_input
        from nightvid.streamer.photo import enhance_photo, is_photo_job
        from nightvid.streamer.pipeline import enhance_video

        def engine_for(size: tuple[int, int]) -> Engine:
            return build(job.engine, size) if build is not None else job.engine.build(size)

        scale = parse_scale(job.scale)
        if is_photo_job(job.src, job.dst):
            return enhance_photo(job.src, job.dst, engine_for, scale=scale, overwrite=job.overwrite)

        container, info = open_input(job.src)  # the frame size for auto's trial; errors as enhance_video's
        container.close()
        engine = engine_for((info.height, info.width))
        return enhance_video(
            job.src,
            job.dst,
            engine,
            batch=job.engine.batch,
            overwrite=job.overwrite,
            keep_partial=job.keep_partial,
            strict=job.strict,
            stabilize=job.stabilize,
            temporal=job.temporal // 2,
            encode=job.encode,
            on_progress=on_progress,
            trim=Trim.parse(job.start, job.duration),
            scale=scale,
        )
