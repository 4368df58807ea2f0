"""Frames too large for memory, run as overlapping tiles, and how large the tiles are.

``wrappers.tiled`` applies this to an engine where it is built (``create_engine``, from
``EngineSpec.tile``); ``auto_tile`` is its decision for ``"auto"``: tiles only when a
frame would need more than half the free memory, measured once per engine.

Every tile has the same shape (the last row and column are aligned to the frame's far
edge), so a compiled engine sees one shape. Tiles are blended with weights that are
zero within ``overlap / 4`` of an inner tile edge and ramp linearly to one across the
middle of the overlap: the pixels a net computes next to an artificial edge (where it
sees padding instead of the neighbouring content) never reach the output, as long as
``overlap / 4`` covers the net's effective receptive radius.

Nets with whole-frame statistics (NoiSER's instance norm, LEDNet's global pyramid
pooling bin, KinD's automatic exposure ratio, the Enhancer's exposure target and its
dimming of bright inputs) see per-tile statistics instead; use the
largest tiles that fit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from weakref import WeakKeyDictionary

import numpy as np
import torch
from torch import Tensor

from nightvid.engines.base import Engine
from nightvid.memory import PeakMemory, free_memory_bytes, release_freed_memory

log = logging.getLogger(__name__)

#: Side of the square frame used to measure an engine's memory per pixel.
PROBE_SIDE = 256
#: What ``bytes_per_pixel`` measured, per engine (held only as long as the engine lives).
_MEASURED: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()

__all__ = ["PROBE_SIDE", "auto_tile", "bytes_per_pixel", "enhance_tiled", "overlap_for", "plan_tile", "tile_starts"]


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``size`` with at least ``overlap``."""
    if size <= tile:
        return [0]
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    step = tile - overlap
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return starts


def _ramp(
    length: int, overlap: int, inner_before: bool, inner_after: bool, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """1-D weights of one tile along one axis."""
    pos = torch.arange(length, device=device, dtype=torch.float32) + 0.5
    weight = torch.ones(length, device=device, dtype=torch.float32)
    quarter, half = overlap / 4.0, max(overlap / 2.0, 1.0)
    if inner_before:
        weight = torch.minimum(weight, ((pos - quarter) / half).clamp(0, 1))
    if inner_after:
        weight = torch.minimum(weight, ((length - pos - quarter) / half).clamp(0, 1))
    return weight.to(dtype)


def enhance_tiled(fn: Callable[[Tensor], Tensor], x: Tensor, *, tile: int, overlap: int) -> Tensor:
    """Apply ``fn`` (image batch -> same shape) to ``x`` in blended ``tile``-sized tiles.

    Shape:
        ``x``: (B, C, H, W); returns the same shape and dtype.
    """
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return fn(x)
    th, tw = min(tile, height), min(tile, width)
    ys, xs = tile_starts(height, th, overlap), tile_starts(width, tw, overlap)
    out = torch.zeros_like(x, dtype=torch.float32)
    total = torch.zeros((height, width), device=x.device, dtype=torch.float32)
    for i, y0 in enumerate(ys):
        wy = _ramp(th, overlap, i > 0, i < len(ys) - 1, x.device, torch.float32)
        for j, x0 in enumerate(xs):
            wx = _ramp(tw, overlap, j > 0, j < len(xs) - 1, x.device, torch.float32)
            window = wy[:, None] * wx[None, :]
            y = fn(x[..., y0 : y0 + th, x0 : x0 + tw]).float()
            out[..., y0 : y0 + th, x0 : x0 + tw] += y * window
            total[y0 : y0 + th, x0 : x0 + tw] += window
    return (out / total).to(x.dtype)


def plan_tile(
    height: int,
    width: int,
    *,
    bytes_per_pixel: float,
    budget_bytes: float,
    max_side: int | None = None,
    multiple: int = 8,
    minimum: int = 128,
) -> int | None:
    """The tile side to use, or None when the whole frame fits the budget and ``max_side``.

    ``bytes_per_pixel`` is the engine's measured peak working memory per input pixel.
    """
    fits_memory = height * width * bytes_per_pixel <= budget_bytes
    fits_engine = max_side is None or (height <= max_side and width <= max_side)
    if fits_memory and fits_engine:
        return None
    side = int((budget_bytes / max(bytes_per_pixel, 1e-9)) ** 0.5)
    if max_side is not None:
        side = min(side, max_side)
    side = max(minimum, side // multiple * multiple)
    return side


def bytes_per_pixel(engine: Engine, probe: int = PROBE_SIDE) -> float:
    """Peak working memory of one ``probe`` x ``probe`` frame through ``engine``, per pixel.

    A compiled engine is probed with the frame nearest to that inside its shape range:
    outside it the range guard would refuse the frame, or run (and measure) eager.

    CUDA: the allocator's peak. CPU: the RSS peak over the call (sampled), after the
    freed heap is handed back to the kernel (the CPU engines keep freed memory for reuse,
    ``nightvid.memory``, which would otherwise hide the call's use). Sampling can miss
    a short peak, so it errs low; ``plan_tile`` budgets half of what is free.

    Measured once per engine and remembered here, by engine, while it lives: the probe
    costs two frames of inference (a second on CPU for the heavy nets), which repeated
    runs need not pay again.
    """
    known = _MEASURED.get(engine)
    if known is not None:
        return known
    height = width = probe
    if engine.shape_range is not None:
        low, high = engine.shape_range.min, engine.shape_range.max
        height, width = min(max(probe, low[1]), high[1]), min(max(probe, low[2]), high[2])
    frame = np.zeros((1, height, width, 3), np.uint8)
    engine.enhance_frames(frame)  # warm-up: first-call allocations are not per-pixel costs
    if engine.device.type == "cpu":
        release_freed_memory()
    with PeakMemory(engine.device) as memory:
        engine.enhance_frames(frame)
    used_mib = memory.gpu_mib if memory.gpu_mib is not None else memory.peak_mib - memory.start_mib
    measured = max(used_mib * 2**20, 1.0) / (height * width)
    _MEASURED[engine] = measured
    return measured


def overlap_for(side: int) -> int:
    """The overlap of ``side`` px tiles: a quarter of the tile (a multiple of 8), at least 32 px,
    so the ``overlap / 4`` that never reaches the output covers the nets' effective radius."""
    return max(32, side // 4 // 8 * 8)


def auto_tile(engine: Engine, height: int, width: int) -> int | None:
    """``--tile auto`` for ``height`` x ``width`` frames through ``engine``: the tile side, or
    None when the frames run at once fit in half the free memory (``bytes_per_pixel``).

    CPU workers each hold a frame's working memory at once (CUDA runs one at a time), so
    the budget is shared among them.
    """
    per_pixel = bytes_per_pixel(engine)
    budget = 0.5 * free_memory_bytes(engine.device) / engine.workers
    side = plan_tile(height, width, bytes_per_pixel=per_pixel, budget_bytes=budget)
    if side is not None:
        log.info(
            "tiling %dx%d frames in %d px tiles (%.0f bytes/px, %.1f GiB budget)",
            width,
            height,
            side,
            per_pixel,
            budget / 2**30,
        )
    return side
