"""Labelled contact sheets and side-by-side frames, drawn with OpenCV.

A sheet has a header row naming each column (the input, baselines, models) and one row
per frame, labelled with its time or file name; every cell is the frame scaled to one
width, so columns line up and a reader compares across a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from nightvid.errors import NightvidError

__all__ = ["SHEET_SUFFIXES", "check_sheet", "contact_sheet", "label_frame", "side_by_side", "write_png"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BACKGROUND = (24, 24, 24)
_TEXT = (235, 235, 235)


def _fit(rgb: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(rgb.shape[0] * width / rgb.shape[1]))
    if (height, width) == rgb.shape[:2]:
        return rgb
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def _text_band(text: str, width: int, height: int, scale: float) -> np.ndarray:
    band = np.full((height, width, 3), _BACKGROUND, np.uint8)
    thickness = 1
    (tw, th), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    while tw > width - 8 and scale > 0.3:  # shrink long labels to fit the cell
        scale *= 0.9
        (tw, th), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    cv2.putText(
        band, text, (max(4, (width - tw) // 2), (height + th) // 2), _FONT, scale, _TEXT, thickness, cv2.LINE_AA
    )
    return band


def label_frame(rgb: np.ndarray, text: str, *, scale: float = 0.5) -> np.ndarray:
    """``rgb`` with ``text`` on a dark band above it (same width)."""
    band = _text_band(text, rgb.shape[1], max(18, int(40 * scale)), scale)
    return np.concatenate([band, rgb], axis=0)


def contact_sheet(
    rows: Sequence[Sequence[np.ndarray]],
    columns: Sequence[str],
    row_labels: Sequence[str],
    *,
    cell_width: int = 320,
    gap: int = 4,
) -> np.ndarray:
    """A grid of RGB uint8 frames: ``rows[i][j]`` under ``columns[j]``, row ``i`` labelled.

    Shape:
        every frame ``(H_i, W_i, 3)``; frames of one row may differ in size (each is
        scaled to ``cell_width``, the row is as tall as its tallest). Output
        ``(H, W, 3)`` uint8.
    """
    if not rows or any(len(r) != len(columns) for r in rows) or len(row_labels) != len(rows):
        raise NightvidError("a contact sheet needs one label per row and one frame per column in every row")
    label_width = 110
    header = [_text_band("", label_width, 30, 0.55)] + [_text_band(c, cell_width, 30, 0.55) for c in columns]
    lines = [_hstack(header, gap)]
    for label, frames in zip(row_labels, rows, strict=False):
        cells = [_fit(f, cell_width) for f in frames]
        height = max(c.shape[0] for c in cells)
        cells = [np.pad(c, ((0, height - c.shape[0]), (0, 0), (0, 0))) for c in cells]
        lines.append(_hstack([_text_band(label, label_width, height, 0.5)] + cells, gap))
    return _vstack(lines, gap)


def side_by_side(frames: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
    """Frames of one size next to each other, each labelled; width and height kept even."""
    out = _hstack([label_frame(f, t) for f, t in zip(frames, labels, strict=False)], 4)
    return np.ascontiguousarray(out[: out.shape[0] // 2 * 2, : out.shape[1] // 2 * 2])


def _hstack(parts: Sequence[np.ndarray], gap: int) -> np.ndarray:
    height = max(p.shape[0] for p in parts)
    spacer = np.full((height, gap, 3), 0, np.uint8)
    out = []
    for i, part in enumerate(parts):
        if i:
            out.append(spacer)
        out.append(np.pad(part, ((0, height - part.shape[0]), (0, 0), (0, 0))))
    return np.concatenate(out, axis=1)


def _vstack(parts: Sequence[np.ndarray], gap: int) -> np.ndarray:
    width = max(p.shape[1] for p in parts)
    out = []
    for i, part in enumerate(parts):
        if i:
            out.append(np.zeros((gap, width, 3), np.uint8))
        out.append(np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0))))
    return np.concatenate(out, axis=0)


#: What ``write_png`` can write, by extension (OpenCV picks the format from it).
SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def check_sheet(path: Path | str) -> None:
    """A NightvidError, before any work, for a sheet name OpenCV cannot write or a missing folder."""
    path = Path(path)
    if path.suffix.lower() not in SHEET_SUFFIXES:
        raise NightvidError(
            f"the contact sheet is an image: give --out a {', '.join(SHEET_SUFFIXES)} name, got {path.name!r}"
        )
    if not path.parent.is_dir():
        raise NightvidError(f"output folder does not exist: {path.parent}")
    if path.is_dir():
        raise NightvidError(f"--out is a folder: {path}")


def write_png(path: Path | str, rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG (the folder must exist); a NightvidError if it cannot."""
    path = Path(path)
    if not path.parent.is_dir():
        raise NightvidError(f"output folder does not exist: {path.parent}")
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise NightvidError(f"cannot write {path}")
    return path
