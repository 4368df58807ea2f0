"""Temporal noise reduction: each dark frame fused with its motion-aligned neighbours.

Per-frame nets brighten sensor and codec noise with the picture, and it boils from
frame to frame. Neighbouring frames see the same scene with independent noise, so each
decoded frame is averaged with the ``radius`` frames after it and, before it, the
filter's own previous output (recursive, as FFmpeg's ``hqdn3d`` is in time: that output
already averages many frames, so it weighs ``HISTORY`` raw frames), each aligned to it
(OpenCV's DIS optical flow on half-size luma, stretched so dark frames have contrast to
track, then ``cv2.remap``), *before* the net, in the dark input where the noise is: on
the synthetic night video set that takes a third more noise and 2-3x the SSIM gain of
the same fusion after the net, and the recursion takes NoiSER from +1.2 dB (three raw
frames) to +1.5-1.6 dB over no filter (docs/BENCHMARKS.md, "Temporal noise filter").
The fused frame keeps its fractions (16-bit out of an 8-bit input), so the net sees the
averaged dark levels rather than their rounding.

Where the alignment fails (a car that moved differently, an occlusion, a scene cut) the
aligned neighbour differs from the frame by more than noise, and its weight falls to
zero there, so moving things keep their edges instead of ghosting. The weight of a
neighbour at a pixel is ``exp(-(d / tau)^2)`` (times ``HISTORY`` for the previous
output) where ``d`` is the difference of the two after a 5x5 box mean (noise averages
out of it, structure does not) and ``tau`` follows the frame's own noise, measured as
the robust spread of the difference between the frame and its raw neighbours. Frames
stream through a ring buffer: each leaves ``radius`` frames later with its pts
untouched; the first and last frames are fused with the neighbours they have. The
fusion runs in a native kernel (``kernels/temporal.cpp``), OpenCV's ops where no
compiler is found.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections import deque
from collections.abc import Collection, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

from nightvid.errors import NightvidError
from nightvid.native import load_kernel

__all__ = [
    "HISTORY",
    "HISTORY_LEAD",
    "CausalTemporalFilter",
    "TemporalFilter",
    "context_frames",
    "fuse",
    "fuse_deep",
    "temporal_frames",
    "temporal_items",
    "to_8bit",
    "to_deep",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Box size of the difference that decides a neighbour's weight.
_BOX = 5
#: A neighbour counts where its box-mean difference is under about this many noise sigmas of that mean.
_STRENGTH = 3.0
#: Lowest noise sigma assumed (8-bit levels): the codec's rounding.
_MIN_SIGMA = 0.6
#: Mean luma (8-bit levels) the flow's luma is stretched towards, at most ``_MAX_STRETCH``x:
#: DIS tracks texture, and a frame with a mean of 12 has little of it until stretched.
_FLOW_MEAN = 100.0
_MAX_STRETCH = 8.0
#: How much the filter's previous output weighs as a neighbour, against a raw frame's 1: it
#: averages several frames, so it is trusted more (on the night video set like the shared
#: clips, NoiSER: +1.5 dB over no filter where three raw frames gave +1.2; docs/BENCHMARKS.md).
HISTORY = 4.0
#: Frames read before a cut (a piece of ``enhance-many``, ``--start``) so that the recursive
#: filter's output there is a single pass's: an earlier frame's share falls each frame to
#: at most ``HISTORY / (HISTORY + 2)`` where the next frame agrees (under 0.2% after 16)
#: and ``HISTORY / (HISTORY + 1)`` where it does not (under 3%).
HISTORY_LEAD = 16
#: DIS needs 12 px on a side at its coarsest level; smaller frames are not aligned.
_MIN_FLOW_SIDE = 16


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Luma of an RGB frame in 8-bit levels, float32 (a 16-bit frame scaled down)."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)  # converted after: a third of the bytes
    return luma / 257.0 if rgb.dtype == np.uint16 else luma


def _flow_luma(luma: np.ndarray) -> np.ndarray:
    """8-bit luma for the optical flow, stretched when the frame is dark."""
    stretch = float(np.clip(_FLOW_MEAN / max(float(luma[::4, ::4].mean()), 1e-3), 1.0, _MAX_STRETCH))
    return cv2.convertScaleAbs(luma, alpha=stretch)


@dataclass
class _Flow:
    """DIS optical flow on frames scaled down by ``scale`` (fast, and steadier on noise)."""

    scale: int = 2

    def __post_init__(self) -> None:
        self._grid: np.ndarray | None = None  # (H, W, 2) pixel coordinates, made once per size
        # OpenCV's type stubs leave out the DIS factory
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)  # type: ignore[attr-defined]

    def small(self, flow_luma: np.ndarray) -> np.ndarray:
        """The flow's input for one frame, made once and reused for each pair it is in."""
        h, w = flow_luma.shape
        return cv2.resize(flow_luma, (max(8, w // self.scale), max(8, h // self.scale)), interpolation=cv2.INTER_AREA)

    def warp_to(self, centre_small: np.ndarray, other_small: np.ndarray, other: np.ndarray) -> np.ndarray:
        """``other`` moved onto the centre frame: ``out(x) = other(x + flow(x))``."""
        h, w = other.shape[:2]
        sh, sw = centre_small.shape
        if min(sh, sw) < _MIN_FLOW_SIDE:
            return other  # a thumbnail stream: too small to track, fused where it agrees
        flow = self._dis.calc(centre_small, other_small, None)
        # scaled on the small grid, resized, plus each pixel's own coordinates: the sampling
        # map, in OpenCV's fixed point (1/32 px) that remap would convert a float map to anyway
        flow = cv2.resize(cv2.multiply(flow, (w / sw, h / sh, 0, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
        if self._grid is None or self._grid.shape[:2] != (h, w):
            self._grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        # OpenCV's type stubs do not allow the absent second map
        xy, fractions = cv2.convertMaps(cv2.add(flow, self._grid), None, cv2.CV_16SC2)  # type: ignore[call-overload]
        return cv2.remap(other, xy, fractions, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _weight_inputs(
    centre_luma: np.ndarray, lumas: list[np.ndarray], strengths: list[float]
) -> tuple[list[np.ndarray], float]:
    """The 5x5 box means of the centre's and the neighbours' lumas (the centre's first),
    and ``tau`` of the weight ``exp(-(d / tau)^2)``: it follows the frame's noise, from the
    robust spread of the differences between the frame and its raw neighbours (strength 1;
    ``sqrt(2)`` times one frame's), or the previous output where there is no other."""
    raw = [luma for luma, strength in zip(lumas, strengths, strict=True) if strength == 1.0] or lumas
    spread = np.median(np.abs(np.concatenate([(luma[::3, ::3] - centre_luma[::3, ::3]).ravel() for luma in raw])))
    sigma = max(_MIN_SIGMA, 1.4826 * float(spread) / np.sqrt(2.0))
    tau = _STRENGTH * sigma * np.sqrt(2.0) / _BOX + 0.5
    return [cv2.blur(luma, (_BOX, _BOX)) for luma in (centre_luma, *lumas)], tau


def _level(frame: np.ndarray) -> float:
    """What one level of ``frame`` is on the 16-bit scale."""
    return 1.0 if frame.dtype == np.uint16 else 257.0


def fuse(
    centre: np.ndarray,
    aligned: list[np.ndarray],
    centre_luma: np.ndarray | None = None,
    strengths: list[float] | None = None,
) -> np.ndarray:
    """``centre`` (RGB) averaged with its ``aligned`` neighbours where they agree with it,
    as float32 on the centre's own scale (0-255 for 8-bit frames, 0-65535 for 16-bit).
    A neighbour may be deeper than the centre (the filter's previous output, 16-bit);
    ``strengths`` scale each neighbour's weight (default 1). ``centre_luma``: its
    ``_luma`` when the caller has it already. OpenCV's ops; the streaming filter runs the
    native kernel of the same arithmetic (:func:`fuse_deep`).

    Example:
        >>> still = np.full((32, 32, 3), 100, np.uint8)
        >>> round(float(fuse(still, [still + 2, still - 2]).mean()), 3)
        100.0
    """
    base = centre.astype(np.float32)
    if not aligned:
        return base
    strengths = [1.0] * len(aligned) if strengths is None else strengths
    # OpenCV's vectorised, threaded ops throughout: numpy's took 40 ms a 720p frame
    centre_luma = _luma(centre) if centre_luma is None else centre_luma
    boxes, tau = _weight_inputs(centre_luma, [_luma(a) for a in aligned], strengths)
    total = base
    weights = np.ones(base.shape[:2], np.float32)
    for neighbour, box, strength in zip(aligned, boxes[1:], strengths, strict=True):
        d = cv2.subtract(box, boxes[0])
        w = cv2.multiply(cv2.exp(cv2.multiply(d, d, scale=-1.0 / tau**2)), strength)
        levels = cv2.multiply(neighbour.astype(np.float32), _level(neighbour) / _level(centre))
        cv2.accumulateProduct(levels, cv2.cvtColor(w, cv2.COLOR_GRAY2RGB), total)
        cv2.accumulate(w, weights)
    return cv2.divide(total, cv2.cvtColor(weights, cv2.COLOR_GRAY2RGB))


_U16 = ctypes.POINTER(ctypes.c_uint16)
_PTRS = ctypes.POINTER(ctypes.c_void_p)


@functools.cache
def _kernel() -> ctypes.CDLL | None:
    """The native fusion (``kernels/temporal.cpp``), or None where it cannot be built
    (no C++ compiler): the filter then fuses with OpenCV, the same output, slower."""
    try:
        lib = load_kernel("temporal")
    except NightvidError as err:
        log.info("temporal filter: %s; fusing with OpenCV instead (slower)", err)
        return None
    lib.nv_temporal_fuse.argtypes = [ctypes.c_void_p, ctypes.c_int, _PTRS, ctypes.POINTER(ctypes.c_int)]
    lib.nv_temporal_fuse.argtypes += [ctypes.POINTER(ctypes.c_float), _PTRS, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.nv_temporal_fuse.argtypes += [ctypes.c_float, _U16]
    lib.nv_temporal_fuse.restype = ctypes.c_int
    return lib


def _pointers(arrays: list[np.ndarray]) -> ctypes.Array[ctypes.c_void_p]:
    return (ctypes.c_void_p * max(1, len(arrays)))(*(a.ctypes.data for a in arrays))


def fuse_deep(
    centre: np.ndarray,
    aligned: list[np.ndarray],
    centre_luma: np.ndarray | None = None,
    strengths: list[float] | None = None,
    *,
    native: bool = True,
) -> np.ndarray:
    """``to_deep(fuse(centre, aligned, centre_luma, strengths))`` in one native pass where
    the kernel builds (``native=False``: OpenCV's ops, the reference the kernel is tested
    against)."""
    depths = (np.uint8, np.uint16)
    usable = native and bool(aligned) and all(f.dtype in depths for f in (centre, *aligned))
    lib = _kernel() if usable else None
    if lib is None or len(aligned) > lib.nv_temporal_max_neighbours():
        return to_deep(fuse(centre, aligned, centre_luma, strengths), centre.dtype)
    strengths = [1.0] * len(aligned) if strengths is None else strengths
    centre_luma = _luma(centre) if centre_luma is None else centre_luma
    boxes, tau = _weight_inputs(centre_luma, [_luma(a) for a in aligned], strengths)
    frames = [np.ascontiguousarray(f) for f in (centre, *aligned)]
    height, width = centre.shape[:2]
    out = np.empty((height, width, 3), np.uint16)
    code = lib.nv_temporal_fuse(
        frames[0].ctypes.data,
        int(centre.dtype == np.uint16),
        _pointers(frames[1:]),
        (ctypes.c_int * len(aligned))(*(int(f.dtype == np.uint16) for f in aligned)),
        (ctypes.c_float * len(aligned))(*strengths),
        _pointers(boxes),
        len(aligned),
        height,
        width,
        1.0 / tau**2,
        out.ctypes.data_as(_U16),
    )
    assert code == 0, f"nv_temporal_fuse failed on a {height}x{width} frame"
    return out


def to_deep(fused: np.ndarray, source_dtype: np.dtype) -> np.ndarray:
    """A fused frame as 16-bit RGB (full 16-bit scale), whatever the source's depth."""
    scale = 257.0 if source_dtype == np.uint8 else 1.0
    # a weighted mean of in-range frames is in range: no clip needed
    return cv2.add(cv2.multiply(fused, scale), 0.5).astype(np.uint16)


def to_8bit(frames: np.ndarray) -> np.ndarray:
    """16-bit RGB frames (any shape) back to 8-bit, rounded: ``(v * 255 + 32767) // 65535``,
    which OpenCV's saturating scale gives exactly for every 16-bit value, ten times faster
    than numpy's integer arithmetic.

    Example:
        >>> to_8bit(np.array([[0, 128, 129, 65535]], np.uint16)).tolist()
        [[0, 0, 1, 255]]
    """
    flat = np.ascontiguousarray(frames).reshape(-1, frames.shape[-1] if frames.ndim > 1 else 1)
    return cv2.convertScaleAbs(flat, alpha=255.0 / 65535.0).reshape(frames.shape)


@dataclass(frozen=True)
class _Seen:
    """A frame with what the filter takes from it once: its luma and its flow input."""

    rgb: np.ndarray
    luma: np.ndarray
    small: np.ndarray


def _see(flow: _Flow, frame: np.ndarray) -> _Seen:
    luma = _luma(frame)
    return _Seen(frame, luma, flow.small(_flow_luma(luma)))


def _fused(
    flow: _Flow, centre: _Seen, neighbours: Iterable[_Seen], history: _History | None, strength: float
) -> np.ndarray:
    """``centre`` fused with ``neighbours`` and the filter's previous output (``history``,
    weighing ``strength``) aligned to it, as 16-bit RGB (``to_deep``)."""
    aligned = [flow.warp_to(centre.small, other.small, other.rgb) for other in neighbours]
    strengths = [1.0] * len(aligned)
    if history is not None and history.output.shape == centre.rgb.shape:
        aligned.append(flow.warp_to(centre.small, history.seen.small, history.output))
        strengths.append(strength)
    return fuse_deep(centre.rgb, aligned, centre.luma, strengths)


@dataclass(frozen=True)
class _History:
    """The filter's previous output and the frame it was made from (its flow input)."""

    output: np.ndarray
    seen: _Seen


def context_frames(radius: int, history: float = HISTORY) -> tuple[int, int]:
    """How many frames before and after a cut a piece must read for the filter to fuse its
    frames as one pass would: ``radius`` after; before, ``radius``, or ``HISTORY_LEAD`` when
    the previous output is a neighbour (what came before fades out of it)."""
    if radius < 1:
        return 0, 0
    return (HISTORY_LEAD if history > 0 else radius), radius


class TemporalFilter(Generic[T]):
    """Fuses each pushed frame with ``radius`` aligned neighbours on either side.

    The neighbours before it are the filter's previous output (recursive: it holds many
    earlier frames at the cost of one), weighing ``history`` times a raw frame, or, with
    ``history=0``, the ``radius`` raw frames before it. ``push(frame, pts)`` returns the
    frames that are ready (``radius`` behind); ``flush()`` returns the rest at the end.
    Frames come out in order with their pts, as 16-bit RGB (``to_deep``), so the averaged
    levels keep their fractions.
    """

    def __init__(self, radius: int = 1, history: float = HISTORY) -> None:
        if radius < 1:
            raise ValueError(f"radius must be at least 1, got {radius}")
        self.radius = radius
        self.history = history
        self._flow = _Flow()
        self._frames: deque[tuple[_Seen, T]] = deque()
        self._next = 0  # index in _frames of the next frame to emit
        self._last: _History | None = None

    def push(self, frame: np.ndarray, pts: T) -> list[tuple[np.ndarray, T]]:
        self._frames.append((_see(self._flow, frame), pts))
        ready = []
        while self._next < len(self._frames) - self.radius:
            ready.append(self._emit())
        return ready

    def flush(self) -> list[tuple[np.ndarray, T]]:
        ready = []
        while self._next < len(self._frames):
            ready.append(self._emit())
        self._frames.clear()
        self._next = 0
        self._last = None
        return ready

    def _emit(self) -> tuple[np.ndarray, T]:
        index = self._next
        centre, pts = self._frames[index]
        lo = index + 1 if self.history > 0 else max(0, index - self.radius)
        hi = min(len(self._frames), index + self.radius + 1)
        neighbours = (self._frames[j][0] for j in range(lo, hi) if j != index)
        out = _fused(self._flow, centre, neighbours, self._last if self.history > 0 else None, self.history)
        self._last = _History(out, centre)
        self._next += 1
        while self._next > self.radius:  # frames no later frame needs any more
            self._frames.popleft()
            self._next -= 1
        return out, pts


class CausalTemporalFilter:
    """The live form (``preview``): each frame fused with what came before it only, so
    nothing waits for frames to come: the previous output (weighing ``history``) and the
    frame before, or, with ``history=0``, the ``2 * radius`` frames before."""

    def __init__(self, radius: int = 1, history: float = HISTORY) -> None:
        if radius < 1:
            raise ValueError(f"radius must be at least 1, got {radius}")
        self.history = history
        self._flow = _Flow()
        self._past: deque[_Seen] = deque(maxlen=1 if history > 0 else 2 * radius)
        self._last: _History | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` fused with the frames before it, as 16-bit RGB (``to_deep``)."""
        seen = _see(self._flow, frame)
        if self._past and self._past[-1].rgb.shape != frame.shape:
            self._past.clear()  # a new source size: nothing to align with
            self._last = None
        out = _fused(self._flow, seen, self._past, self._last if self.history > 0 else None, self.history)
        self._past.append(seen)
        self._last = _History(out, seen)
        return out


def temporal_items(
    items: Generator[tuple[np.ndarray, T], None, R], radius: int, *, context: Collection[T] = ()
) -> Generator[tuple[np.ndarray, T], None, R]:
    """``(frame, tag)`` items through a ``TemporalFilter``, passing on the source's return value
    (the decode stage's "truncated"). Items tagged with one of ``context`` are neighbours
    only and are not passed on (the frames around one part of a long video)."""
    fil: TemporalFilter[T] = TemporalFilter(radius)
    while True:
        try:
            frame, tag = next(items)
        except StopIteration as end:
            ready = fil.flush()
            yield from ((f, t) for f, t in ready if t not in context)
            return end.value
        ready = fil.push(frame, tag)
        yield from ((f, t) for f, t in ready if t not in context)


def temporal_frames(frames: Iterable[tuple[np.ndarray, T]], radius: int) -> Iterator[tuple[np.ndarray, T]]:
    """``(frame, pts)`` pairs through a ``TemporalFilter`` (``radius`` 0: unchanged)."""
    if radius == 0:
        yield from frames
        return
    fil: TemporalFilter[T] = TemporalFilter(radius)
    for frame, pts in frames:
        yield from fil.push(frame, pts)
    yield from fil.flush()
