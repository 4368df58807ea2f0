"""Colour from the input: a net's brightness with the input's hue and saturation.

Several nets here learned brightness better than colour (NoiSER's per-channel
normalisation greys a dark frame; LEDNet and KinD, trained briefly on CPU, come out
sepia or grey). :func:`keep_input_colour` keeps what they do to brightness and takes
hue and saturation from the input, where a night frame's colour (street lamps, tail
lights, signs) is still right, only dark.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["REC709", "dim_to_mean_luma", "keep_input_colour", "luma", "mix_input_colour"]

REC709 = (0.2126, 0.7152, 0.0722)


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
        tensor([0.8045, 0.4022, 0.1609])
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
