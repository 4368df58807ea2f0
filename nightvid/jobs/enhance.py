"""One video through one engine: every option checked before anything is opened or built."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nightvid.errors import NightvidError
from nightvid.streamer.encode_options import EncodeOptions

if TYPE_CHECKING:  # torch and PyAV load only when a job runs
    from nightvid.engines.base import Engine
    from nightvid.streamer.pipeline import EnhanceSummary, ProgressCallback

__all__ = ["MIN_TILE", "EngineChoice", "EnhanceJob", "check_counts", "parse_tile"]

#: The smallest fixed tile: tiles overlap by at least 32 px, and a net needs room inside.
MIN_TILE = 64


def parse_tile(text: str | int | None) -> int | str | None:
    """``--tile``: ``"auto"``, 0 (never: None) or a side of at least ``MIN_TILE`` px."""
    text = "0" if text is None else str(text)
    if text == "auto":
        return "auto"
    if text.isdigit() and (int(text) == 0 or int(text) >= MIN_TILE):
        return int(text) or None
    raise NightvidError(f"--tile takes auto, 0 (never) or a size of at least {MIN_TILE} px; got {text!r}")


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
        """The checks that need no torch: counts and the exposure range."""
        from nightvid.nets import check_exposure

        check_counts(workers=self.workers)
        check_exposure(self.exposure)

    def build(self) -> Engine:
        from nightvid.engines import create_engine

        return create_engine(
            self.model,
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
    #: If ``src`` is corrupt part-way, keep the frames decoded before the damage.
    keep_partial: bool = False
    #: Smooth the output brightness over time (``streamer.stabilise``).
    stabilize: bool = False
    #: ``"auto"``, a tile side in px, or 0 (never); see ``parse_tile``.
    tile: str | int = "auto"

    def checked(self) -> EnhanceJob:
        """This job with every option checked and ``codec="auto"`` resolved; opens and builds nothing.

        Raises NightvidError with a one-line reason for the first bad option.
        """
        from nightvid.streamer.decode import check_input
        from nightvid.streamer.encode import check_encoding
        from nightvid.streamer.target import check_output

        check_counts(batch=self.batch)
        self.engine.check()
        check_input(self.src)
        check_output(self.src, self.dst, overwrite=self.overwrite)
        parse_tile(self.tile)
        return replace(self, encode=check_encoding(self.encode, self.dst))

    def run(self, on_progress: ProgressCallback | None = None) -> EnhanceSummary:
        """Check, build the engine, enhance; ``on_progress(done, total)`` after each batch."""
        from nightvid.streamer.pipeline import enhance_video

        job = self.checked()
        engine = job.engine.build()
        return enhance_video(
            job.src,
            job.dst,
            engine,
            batch=job.batch,
            overwrite=job.overwrite,
            keep_partial=job.keep_partial,
            stabilize=job.stabilize,
            tile=parse_tile(job.tile),
            encode=job.encode,
            on_progress=on_progress,
        )
