"""Smooth the codec's blocks out of a frame's darkest parts before they are brightened.

Night video is H.264 at dashcam and CCTV bit rates: in a near-black sky each 16x16
macroblock keeps little more than its average, one level of 255 off its neighbours in
luma and in (4:2:0) chroma. Brightened ten times, the sky becomes a patchwork of purple
and green squares (the bundled clip), whatever the net. :func:`deblock_dark` smooths
where the input is dark, before the net and the colour mix see it:

- chroma: each dark pixel keeps its luma and takes the luma-weighted mean chromaticity
  of the dark pixels in a ``CHROMA_SIZE`` square around it (bright pixels do not take
  part, so a tail light's red does not bleed into the night around it);
- luma: a guided filter (He et al., ECCV 2010, the image as its own guide) with ``eps``
  of ``LUMA_EPS`` levels: steps of a level or two (blocks) are averaged away, edges of
  several levels (a tree line against the sky) are kept.

Both fade out between luma ``DARK`` and ``FADE``; brighter pixels are untouched. Box
means are running sums (:func:`box_mean`), so the cost does not grow with the window.
What it takes away in a dark photo is mostly noise: SICE eval scores do not fall (numbers
and cost in docs/BENCHMARKS.md, "Dark deblocking").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nightvid.nets.colour import luma

__all__ = ["DARK_DEBLOCK", "SCALE", "box_mean", "cell_windows", "deblock_dark"]

#: ``(DARK, FADE, CHROMA_SIZE, LUMA_SIZE, LUMA_EPS)``: full smoothing under luma DARK,
#: none above FADE; the chroma and luma windows in pixels (odd); the guided filter's
#: eps in 8-bit levels.
DARK_DEBLOCK = (0.03, 0.06, 31, 17, 1.5)

#: Window statistics are taken at 1/SCALE of the size (see :func:`deblock_dark`).
SCALE = 4


def cell_windows() -> tuple[int, int]:
    """The chroma and luma windows of ``DARK_DEBLOCK`` in cells of the smaller grid (odd):
    what :func:`deblock_dark` and the fused engine's native kernel both use."""
    chroma_size, luma_size = DARK_DEBLOCK[2:4]
    return chroma_size // SCALE | 1, luma_size // SCALE | 1


def box_mean(x: Tensor, size: int) -> Tensor:
    """Mean of each ``size`` x ``size`` square (odd ``size``) of ``(B, C, H, W)``, edges replicated.

    Running sums along W then H: the same few operations for any window, and it exports
    (ONNX CumSum) with dynamic H and W.

    Example:
        >>> box_mean(torch.arange(4.0).view(1, 1, 1, 4), 3).flatten()
        tensor([0.3333, 1.0000, 2.0000, 2.6667])
    """
    if size % 2 != 1:
        raise ValueError(f"box_mean takes an odd window, got {size}")
    half = size // 2
    padded = F.pad(x, (half + 1, half, half + 1, half), mode="replicate")
    sums = padded.cumsum(-1)
    sums = sums[..., size:] - sums[..., :-size]
    sums = sums.cumsum(-2)
    sums = sums[..., size:, :] - sums[..., :-size, :]
    return sums / (size * size)


def deblock_dark(x: Tensor) -> Tensor:
    """``(B, 3, H, W)`` sRGB in [0, 1] with the codec's blocks smoothed where it is dark.

    See the module docstring. The window statistics are taken on a ``SCALE`` times smaller
    copy and brought back by bilinear interpolation (He and Sun's fast guided filter): the
    fields they make are smooth anyway, and it costs a third of the full-size sums. Pixels
    brighter than luma ``FADE`` come out unchanged. Computed in float32 whatever ``x``'s
    dtype (returned in it).
    """
    dark, fade, _, _, eps_levels = DARK_DEBLOCK
    chroma_cells, luma_cells = cell_windows()
    height, width = x.shape[-2], x.shape[-1]
    given = x.dtype
    x = x.float()  # running sums in bf16 or fp16 lose the levels this step works with
    # Pad to SCALE * ceil(size / SCALE) and crop back with a negative pad, as Enhancer.forward
    # does, so that it exports with dynamic H and W.
    pad_h = (height + SCALE - 1) // SCALE * SCALE - height
    pad_w = (width + SCALE - 1) // SCALE * SCALE - width
    y = luma(x)
    weight = ((fade - y) / (fade - dark)).clamp(0.0, 1.0)  # 1 in the dark, 0 in the light
    small = F.avg_pool2d(
        F.pad(torch.cat([x * weight, y * weight, y, y * y], dim=1), (0, pad_w, 0, pad_h), mode="replicate"), SCALE
    )
    # Chroma: the luma-weighted mean chromaticity of the dark pixels around.
    sums = box_mean(small[:, :4], chroma_cells)
    # Luma: guided filter, the image its own guide.
    means = box_mean(small[:, 4:], luma_cells)
    mean, var = means[:, :1], (means[:, 1:] - means[:, :1] ** 2).clamp_min(0.0)
    a = var / (var + (eps_levels / 255.0) ** 2)
    coeffs = box_mean(torch.cat([a, mean - a * mean], dim=1), luma_cells)
    fields = F.interpolate(torch.cat([sums, coeffs], dim=1), scale_factor=SCALE, mode="bilinear", align_corners=False)
    fields = F.pad(fields, (0, -pad_w, 0, -pad_h))
    chromaticity = fields[:, :3] / fields[:, 3:4].clamp_min(1e-6)  # luma 1: times a pixel's luma, its colour
    mixed = x + weight * (y * chromaticity - x)
    target = y + weight * (fields[:, 4:5] * y + fields[:, 5:6] - y)  # mixed keeps luma y
    return (mixed * (target / y.clamp_min(1e-4))).clamp(0.0, 1.0).to(given)
