"""Temporal brightness stabilisation: per-frame nets flicker, this smooths their gain.

A per-frame net decides each frame's brightness on its own, so small changes in the
input (noise, a passing headlight) make the output's mean brightness jump from frame
to frame. ``BrightnessStabiliser`` tracks the output's mean luma with an exponential
moving average and rescales each frame towards it. The average restarts on a scene cut
(a large jump in the *input's* luma histogram), so a cut is followed immediately, with
no fade from the previous scene.

Flicker is measured by ``flicker``: the standard deviation of the frame-to-frame change
of mean luma (0-255 scale).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BrightnessStabiliser", "flicker", "mean_luma"]

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # BT.709 weights on RGB


def _peak(rgb: np.ndarray) -> float:
    return 65535.0 if rgb.dtype == np.uint16 else 255.0


def mean_luma(rgb: np.ndarray) -> float:
    """Mean luma of a uint8 or uint16 (H, W, 3) RGB frame, on a 0-255 scale (subsampled for speed)."""
    small = rgb[::4, ::4].astype(np.float32)
    return float(small.reshape(-1, 3).mean(axis=0) @ _LUMA) * 255.0 / _peak(rgb)


def _luma_histogram(rgb: np.ndarray, bins: int = 32) -> np.ndarray:
    small = rgb[::4, ::4].astype(np.float32) @ _LUMA
    hist, _ = np.histogram(small, bins=bins, range=(0, _peak(rgb) + 1))
    return hist / max(hist.sum(), 1)


def flicker(lumas: Iterable[float]) -> float:
    """Std of the frame-to-frame change of mean luma: 0 for a steady video."""
    values = np.asarray(list(lumas), np.float64)
    return float(np.std(np.diff(values))) if values.size > 2 else 0.0


@dataclass
class BrightnessStabiliser:
    """Rescale each enhanced frame towards a moving average of the output brightness.

    Args:
        strength: EMA weight of the past, in [0, 1). 0.8 smooths over roughly five frames.
        cut_threshold: total-variation distance between consecutive input luma
            histograms (0..1) above which a scene cut restarts the average.
        max_gain: bound on the correction, so a real brightness change is never fought.
    """

    strength: float = 0.8
    cut_threshold: float = 0.35
    max_gain: float = 1.5
    _average: float | None = field(default=None, init=False, repr=False)
    _last_hist: np.ndarray | None = field(default=None, init=False, repr=False)

    def is_cut(self, source: np.ndarray) -> bool:
        """True when ``source`` starts a new scene (and remembers it as the last frame)."""
        hist = _luma_histogram(source)
        cut = self._last_hist is not None and 0.5 * np.abs(hist - self._last_hist).sum() > self.cut_threshold
        self._last_hist = hist
        return bool(cut)

    def __call__(self, source: np.ndarray, enhanced: np.ndarray) -> np.ndarray:
        """Stabilised copy of ``enhanced`` (uint8 or uint16 RGB) given its ``source`` frame."""
        level = mean_luma(enhanced)
        if self.is_cut(source) or self._average is None:
            self._average = level
            return enhanced
        self._average = self.strength * self._average + (1.0 - self.strength) * level
        gain = float(np.clip(self._average / max(level, 1e-3), 1 / self.max_gain, self.max_gain))
        if abs(gain - 1.0) < 1e-3:
            return enhanced
        return np.clip(enhanced.astype(np.float32) * gain + 0.5, 0, _peak(enhanced)).astype(enhanced.dtype)
