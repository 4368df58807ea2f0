"""What the preview shows: original and enhanced composed into one view, and the overlay text."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from nightvid.errors import NightvidError

__all__ = ["LAYOUTS", "MIN_VIEW_WIDTH", "check_layout", "compose", "draw_overlay"]

#: Small frames are shown enlarged (nearest neighbour) to at least this many pixels wide.
MIN_VIEW_WIDTH = 640
LAYOUTS = ("side", "split")


def check_layout(layout: str) -> None:
    """A NightvidError unless ``layout`` is one of ``LAYOUTS``."""
    if layout not in LAYOUTS:
        raise NightvidError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")


def compose(
    original: np.ndarray,
    enhanced: np.ndarray,
    *,
    layout: str = "side",
    split: float = 0.5,
    min_width: int = MIN_VIEW_WIDTH,
) -> np.ndarray:
    """Original and enhanced uint8 ``(H, W, 3)`` frames -> one view, same channel order.

    ``side``: original left, enhanced right (``(H, 2W, 3)``); ``split``: one frame, the
    original left of ``split * W`` and the enhanced right of it, with a divider line.
    Views narrower than ``min_width`` are enlarged by a whole factor (nearest), and sizes
    are padded to even numbers so that 4:2:0 recordings need no resizing.

    Example:
        >>> a, b = np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)
        >>> compose(a, b).shape, compose(a, b, layout="split", min_width=0).shape
        ((240, 640, 3), (48, 64, 3))
    """
    check_layout(layout)
    if enhanced.shape != original.shape:
        enhanced = cv2.resize(enhanced, (original.shape[1], original.shape[0]))
    if layout == "side":
        view = np.concatenate([original, enhanced], axis=1)
    else:
        view = enhanced.copy()
        cut = int(round(split * original.shape[1]))
        view[:, :cut] = original[:, :cut]
        if 0 < cut < view.shape[1]:
            view[:, max(cut - 1, 0) : cut + 1] = 255
    factor = math.ceil(min_width / view.shape[1]) if view.shape[1] < min_width else 1
    if factor > 1:
        view = cv2.resize(view, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    pad_h, pad_w = view.shape[0] % 2, view.shape[1] % 2
    if pad_h or pad_w:
        view = cv2.copyMakeBorder(view, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(view)


def draw_overlay(
    view: np.ndarray, lines: Sequence[str], *, labels: tuple[str, str] | None = None, split: float = 0.5
) -> np.ndarray:
    """Draw ``lines`` top left and the two ``labels`` at the bottom of each part, in place."""
    height, width = view.shape[:2]
    scale = min(1.0, max(0.4, height / 700))
    thick = 1 if scale < 0.7 else 2
    step = int(28 * scale) + 4

    def text(s: str, x: int, y: int) -> None:
        cv2.putText(view, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(view, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)

    for i, line in enumerate(lines):
        text(line, 8, step * (i + 1))
    if labels is not None:
        text(labels[0], 8, height - 8)
        text(labels[1], int(width * split) + 8, height - 8)
    return view
