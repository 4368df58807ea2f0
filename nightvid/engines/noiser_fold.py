"""NoiSER's instance norm folded into its first convolution, from statistics of the input.

Why this is exact: conv1 is affine in the 27-value 3x3x3 input patch ``p`` of each pixel
(replicate padding included), ``h_c = w_c . p + b_c``. So over a frame, the mean and the
(biased) variance instance norm divides by are ``mu_c = w_c . E[p] + b_c`` and
``var_c = w_c^T Cov(p) w_c``, and ``(h_c - mu_c) / sqrt(var_c + eps)`` is conv1 with
weights ``w_c / sigma_c`` and bias ``(b_c - mu_c) / sigma_c``. ``E[p]`` and the 27x27
``Cov(p)`` come from one pass over the 3-channel input (``nv_noiser_stats``), which is
far cheaper than writing the 32-channel map and reading it back.

The net's input mapping ``2x - 1`` is folded in too, so the kernel reads the Enhancer's
[0, 1] input as it is. The statistics are of centred values (each channel's mean taken
out first) summed in float64 per row: a dark frame's variance is a ten-thousandth of
its mean square, which ``E[p^2] - E[p]^2`` in float32 would lose.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Folded", "NoiserWeights", "fold"]


@dataclass(frozen=True)
class NoiserWeights:
    """The shipped net's parameters in the kernel's layout (float64 where folding needs it)."""

    #: conv1 on [0, 1] input, ``(32, 27)``: the net's weights times 2 (``x_net = 2x - 1``).
    w1: Tensor
    #: conv1's bias on [0, 1] input, ``(32,)``: ``b - w.sum()``.
    b1: Tensor
    #: conv2 as ``(27, 32)``: row ``(ky * 3 + kx) * 3 + out`` (float32, used as is).
    w2: Tensor
    #: conv2's bias, ``(3,)`` (float32).
    b2: Tensor
    #: instance norm's eps.
    eps: float

    @classmethod
    def of(cls, conv1: torch.nn.Conv2d, conv2: torch.nn.Conv2d, eps: float) -> NoiserWeights:
        """From the net's two convolutions (``conv1.bias`` and ``conv2.bias`` must exist)."""
        assert conv1.bias is not None and conv2.bias is not None, "NoiSER's convolutions have biases"
        w = conv1.weight.detach().double().reshape(conv1.out_channels, -1)
        bias = conv1.bias.detach().double()
        w2 = conv2.weight.detach().float().permute(2, 3, 0, 1).reshape(-1, conv2.in_channels)
        return cls(2.0 * w, bias - w.sum(dim=1), w2.contiguous(), conv2.bias.detach().float().contiguous(), eps)


@dataclass(frozen=True)
class Folded:
    """conv1 with the frame's normalisation folded in, float32 and contiguous for the kernel."""

    w1: Tensor
    b1: Tensor


def fold(weights: NoiserWeights, centre: Tensor, s1: Tensor, s2: Tensor, pixels: int) -> Folded:
    """conv1 normalised by the statistics of one frame.

    ``centre``: the per-channel value (3,) taken out of every patch entry before summing;
    ``s1`` (27,) and ``s2`` (27, 27, symmetric) the sums of the centred patches
    and of their outer products over ``pixels`` pixels (``nv_noiser_stats``).
    """
    mean = s1 / pixels
    second = (s2 + s2.T) / (2 * pixels)  # symmetric already; averaging keeps rounding symmetric too
    cov = second - torch.outer(mean, mean)
    patch_mean = mean + centre.double().repeat_interleave(9)
    mu = weights.w1 @ patch_mean + weights.b1
    var = ((weights.w1 @ cov) * weights.w1).sum(dim=1).clamp_min(0.0)
    inv = (var + weights.eps).rsqrt()
    return Folded((weights.w1 * inv[:, None]).float().contiguous(), ((weights.b1 - mu) * inv).float().contiguous())
