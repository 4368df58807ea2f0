"""One video through one engine: every option checked before anything is opened or built."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nightvid.engines.spec import EngineSpec, check_counts, parse_tile
from nightvid.errors import NightvidError
from nightvid.streamer import DEFAULT_TEMPORAL
from nightvid.streamer.encode_options import EncodeOptions

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


@dataclass(frozen=True)
class EnhanceJob:
    """Enhance ``src`` into ``dst``: the engine, the encoding and how to run, as one value."""

    src: Path
    dst: Path
    engine: EngineSpec = field(default_factory=EngineSpec)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    overwrite: bool = False
    #: With ``strict``: if ``src`` is corrupt part-way, keep the frames decoded before the damage.
    keep_partial: bool = False
    #: Fail on any damage in ``src`` instead of skipping what does not decode (as FFmpeg does).
    strict: bool = False
    #: Smooth the output brightness over time (``streamer.stabilise``).
    stabilize: bool = False
    #: Frames fused by the temporal noise filter (``streamer.temporal``): 1 (off), 3, 5, ...
    temporal: int = DEFAULT_TEMPORAL

    def checked(self) -> EnhanceJob:
        """This job with every option checked and ``codec="auto"`` resolved; reads the input's
        header (no frame) and builds nothing.

        Raises NightvidError with a one-line reason for the first bad option.
        """
        from nightvid.streamer.decode import check_input
        from nightvid.streamer.encode import check_encoding, check_streams
        from nightvid.streamer.target import check_output

        check_counts(batch=self.engine.batch, workers=self.engine.workers)
        parse_tile(self.engine.tile)
        check_temporal(self.temporal)
        check_input(self.src)
        check_output(self.src, self.dst, overwrite=self.overwrite)
        encode = check_encoding(self.encode, self.dst)
        check_streams(self.src, self.dst, encode)  # before any frame is decoded: the encoder, audio, muxer
        engine = self.engine.checked()  # last: it imports torch (seconds), so a bad path is refused at once
        return replace(self, encode=encode, engine=engine)

    def run(self, on_progress: ProgressCallback | None = None, *, build: EngineBuilder | None = None) -> EnhanceSummary:
        """Check, build the engine, enhance; ``on_progress(done, total)`` after each batch.

        ``build``: how the engine is made from the spec (default ``EngineSpec.build``).
        """
        job = self.checked()  # before importing the pipeline (torch): refusals come at once
        from nightvid.streamer.decode import open_input
        from nightvid.streamer.pipeline import enhance_video

        container, info = open_input(job.src)  # the frame size for auto's trial; errors as enhance_video's
        container.close()
        frame_size = (info.height, info.width)
        engine = build(job.engine, frame_size) if build is not None else job.engine.build(frame_size)
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
        )
