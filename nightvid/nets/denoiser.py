"""The denoiser of "When Image Denoising Meets High-Level Vision Tasks".

Liu, Wen, Liu, Wang and Huang, IJCAI 2018, https://arxiv.org/abs/1706.04284.

A three-scale encoder-decoder that predicts the noise residual. Each coarser scale is
reached by a feature encoding module whose first 3x3 convolution has stride 2; features
come back up through 4x4 stride-2 transposed convolutions and are fused with the scale
above by concatenation. The paper trains it with MSE, then jointly with a frozen
classification or segmentation net (``nightvid.nets.vgg``) so that denoising keeps what
recognition needs.

Layout and widths follow the official Caffe model (``train_denoise.prototxt``):

    f1 = conv5x5(x) -> 64                    scale 1 (no norm, no activation)
    f2 = encode(f1): 3x3/2 -> 128, bottleneck 32      scale 1/2
    f3 = encode(f2): 3x3/2 -> 128, bottleneck 32      scale 1/4
    d2 = decode([f2, deconv4x4/2(f3) -> 32]): 3x3 -> 256, bottleneck 64
    out = x + conv3x3([f1, deconv4x4/2(d2) -> 64]) -> 3

1,033,443 parameters, as the official model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nightvid.nets.registry import register_net

__all__ = ["Denoiser", "FeatureBlock", "denoiser"]


class FeatureBlock(nn.Module):
    """Feature encoding (and decoding) module.

    A 3x3 convolution (optionally stride 2) with batch norm and ReLU, then a residual
    bottleneck 1x1 -> 3x3 -> 1x1 (bias-free, each with batch norm, ReLU after the first
    two) added back to it, then ReLU, as the official ``residual_*`` blocks.

    Args:
        cin: input channels.
        width: channels of the 3x3 convolution and of the output (128 in the paper).
        bottleneck: channels inside the bottleneck (32 in the paper).
        stride: 2 to halve H and W (odd sizes round up), 1 to keep them.

    Shape:
        input ``(B, cin, H, W)``; output ``(B, width, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, cin: int, width: int = 128, bottleneck: int = 32, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, width, 3, stride=stride, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.branch = nn.Sequential(
            nn.Conv2d(width, bottleneck, 1, bias=False),
            nn.BatchNorm2d(bottleneck),
            nn.ReLU(),
            nn.Conv2d(bottleneck, bottleneck, 3, padding=1, bias=False),
            nn.BatchNorm2d(bottleneck),
            nn.ReLU(),
            nn.Conv2d(bottleneck, width, 1, bias=False),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn(self.conv(x)))
        return F.relu(x + self.branch(x))


def _up_concat(skip: Tensor, deconv: nn.ConvTranspose2d, x: Tensor) -> Tensor:
    """``[skip, deconv(x)]`` with the upsampled map cropped to ``skip``'s size.

    The crop (needed for odd sizes) is a negative pad so that exporters see the result's
    size as exactly the skip's.
    """
    up = deconv(x)
    up = F.pad(up, (0, skip.shape[-1] - up.shape[-1], 0, skip.shape[-2] - up.shape[-2]))
    return torch.cat([skip, up], dim=1)


class Denoiser(nn.Module):
    """Three-scale residual denoiser (Liu et al. 2018).

    Departures from the official Caffe model, both for the same-size contract: the
    first (5x5) and last (3x3) convolutions are zero-padded instead of "valid" (the
    official output is 6 px smaller than its input and the input is cropped to match),
    and for odd H or W the upsampled maps are cropped to the finer scale's size. Input is
    RGB in [0, 1] rather than Caffe's mean-subtracted 0-255 BGR (only weights care).

    Args:
        channels: output of the first convolution (64).
        width: channels of the two encoding modules (128).
        bottleneck: their bottleneck channels (32); the decoding module at scale 2 uses
            ``2 * width`` and ``2 * bottleneck``.
        up_channels: outputs of the 4x4 transposed convolutions, coarse to fine (32, 64).

    Shape:
        input ``(B, 3, H, W)`` in [0, 1], any H and W; output the same shape (the input
        plus the predicted residual, not clamped).

    Example:
        >>> Denoiser().eval()(torch.rand(1, 3, 21, 30)).shape
        torch.Size([1, 3, 21, 30])
    """

    input_range = (0.0, 1.0)
    size_multiple = 1

    def __init__(
        self,
        *,
        channels: int = 64,
        width: int = 128,
        bottleneck: int = 32,
        up_channels: tuple[int, int] = (32, 64),
    ) -> None:
        super().__init__()
        up_coarse, up_fine = up_channels
        self.head = nn.Conv2d(3, channels, 5, padding=2)  # no norm, no activation
        self.enc2 = FeatureBlock(channels, width, bottleneck, stride=2)
        self.enc3 = FeatureBlock(width, width, bottleneck, stride=2)
        self.up3 = nn.ConvTranspose2d(width, up_coarse, 4, stride=2, padding=1)
        self.dec2 = FeatureBlock(width + up_coarse, 2 * width, 2 * bottleneck)
        self.up2 = nn.ConvTranspose2d(2 * width, up_fine, 4, stride=2, padding=1)
        self.tail = nn.Conv2d(channels + up_fine, 3, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        f1 = self.head(x)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        d2 = self.dec2(_up_concat(f2, self.up3, f3))
        return x + self.tail(_up_concat(f1, self.up2, d2))


@register_net(
    "denoiser",
    summary="three-scale residual denoiser, trainable jointly with a frozen recognition net",
    paper="Liu et al. 2018, When Image Denoising Meets High-Level Vision Tasks (IJCAI)",
    default_weights="denoiser.safetensors",
    default_exposure=None,  # a denoiser keeps the brightness it is given
)
def denoiser(**kwargs: Any) -> Denoiser:
    """Build the denoiser (widths of the official model)."""
    return Denoiser(**kwargs)
