"""No-reference figures of enhanced frames: what a person sees, as numbers.

Every figure takes RGB uint8 frames ``(H, W, 3)`` and needs no ground truth, so it can be
read on real night footage, where none exists. Luma is Rec. 709 on the 8-bit sRGB
values (``0.2126 R + 0.7152 G + 0.0722 B``), in 8-bit levels.

- ``mean_luma``: average brightness, 0-255. A well-exposed night scene sits around
  60-110; daylight-grey fog above 120.
- ``clipped``: share of pixels with a channel at 255 or above 254.5 after rounding:
  highlights blown out by the enhancement.
- ``colourfulness``: Hasler and Suesstrunk (2003): ``sqrt(sd_rg^2 + sd_yb^2) + 0.3
  sqrt(mean_rg^2 + mean_yb^2)`` with ``rg = R - G`` and ``yb = (R + G) / 2 - B``; about
  0-15 reads as grey or washed out, 30-60 as natural, above 80 as vivid.
- ``colour_vs_gain``: colourfulness divided by that of the input scaled by one global
  gain to the same mean luma (clamped). Below 1 the method lost colour that a plain
  brightening would have kept.
- ``noise``: Immerkaer's (1996) noise sigma, from the Laplacian-difference filter on
  luma, averaged over the flattest half of the frame's visible pixels (local luma 2-253,
  so black and blown areas, flat by construction, don't count; gradient below its
  median), in 8-bit levels: grain and codec blocks made visible.
- ``border_excess``: ``|mean(outer 1-px ring) - mean(ring 3-6 px in)| / mean_luma``: a
  bright or dark line around the frame that a net's padding can draw. Real content gives
  a few hundredths.
- ``flicker``: standard deviation of the frame-to-frame change of mean luma over a run
  of consecutive frames (0 for a steady clip); per-frame nets that react to content
  make it pulse.
- ``temporal_noise``: the mean over pixels of ``|Y(t+1) - Y(t)|`` between consecutive
  frames, divided by the mean luma: noise that boils from frame to frame. A plain gain
  leaves it as the input's; a static camera shows it best (motion adds to it).
- ``dark_detail``: high-frequency energy (mean absolute Laplacian of luma) in the
  darkest third of the input's pixels, divided by that of the input gained to the same
  mean: above 1 the enhancement kept or sharpened the dark parts' structure (or their
  noise), well below 1 it painted them flat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "FIGURES",
    "border_excess",
    "clipped",
    "colour_vs_gain",
    "colourfulness",
    "dark_detail",
    "flicker",
    "luma",
    "mean_luma",
    "noise_sigma",
    "temporal_noise",
]

_REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)

#: The per-frame figures, in report order (``flicker`` and ``temporal_noise`` are over a run of frames).
FIGURES = ("mean_luma", "clipped", "colourfulness", "colour_vs_gain", "noise", "border_excess", "dark_detail")


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of uint8 RGB ``(H, W, 3)`` as float32 ``(H, W)`` in 8-bit levels."""
    return rgb.astype(np.float32) @ _REC709


def mean_luma(rgb: np.ndarray) -> float:
    """Average Rec. 709 luma, 0-255.

    Example:
        >>> mean_luma(np.full((2, 2, 3), 100, np.uint8))
        100.0
    """
    return round(float(luma(rgb).mean()), 4)


def clipped(rgb: np.ndarray) -> float:
    """Share of pixels with at least one channel at 255."""
    return float((rgb >= 255).any(axis=-1).mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of uint8 RGB (0 for any grey image).

    Example:
        >>> colourfulness(np.full((4, 4, 3), 128, np.uint8))
        0.0
    """
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def colour_vs_gain(output: np.ndarray, source: np.ndarray) -> float:
    """``colourfulness(output)`` over that of ``source`` gained to ``output``'s mean luma.

    NaN when the reference has no colour at all (a grey or black input).
    """
    level = luma(source).mean()
    gain = mean_luma(output) / max(float(level), 1e-3)
    reference = np.clip(source.astype(np.float32) * gain, 0, 255).round().astype(np.uint8)
    base = colourfulness(reference)
    return colourfulness(output) / base if base > 1e-6 else float("nan")


def noise_sigma(rgb: np.ndarray) -> float:
    """Immerkaer's noise sigma of luma over the flattest half of the visible pixels (8-bit levels).

    The filter ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]`` cancels planes and smooth
    ramps, so what it leaves is noise; edges also leave a response, which is why only
    the half of the pixels with the lowest gradient (Sobel on a 9x9-blurred luma) count.
    Pixels whose blurred luma is below 2 or above 253 are left out: crushed black and
    blown white are flat because they are clipped, not because they are clean.
    ``sigma = sqrt(pi / 2) / 6 * mean(|response|)``; 0 when under 1% of the frame is visible.
    """
    y = luma(rgb)
    if min(y.shape) < 3:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = np.abs(cv2.filter2D(y, -1, kernel, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    smooth = cv2.GaussianBlur(y, (9, 9), 0)
    grad = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))[1:-1, 1:-1]
    visible = ((smooth > 2) & (smooth < 253))[1:-1, 1:-1]
    if visible.mean() < 0.01:
        return 0.0
    candidates = response[visible], grad[visible]
    flattest = np.argsort(candidates[1], kind="stable")[: max(1, candidates[1].size // 2)]
    return float(math.sqrt(math.pi / 2) / 6 * candidates[0][flattest].mean())


def border_excess(rgb: np.ndarray, inner: tuple[int, int] = (3, 6)) -> float:
    """``|mean(outer ring) - mean(rings inner[0]..inner[1] px in)| / mean luma``.

    The outer ring is the frame's outermost row and column of pixels on every side;
    the inner band is the rings ``inner[0]`` to ``inner[1]`` pixels in. 0 for frames too
    small to have both, or black ones.

    Example:
        >>> frame = np.full((32, 32, 3), 50, np.uint8); frame[0, :] = 250
        >>> round(border_excess(frame), 3)
        0.918
    """
    y = luma(rgb)
    h, w = y.shape
    if min(h, w) <= 2 * inner[1] + 2 or y.mean() <= 1e-6:
        return 0.0

    def ring(k: int) -> np.ndarray:
        return np.concatenate(
            [y[k, k : w - k], y[h - 1 - k, k : w - k], y[k + 1 : h - 1 - k, k], y[k + 1 : h - 1 - k, w - 1 - k]]
        )

    outer = ring(0).mean()
    band = np.concatenate([ring(k) for k in range(inner[0], inner[1] + 1)]).mean()
    return float(abs(outer - band) / y.mean())


def flicker(frames: Sequence[np.ndarray]) -> float | None:
    """Std of the frame-to-frame change of mean luma over consecutive ``frames`` (None if < 3).

    Example:
        >>> flicker([np.full((2, 2, 3), v, np.uint8) for v in (10, 20, 30, 40)])
        0.0
    """
    if len(frames) < 3:
        return None
    levels = np.array([luma(f).mean() for f in frames], dtype=np.float64)
    return float(np.diff(levels).std())


def temporal_noise(frames: Sequence[np.ndarray]) -> float | None:
    """Mean ``|dY|`` between consecutive ``frames`` over their mean luma (None if < 2 frames).

    Example:
        >>> still = [np.full((4, 4, 3), 50, np.uint8)] * 3
        >>> temporal_noise(still)
        0.0
    """
    if len(frames) < 2:
        return None
    levels = [luma(f) for f in frames]
    change = np.mean([np.abs(b - a).mean() for a, b in zip(levels, levels[1:], strict=False)])
    return float(change / max(np.mean([y.mean() for y in levels]), 1e-6))


def dark_detail(output: np.ndarray, source: np.ndarray) -> float:
    """Laplacian energy of ``output`` in ``source``'s darkest third over that of ``source`` gained to the same mean.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> dark = rng.integers(0, 30, (32, 32, 3)).astype(np.uint8)
        >>> round(dark_detail(np.clip(dark.astype(int) * 3, 0, 255).astype(np.uint8), dark), 2)
        1.0
    """
    y_in, y_out = luma(source), luma(output)
    mask = y_in <= np.quantile(y_in, 1 / 3)
    gain = y_out.mean() / max(y_in.mean(), 1e-6)
    gained = np.clip(y_in * gain, 0, 255)
    energy_out = np.abs(cv2.Laplacian(y_out, cv2.CV_32F))[mask].mean()
    energy_in = np.abs(cv2.Laplacian(gained, cv2.CV_32F))[mask].mean()
    return float(energy_out / max(energy_in, 1e-6))
