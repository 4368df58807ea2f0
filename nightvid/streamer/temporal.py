"""Temporal noise reduction: each frame fused with its motion-aligned neighbours.

Per-frame nets brighten sensor and codec noise with the picture, and it boils from
frame to frame. Neighbouring frames see the same scene with independent noise, so each
enhanced frame is averaged with its ``radius`` neighbours on either side after they are
aligned to it (OpenCV's DIS optical flow on half-size luma, then ``cv2.remap``). Where
the alignment fails (a car that moved differently, an occlusion, a scene cut) the
aligned neighbour differs from the frame by more than noise, and its weight falls to
zero there, so moving things keep their edges instead of ghosting.

The weight of a neighbour at a pixel is ``exp(-(d / tau)^2)`` where ``d`` is the
difference of the two after a 5x5 box mean (noise averages out of it, structure does
not) and ``tau`` follows the frame's own noise, measured as the robust spread of the
difference between the frame and its aligned neighbours. Frames stream through a ring
buffer: each leaves ``radius`` frames later with its pts untouched; the first and last
frames are fused with the neighbours they have.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["TemporalFilter", "fuse", "temporal_frames"]

#: Box size of the difference that decides a neighbour's weight.
_BOX = 5
#: A neighbour counts where its box-mean difference is under about this many noise sigmas of that mean.
_STRENGTH = 3.0
#: Lowest noise sigma assumed (8-bit levels): the codec's rounding.
_MIN_SIGMA = 0.6


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


@dataclass
class _Flow:
    """DIS optical flow on frames scaled down by ``scale`` (fast, and steadier on noise)."""

    scale: int = 2

    def __post_init__(self) -> None:
        self._grid: tuple[np.ndarray, np.ndarray] | None = None  # pixel coordinates, made once per size
        # OpenCV's type stubs leave out the DIS factory
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)  # type: ignore[attr-defined]

    def warp_to(self, centre_luma: np.ndarray, other_luma: np.ndarray, other: np.ndarray) -> np.ndarray:
        """``other`` moved onto ``centre``: ``out(x) = other(x + flow(x))``."""
        h, w = centre_luma.shape
        small = (max(8, w // self.scale), max(8, h // self.scale))
        a = cv2.resize(centre_luma, small, interpolation=cv2.INTER_AREA)
        b = cv2.resize(other_luma, small, interpolation=cv2.INTER_AREA)
        flow = self._dis.calc(a, b, None)
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / small[0]
        flow[..., 1] *= h / small[1]
        if self._grid is None or self._grid[0].shape != (h, w):
            self._grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        grid_x, grid_y = self._grid
        return cv2.remap(
            other, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )


def fuse(centre: np.ndarray, aligned: list[np.ndarray]) -> np.ndarray:
    """``centre`` (RGB uint8) averaged with its ``aligned`` neighbours where they agree with it.

    Example:
        >>> still = np.full((32, 32, 3), 100, np.uint8)
        >>> int(fuse(still, [still + 2, still - 2]).mean())
        100
    """
    if not aligned:
        return centre
    base = centre.astype(np.float32)
    centre_luma = _luma(centre).astype(np.float32)
    centre_box = cv2.blur(centre_luma, (_BOX, _BOX))
    lumas = [_luma(a).astype(np.float32) for a in aligned]
    residuals = [luma - centre_luma for luma in lumas]
    # the noise of one frame from the spread of frame-to-neighbour differences (sqrt 2 of it)
    spread = np.median(np.abs(np.concatenate([r[::2, ::2].ravel() for r in residuals])))
    sigma = max(_MIN_SIGMA, 1.4826 * float(spread) / np.sqrt(2.0))
    tau = _STRENGTH * sigma * np.sqrt(2.0) / _BOX + 0.5
    total = base.copy()
    weights = np.ones(base.shape[:2], np.float32)
    for neighbour, luma in zip(aligned, lumas, strict=True):
        d = cv2.blur(luma, (_BOX, _BOX)) - centre_box
        w = np.exp(-np.square(d / tau))
        total += neighbour.astype(np.float32) * w[..., None]
        weights += w
    return np.clip(total / weights[..., None] + 0.5, 0, 255).astype(np.uint8)


class TemporalFilter:
    """Fuses each pushed frame with ``radius`` aligned neighbours on either side.

    ``push(frame, pts)`` returns the frames that are ready (``radius`` behind);
    ``flush()`` returns the rest at the end. Frames come out in order with their pts.
    """

    def __init__(self, radius: int = 1) -> None:
        if radius < 1:
            raise ValueError(f"radius must be at least 1, got {radius}")
        self.radius = radius
        self._flow = _Flow()
        self._frames: deque[tuple[np.ndarray, object, np.ndarray]] = deque()  # (rgb, pts, luma)
        self._next = 0  # index in _frames of the next frame to emit

    def push(self, frame: np.ndarray, pts: object) -> list[tuple[np.ndarray, object]]:
        self._frames.append((frame, pts, _luma(frame)))
        ready = []
        while self._next < len(self._frames) - self.radius:
            ready.append(self._emit())
        return ready

    def flush(self) -> list[tuple[np.ndarray, object]]:
        ready = []
        while self._next < len(self._frames):
            ready.append(self._emit())
        self._frames.clear()
        self._next = 0
        return ready

    def _emit(self) -> tuple[np.ndarray, object]:
        index = self._next
        frame, pts, luma = self._frames[index]
        if frame.dtype != np.uint8 or frame.ndim != 3:
            out = frame  # deep video passes through (the filter works on 8-bit frames)
        else:
            lo, hi = max(0, index - self.radius), min(len(self._frames), index + self.radius + 1)
            aligned = [
                self._flow.warp_to(luma, self._frames[j][2], self._frames[j][0]) for j in range(lo, hi) if j != index
            ]
            out = fuse(frame, aligned)
        self._next += 1
        while self._next > self.radius:  # frames no later frame needs any more
            self._frames.popleft()
            self._next -= 1
        return out, pts


def temporal_frames(frames: Iterable[tuple[np.ndarray, object]], radius: int) -> Iterator[tuple[np.ndarray, object]]:
    """``(frame, pts)`` pairs through a ``TemporalFilter`` (``radius`` 0: unchanged)."""
    if radius == 0:
        yield from frames
        return
    fil = TemporalFilter(radius)
    for frame, pts in frames:
        yield from fil.push(frame, pts)
    yield from fil.flush()
