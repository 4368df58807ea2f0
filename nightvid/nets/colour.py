"""Colour from the input: a net's brightness with the input's hue and saturation.

Several nets here learned brightness better than colour (NoiSER's per-channel
normalisation greys a dark frame; LEDNet and KinD, trained briefly on CPU, come out
sepia or grey). :func:`keep_input_colour` keeps what they do to brightness and takes
hue and saturation from the input, where a night frame's colour (street lamps, tail
lights, signs) is still right, only dark.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "BLACK_FLOOR",
    "REC709",
    "black_floor_tint",
    "dim_to_mean_luma",
    "keep_input_colour",
    "luma",
    "mix_input_colour",
    "neutral_black",
]

REC709 = (0.2126, 0.7152, 0.0722)

#: :func:`black_floor_tint`: ``(DARK, MOST, STEP)``: pixels under luma DARK make the black
#: floor, at most MOST is taken off, measured on every STEP-th row and column.
BLACK_FLOOR = (0.03, 0.02, 4)


def luma(x: Tensor) -> Tensor:
    """Rec. 709 luma of ``(B, 3, H, W)`` RGB as ``(B, 1, H, W)``."""
    return (x * x.new_tensor(REC709).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def keep_input_colour(source: Tensor, enhanced: Tensor, *, max_gain: float = 12.0, eps: float = 1e-3) -> Tensor:
    """``source`` scaled per pixel to ``enhanced``'s luma: ``x * min(Y(e) / Y(x), max_gain)``.

    Both ``(B, 3, H, W)`` in [0, 1]; the output is clamped to [0, 1]. ``eps`` floors the
    input luma so pure black maps to black; ``max_gain`` keeps the darkest noise dark.

    Example:
        >>> x = torch.tensor([0.1, 0.05, 0.02]).view(1, 3, 1, 1)
        >>> keep_input_colour(x, torch.full((1, 3, 1, 1), 0.5)).flatten()
        tensor([0.8552, 0.4276, 0.1710])
    """
    gain = (luma(enhanced) / luma(source).clamp_min(eps)).clamp(max=max_gain)
    return (source * gain).clamp(0.0, 1.0)


def mix_input_colour(source: Tensor, enhanced: Tensor, share: float) -> Tensor:
    """``share * keep_input_colour(source, enhanced) + (1 - share) * enhanced``."""
    return share * keep_input_colour(source, enhanced) + (1.0 - share) * enhanced


def dim_to_mean_luma(x: Tensor, brightest: float) -> Tensor:
    """Each image brighter than mean luma ``brightest``, scaled down to it; darker ones unchanged.

    Why: a net trained only on under-exposed photos brightens whatever it is given, and
    on an input already brighter than any it saw (a backlit day scene, a sky) it burns
    the bright half to white, which no curve afterwards can bring back (skies came out
    cyan-white, flowers grey). Shown such a photo at the brightness it knows, the net
    enhances it as it learned to. A plain gain below one: hue, saturation and detail
    kept, no clipping, the mean luma exactly ``brightest``.

    Example:
        >>> dim_to_mean_luma(torch.full((1, 3, 1, 1), 0.5), 0.25).flatten()
        tensor([0.2500, 0.2500, 0.2500])
    """
    mean = luma(x).mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return x * (brightest / mean).clamp(max=1.0)


def black_floor_tint(x: Tensor, *, step: int | None = None) -> Tensor:
    """Per image, the magenta part of its black floor: ``(B, 3, 1, 1)`` as ``(e, 0, e)``.

    The black floor is the mean colour of the near-black pixels (luma under ``DARK``,
    weighted by how dark), on every ``step``-th row and column (``BLACK_FLOOR``). Shadows
    in a scene are grey, warm (lamps, earth) or green-blue (foliage, sky), never magenta;
    a floor whose green lies below both red and blue is the camera's (a black level
    offset under its white-balance gains). Brightened 10-20x it turns a night sky
    purple (the phone clip: floor R 2.5, G 0.3, B 4.1 of 255). ``e`` is how far green lies
    below the lesser of red and blue, at most ``MOST``; 0 elsewhere. The 142 SICE low
    photos reach at most 0.28 of 255, and their eval scores do not move.
    """
    dark, most, default_step = BLACK_FLOOR
    step = default_step if step is None else step
    grid = x[..., ::step, ::step]
    weight = (1.0 - luma(grid) / dark).clamp(min=0.0)
    floor = (grid * weight).sum(dim=(2, 3), keepdim=True) / weight.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    excess = (torch.minimum(floor[:, 0:1], floor[:, 2:3]) - floor[:, 1:2]).clamp(0.0, most)
    return torch.cat([excess, torch.zeros_like(excess), excess], dim=1)


def neutral_black(x: Tensor) -> Tensor:
    """``(x - t) / (1 - t)`` with ``t = black_floor_tint(x)``, clamped to [0, 1]: the camera's
    magenta black floor taken off red and blue, white kept white.

    Example:
        >>> night = torch.tensor([0.010, 0.001, 0.016]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
        >>> neutral_black(night)[0, :, 0, 0]
        tensor([0.0010, 0.0010, 0.0071])
    """
    tint = black_floor_tint(x)
    return ((x - tint) / (1.0 - tint)).clamp(0.0, 1.0)
