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

Both fade out between luma ``DARK`` and ``FADE``; brighter pixels are untouched. And both
follow where the codec's blocks are (``BLOCKINESS``): luma steps that fall on the 8 px
block lines, against the steps between them, over a 36 px square. A blocky sky steps
only at the lines and is evened in full; texture and clean gradients step everywhere and
are smoothed a little or not at all, so a textured verge is not painted (a clean dark
photo changes by 0.07-0.18 levels on average where the fixed smoothing moved it by
0.24-0.56). Box means are running sums (:func:`box_mean`), so the cost does not grow
with the window.
Sensor noise is smoothed whether there are blocks or not (``NOISE``): each image's noise
in its dark parts is measured (:func:`dark_noise`), drives the strength from none to full,
widens the guided filter's eps to the noise and the dark range above ``FADE``, so a noisy
night photo is denoised where it is dark while H.264 frames, whose dark noise the codec
took, are left to the blocks.
SICE eval scores do not fall (numbers and cost in docs/BENCHMARKS.md, "Dark deblocking").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from nightvid.nets.colour import luma

__all__ = [
    "BLOCKINESS",
    "DARK_DEBLOCK",
    "NOISE",
    "SCALE",
    "block_steps",
    "box_mean",
    "cell_windows",
    "dark_noise",
    "deblock_dark",
    "noise_smoothing",
]

#: ``(DARK, FADE, CHROMA_SIZE, LUMA_SIZE, LUMA_EPS)``: full smoothing under luma DARK,
#: none above FADE; the chroma and luma windows in pixels (odd); the guided filter's
#: eps in 8-bit levels.
DARK_DEBLOCK = (0.03, 0.06, 31, 17, 1.5)

#: Window statistics are taken at 1/SCALE of the size (see :func:`deblock_dark`).
SCALE = 4

#: ``(GRID, BOX, LOW, HIGH, FLOOR)``: where the codec's blocks are. Luma steps between
#: pixels on the GRID px block lines are compared with the steps between them, summed over
#: a BOX px square (a multiple of SCALE * 2 + 1 cells, odd); the smoothing's strength runs
#: from 0 at a ratio (per step) of LOW to 1 at HIGH. Codec blocks in a dark sky step only
#: at block lines (ratios of 3 to thousands on the night clips); texture and noise step
#: everywhere (about 1), so a textured verge is mostly left as it is. LOW and HIGH were
#: chosen on SICE eval (JPEG photos, whose dark noise the smoothing also takes): 1.3-2.5
#: left clean images alone but cost NoiSER 0.06 dB there; 0.7-1.7 costs 0.02 dB, the
#: darkest-third SSIM unchanged (docs/BENCHMARKS.md, "Dark deblocking"). FLOOR (levels) keeps a
#: region with no steps at all at ratio 0 (there is nothing to smooth there).
BLOCKINESS = (8, 36, 0.7, 1.7, 0.02)


#: ``(LOW, HIGH, EPS_PER_SIGMA, FADE_PER_SIGMA)``: sensor noise in the dark (``dark_noise``,
#: 8-bit levels) smooths whether there are blocks or not, from none at LOW to in full at
#: HIGH; the guided filter then keeps only luma steps above EPS_PER_SIGMA times the noise,
#: and the dark range reaches FADE_PER_SIGMA levels further per level of noise above LOW
#: (DARK half as far), since a noisy frame's noise is as strong just above FADE. Dark
#: H.264 frames measure 0.03-0.13 (the codec took the noise), SICE eval's low-ISO shots
#: 0.04-1.9, DICM's phone photos 0.5-1.6, sensor-noisy night stills 3-8.
NOISE = (0.5, 1.5, 1.0, 3.0)

_LAPLACE = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))


def dark_noise(x: Tensor, y: Tensor | None = None) -> Tensor:
    """``(B,)``: each image's noise sigma in 8-bit levels where it is dark (luma under ``FADE``).

    Immerkaer's estimate (Computer Vision and Image Understanding, 1996): the mean absolute
    response to a 3x3 mask that cancels planes and ramps is ``6 * sqrt(2 / pi) * sigma``
    for Gaussian noise, per channel, weighted by how dark each pixel is. Texture adds a
    little; in a dark region it is faint beside sensor noise. Taken at one pixel in each
    ``SCALE`` x ``SCALE`` cell (its second row and column), as the native kernel's first
    pass reads them: a frame-wide mean needs no more. ``y``: ``x``'s luma, where the caller
    has it already.
    """
    dark, fade = DARK_DEBLOCK[:2]
    x = x.float()
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    if height < 3 or width < 3:  # no pixel with all its neighbours
        return x.new_zeros(batch)
    y = luma(x) if y is None else y
    weight = ((fade - y) / (fade - dark)).clamp(0.0, 1.0)[..., 1 : height - 1 : SCALE, 1 : width - 1 : SCALE]
    mask = torch.tensor(_LAPLACE, dtype=x.dtype, device=x.device).view(1, 1, 3, 3)
    response = F.conv2d(x.reshape(batch * 3, 1, height, width), mask, stride=SCALE).abs()
    response = response.view(batch, 3, *response.shape[-2:])
    mean = (response * weight).sum((-2, -1)) / weight.sum((-2, -1)).clamp_min(1.0)
    return mean.mean(1) * (255.0 * math.sqrt(math.pi / 2.0) / 6.0)


def noise_smoothing(sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(strength, eps, dark, fade)``, each ``(B,)``, from each image's ``dark_noise``: how far
    sensor noise alone smooths its dark parts (0-1), the guided filter's eps, and the luma
    range that counts as dark (full smoothing under ``dark``, none above ``fade``), in [0, 1]
    units (``NOISE``)."""
    low, high, per_sigma, fade_per_sigma = NOISE
    dark, fade, _, _, eps_levels = DARK_DEBLOCK
    strength = ((sigma - low) / (high - low)).clamp(0.0, 1.0)
    eps = torch.clamp_min(sigma * per_sigma, eps_levels) / 255.0
    reach = fade_per_sigma / 255.0 * (sigma - low).clamp_min(0.0)
    return strength, eps, dark + reach / 2, fade + reach


def cell_windows() -> tuple[int, int, int]:
    """The chroma, luma and blockiness windows of ``DARK_DEBLOCK`` and ``BLOCKINESS`` in
    cells of the smaller grid (odd): what :func:`deblock_dark` and the fused engine's
    native kernel both use."""
    chroma_size, luma_size = DARK_DEBLOCK[2:4]
    return chroma_size // SCALE | 1, luma_size // SCALE | 1, BLOCKINESS[1] // SCALE | 1


def block_steps(y: Tensor) -> Tensor:
    """``(B, 2, H, W)``: each pixel's luma steps to its right and lower neighbours (0 at the
    image's last column and row), summed, on the block lines (channel 0: the step crosses
    a line, ``x % GRID == GRID - 1``) and off them (channel 1)."""
    grid = BLOCKINESS[0]
    height, width = y.shape[-2], y.shape[-1]
    dx = F.pad((y[..., :, 1:] - y[..., :, :-1]).abs(), (0, 1, 0, 0))
    dy = F.pad((y[..., 1:, :] - y[..., :-1, :]).abs(), (0, 0, 0, 1))
    on_x = (torch.arange(width, device=y.device) % grid == grid - 1).to(y.dtype)
    on_y = (torch.arange(height, device=y.device) % grid == grid - 1).to(y.dtype).view(-1, 1)
    return torch.cat([dx * on_x + dy * on_y, dx * (1 - on_x) + dy * (1 - on_y)], dim=1)


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
    brighter than luma ``FADE`` (further in a noisy image: ``noise_smoothing``) come out
    unchanged. Computed in float32 whatever ``x``'s
    dtype (returned in it).
    """
    grid, _, low, high, floor = BLOCKINESS
    chroma_cells, luma_cells, block_cells = cell_windows()
    height, width = x.shape[-2], x.shape[-1]
    given = x.dtype
    x = x.float()  # running sums in bf16 or fp16 lose the levels this step works with
    # Pad to SCALE * ceil(size / SCALE) and crop back with a negative pad, as Enhancer.forward
    # does, so that it exports with dynamic H and W.
    pad_h = (height + SCALE - 1) // SCALE * SCALE - height
    pad_w = (width + SCALE - 1) // SCALE * SCALE - width
    y = luma(x)
    noisy, eps, dark, fade = (t.view(-1, 1, 1, 1) for t in noise_smoothing(dark_noise(x, y)))
    weight = ((fade - y) / (fade - dark)).clamp(0.0, 1.0)  # 1 in the dark, 0 in the light
    small = F.avg_pool2d(
        F.pad(
            torch.cat([x * weight, y * weight, y, y * y, block_steps(y)], dim=1), (0, pad_w, 0, pad_h), mode="replicate"
        ),
        SCALE,
    )
    # Chroma: the luma-weighted mean chromaticity of the dark pixels around.
    sums = box_mean(small[:, :4], chroma_cells)
    # Luma: guided filter, the image its own guide.
    means = box_mean(small[:, 4:6], luma_cells)
    # Where the blocks are: steps on the block lines against the steps between them (per step).
    steps = box_mean(small[:, 6:8], block_cells)
    ratio = steps[:, :1] * (grid - 1) / (steps[:, 1:] + floor / 255.0)
    strength = torch.maximum(((ratio - low) / (high - low)).clamp(0.0, 1.0), noisy)
    mean, var = means[:, :1], (means[:, 1:] - means[:, :1] ** 2).clamp_min(0.0)
    a = var / (var + eps**2)
    coeffs = box_mean(torch.cat([a, mean - a * mean], dim=1), luma_cells)
    fields = F.interpolate(
        torch.cat([sums, coeffs, strength], dim=1), scale_factor=SCALE, mode="bilinear", align_corners=False
    )
    fields = F.pad(fields, (0, -pad_w, 0, -pad_h))
    weight = weight * fields[:, 6:7]  # smoothed only where it is dark and blocky
    chromaticity = fields[:, :3] / fields[:, 3:4].clamp_min(1e-6)  # luma 1: times a pixel's luma, its colour
    mixed = x + weight * (y * chromaticity - x)
    target = y + weight * (fields[:, 4:5] * y + fields[:, 5:6] - y)  # mixed keeps luma y
    return (mixed * (target / y.clamp_min(1e-4))).clamp(0.0, 1.0).to(given)
