"""Every wrapper a frame may pass through on its way through an engine, by name.

From the outside in (``engines.base`` lists the steps of ``Engine.submit``):

- ``tiled`` (Engine -> Engine): frames too large for memory run in overlapping tiles;
  applied by ``create_engine`` from ``EngineSpec.tile``, the last thing done to an engine.
- ``padded`` (submit -> submit, in ``engines.base``): frames under ``MIN_SIDE`` padded
  up to it; every engine runs it, so it is not applied here but named here.
- ``guarded`` (fn -> fn): a compiled engine's ``fn`` refuses, or runs eagerly, the
  batches outside the shape range it was compiled for; applied by ``create_engine``
  before the engine exists.

The padding of a frame to a net's ``size_multiple`` is no wrapper: it is inside the
module (``nets.Enhancer.forward``), so an exported artifact pads by itself.

Example:
    >>> import numpy as np, torch
    >>> engine = Engine(fn=lambda x: x, backend="eager", device=torch.device("cpu"))
    >>> tiled(engine, None) is engine, tiled(engine, 64).details["tile"]
    (True, '64')
    >>> int(tiled(engine, 64).enhance_frames(np.full((1, 100, 150, 3), 7, np.uint8)).max())
    7
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from torch import Tensor

from nightvid.engines.base import Engine, padded
from nightvid.engines.shapes import ShapeRange
from nightvid.engines.tiling import auto_tile, enhance_tiled, overlap_for
from nightvid.errors import NightvidError

__all__ = ["guarded", "padded", "tiled"]

log = logging.getLogger(__name__)

Fn = Callable[[Tensor], Tensor]


def tiled(engine: Engine, tile: int | str | None) -> Engine:
    """``engine``, running frames in overlapping tiles as ``tile`` says (``EngineSpec.tile``).

    Why: a frame whose working memory does not fit (KinD, the denoiser and LEDNet need
    1.8-3.9 KB a pixel) would fail or swap. ``tile``: None or 0 never tiles (``engine``
    itself); a side in px always runs that copy (``details["tile"]``); ``"auto"`` decides
    per frame size at the first batch of that size (``Engine.sized``, ``tiling.auto_tile``:
    only when the frames run at once would need more than half the free memory), and
    keeps the decision for the engine's life, so every video of one size it runs is tiled
    alike.

    Keeps ``controls`` (shared). The 8-bit shortcut (``frames_fn``) is dropped by a copy
    that tiles, since each tile must reach ``fn`` as a float batch, and kept for the frame
    sizes ``"auto"`` does not tile, which run as ``engine`` does.
    """
    if tile in (None, 0, "0"):
        return engine
    if tile == "auto":
        return replace(engine, for_size=_auto_tiles)
    return _in_tiles(engine, int(tile))


def _in_tiles(engine: Engine, side: int) -> Engine:
    """A copy of ``engine`` whose ``fn`` runs every batch in ``side`` px tiles."""
    inner, overlap = engine.fn, overlap_for(side)

    def run(x: Tensor) -> Tensor:
        return enhance_tiled(inner, x, tile=side, overlap=overlap)

    # frames_fn dropped: it would run the whole frame at once, which is what tiles avoid
    return engine.with_fn(run, frames_fn=None, tile=str(side))


def _auto_tiles(whole: Engine, height: int, width: int) -> Engine:
    """``Engine.for_size`` of ``tiled(engine, "auto")``: ``whole`` (the engine untiled) or a
    copy of it in the tiles ``tiling.auto_tile`` picks for frames of this size."""
    side = auto_tile(whole, height, width)
    return whole if side is None else _in_tiles(whole, side)


def guarded(fn: Fn, shape_range: ShapeRange, backend: str, fallback: Fn | None) -> Fn:
    """``fn`` for batches inside ``shape_range``; outside, a NightvidError or ``fallback``.

    Why: AOTInductor does not check an input's bounds itself and TensorRT rejects one
    with an opaque error. With an explicit backend the error names the shape, the range
    and the fix; with ``auto`` (``fallback``: the eager module) the batch runs eagerly,
    with one warning per new shape. Wraps ``fn`` before the engine exists, so it keeps
    whatever the engine is later made with (``frames_fn``, ``controls``).
    """
    warned: set[tuple[int, ...]] = set()

    def run(batch: Tensor) -> Tensor:
        if batch.dim() == 4 and shape_range.contains(tuple(batch.shape)):
            return fn(batch)
        shape = tuple(batch.shape)
        if fallback is None:
            raise NightvidError(
                f"input batch {shape} is outside the {backend} engine's compiled range "
                f"{shape_range} (BxHxW); compile a wider one with `nightvid compile --min/--max`, "
                f"or use --backend eager"
            )
        if shape not in warned:
            warned.add(shape)
            log.warning(
                "input batch %s is outside the %s engine's range %s; running it eagerly", shape, backend, shape_range
            )
        return fallback(batch)

    return run
