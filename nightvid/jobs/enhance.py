"""One video through one engine: every option checked before anything is opened or built."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nightvid.errors import NightvidError
from nightvid.streamer import DEFAULT_TEMPORAL
from nightvid.streamer.encode_options import EncodeOptions

if TYPE_CHECKING:  # torch and PyAV load only when a job runs
    from nightvid.engines.base import Engine
    from nightvid.streamer.pipeline import EnhanceSummary, ProgressCallback

__all__ = [
    "DEFAULT_TEMPORAL",
    "MIN_TILE",
    "EngineChoice",
    "EnhanceJob",
    "check_counts",
    "check_temporal",
    "output_path",
    "parse_tile",
]

#: The smallest fixed tile: tiles overlap by at least 32 px, and a net needs room inside.
MIN_TILE = 64


def output_path(text: str | Path) -> Path:
    """The output file named by ``text``, as typed: a name ending in a separator (``out.mp4/``)
    names a folder, and ``Path`` would drop the separator and write ``out.mp4``."""
    name = str(text)
    if not name.strip():
        raise NightvidError("the output name is empty")
    if name.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)) or Path(name).name in ("", ".", ".."):
        raise NightvidError(f"output names a folder: {name} (give a file name such as out.mp4)")
    return Path(name)


def parse_tile(text: str | int | None) -> int | str | None:
    """``--tile``: ``"auto"``, 0 (never: None) or a side of at least ``MIN_TILE`` px."""
    text = "0" if text is None else str(text)
    if text == "auto":
        return "auto"
    if text.isdigit() and (int(text) == 0 or int(text) >= MIN_TILE):
        return int(text) or None
    raise NightvidError(f"--tile takes auto, 0 (never) or a size of at least {MIN_TILE} px; got {text!r}")


def check_temporal(frames: int) -> None:
    """``--temporal``: an odd count of frames fused (the frame and as many on either side)."""
    if frames < 1 or frames % 2 == 0 or frames > 9:
        raise NightvidError(f"--temporal takes an odd number of frames from 1 (off) to 9, got {frames}")


def check_counts(**counts: int | None) -> None:
    """A NightvidError naming the first ``--name`` below 1."""
    for name, value in counts.items():
        if value is not None and value < 1:
            raise NightvidError(f"--{name} must be at least 1, got {value}")


@dataclass(frozen=True)
class EngineChoice:
    """Which engine to build: the model by name and how to run it (``engines.create_engine``)."""

    model: str = "noiser"
    #: A safetensors file, or "default" for the shipped weights.
    weights: Path | str = "default"
    backend: str = "auto"
    precision: str = "fp32"
    #: Frames run at once on the CPU (None: the backend's default).
    workers: int | None = None
    #: "default" (the model's choice), "auto" (from the input's brightness), a mean luma 0-1, or None (its own).
    exposure: float | str | None = "default"
    #: Smooth the codec's blocks out of dark areas first, where the model does (``nets.deblock``).
    deblock: bool = True
    #: cpu | cuda | cuda:N (None: cuda if available).
    device: str | None = None

    def check(self) -> None:
        """The checks that build nothing: counts, the exposure range, the model, backend and
        precision by name (not the device: on a cluster, the workers' may differ)."""
        from nightvid.engines.backends import BACKENDS
        from nightvid.engines.base import resolve_dtype
        from nightvid.nets import chain_parts, check_exposure

        check_counts(workers=self.workers)
        check_exposure(self.exposure)
        chain_parts(self.model)  # an unknown model names the available ones
        if self.backend not in BACKENDS:
            raise NightvidError(f"unknown backend {self.backend!r}; choose from {', '.join(BACKENDS)}")
        resolve_dtype(self.precision)

    def build(self, frame_size: tuple[int, int] | None = None) -> Engine:
        """The engine; ``frame_size`` ``(height, width)``: the frames it will run, which
        ``auto``'s timed trial measures at (``engines.trial``)."""
        from nightvid.engines import create_engine

        return create_engine(
            self.model,
            frame_size=frame_size,
            weights=self.weights,
            backend=self.backend,
            precision=self.precision,
            workers=self.workers,
            exposure=self.exposure,
            deblock=None if self.deblock else False,
            device=self.device,
        )


@dataclass(frozen=True)
class EnhanceJob:
    """Enhance ``src`` into ``dst``: the engine, the encoding and how to run, as one value."""

    src: Path
    dst: Path
    engine: EngineChoice = field(default_factory=EngineChoice)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    #: Frames per inference call.
    batch: int = 1
    overwrite: bool = False
    #: With ``strict``: if ``src`` is corrupt part-way, keep the frames decoded before the damage.
    keep_partial: bool = False
    #: Fail on any damage in ``src`` instead of skipping what does not decode (as FFmpeg does).
    strict: bool = False
    #: Smooth the output brightness over time (``streamer.stabilise``).
    stabilize: bool = False
    #: Frames fused by the temporal noise filter (``streamer.temporal``): 1 (off), 3, 5, ...
    temporal: int = DEFAULT_TEMPORAL
    #: ``"auto"``, a tile side in px, or 0 (never); see ``parse_tile``.
    tile: str | int = "auto"

    def checked(self) -> EnhanceJob:
        """This job with every option checked and ``codec="auto"`` resolved; reads the input's
        header (no frame) and builds nothing.

        Raises NightvidError with a one-line reason for the first bad option.
        """
        from nightvid.streamer.decode import check_input
        from nightvid.streamer.encode import check_encoding, check_streams
        from nightvid.streamer.target import check_output

        check_counts(batch=self.batch)
        check_temporal(self.temporal)
        check_input(self.src)
        check_output(self.src, self.dst, overwrite=self.overwrite)
        parse_tile(self.tile)
        encode = check_encoding(self.encode, self.dst)
        check_streams(self.src, self.dst, encode)  # before any frame is decoded: the encoder, audio, muxer
        self.engine.check()  # last: it imports torch (seconds), so a bad path is refused at once
        return replace(self, encode=encode)

    def run(self, on_progress: ProgressCallback | None = None) -> EnhanceSummary:
        """Check, build the engine, enhance; ``on_progress(done, total)`` after each batch."""
        job = self.checked()  # before importing the pipeline (torch): refusals come at once
        from nightvid.streamer.decode import open_input
        from nightvid.streamer.pipeline import enhance_video

        container, info = open_input(job.src)  # the frame size for auto's trial; errors as enhance_video's
        container.close()
        engine = job.engine.build(frame_size=(info.height, info.width))
        return enhance_video(
            job.src,
            job.dst,
            engine,
            batch=job.batch,
            overwrite=job.overwrite,
            keep_partial=job.keep_partial,
            strict=job.strict,
            stabilize=job.stabilize,
            temporal=job.temporal // 2,
            tile=parse_tile(job.tile),
            encode=job.encode,
            on_progress=on_progress,
        )
