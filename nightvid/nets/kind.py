"""KinD: Retinex decomposition, reflectance restoration and illumination adjustment.

Zhang, Zhang and Guo, "Kindling the Darkness: A Practical Low-light Image Enhancer",
ACM MM 2019, https://arxiv.org/abs/1905.04161.

Three nets, trained in three stages (see ``nightvid.trainers``):

- ``DecomNet`` splits an image into reflectance R (3 channels) and illumination L (1
  channel), both through a sigmoid;
- ``RestorationNet`` removes the noise and colour shifts that darkness leaves in R; it
  sees R and L together, since how much R is degraded depends on how dark L is;
- ``IlluminationAdjustNet`` maps L to a brighter (or darker) L given a constant map of
  the wanted ratio, so exposure can be chosen at run time.

The enhanced image is restored R times adjusted L. Widths, kernel sizes, LeakyReLU(0.2),
the bias-free 2x2 transposed convolutions and the sigmoids follow the official
TensorFlow code (``model.py``); parameter counts match it exactly.

Any H and W, as in the official code: pooling keeps an odd last row/column
(TensorFlow's ``SAME`` max-pool) and the transposed convolution's output is cropped to
the skip connection's size (what ``conv2d_transpose`` with the skip's output shape
does), so ``size_multiple`` is 1. One addition: ``RestorationNet`` edge-pads inputs
smaller than 32 px to 32 px (and crops back), so that its 1/16 level never has a single
pixel; ``torch.export`` cannot export a dynamic size that may reach 1. Frames of 32 px
and more are computed exactly as by the official code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nightvid.nets.registry import SICE_BRIGHTEST_INPUT, PaddingMode, register_net

__all__ = [
    "DecomNet",
    "IlluminationAdjustNet",
    "KinD",
    "KinDOutput",
    "RestorationNet",
    "exposure_ratio",
    "max_pool_ceil",
    "kind",
]

#: skimage's ``rgb2gray`` weights, used by the official real-image script.
_GRAY = (0.2125, 0.7154, 0.0721)


def _conv(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution (zero ``SAME`` padding, with bias) + LeakyReLU(0.2)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2))


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(*_conv(cin, cout), *_conv(cout, cout))


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    """2x2 stride-2 transposed convolution without bias, as in the official code."""
    return nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)


def max_pool_ceil(x: Tensor) -> Tensor:
    """2x2 stride-2 max-pool keeping an odd last row/column (TensorFlow ``SAME``).

    Same values as ``F.max_pool2d(x, 2, ceil_mode=True)``, written as an edge pad of
    H % 2 and W % 2 first: exporters cannot prove ceil mode's output-size rule for
    symbolic sizes. The pad is written ``(n + 1) // 2 * 2 - n`` (= ``n % 2``) so that a
    level's size reads ``(n + 1) // 2``: with ``n % 2`` the symbolic sizes nest a
    ``Mod`` per level, and inductor's C++ codegen spends minutes simplifying them
    (AOTInductor over dynamic H/W: > 15 min instead of about 90 s on 2 cores).
    """
    height, width = x.shape[-2], x.shape[-1]
    x = F.pad(x, (0, (width + 1) // 2 * 2 - width, 0, (height + 1) // 2 * 2 - height), mode="replicate")
    return F.max_pool2d(x, 2)


def _up_concat(deconv: nn.Module, x: Tensor, skip: Tensor) -> Tensor:
    """Upsample ``x``, crop it to ``skip``'s size and concatenate ``[up, skip]``."""
    up = deconv(x)
    # Crop (negative pad) the odd-size overhang; written as a pad so that exporters see
    # the result's size as exactly the skip's.
    up = F.pad(up, (0, skip.shape[-1] - up.shape[-1], 0, skip.shape[-2] - up.shape[-2]))
    return torch.cat([up, skip], dim=1)


def exposure_ratio(illumination: Tensor, target: float, eps: float = 1e-4) -> Tensor:
    """Per-image ratio that brings the mean illumination to ``target``.

    The adjustment net was trained with ratio ``1 / mean(L_low / L_high)``; with a flat
    ``L_high = target`` that is ``target / mean(L_low)``. Computed in-graph (no
    ``.item()``), so it exports.

    Args:
        illumination: ``(B, 1, H, W)`` in (0, 1).
        target: wanted mean illumination.

    Returns:
        ``(B, 1, 1, 1)`` ratios.
    """
    return target / illumination.mean(dim=(-2, -1), keepdim=True).clamp_min(eps)


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> Tensor:
    """1-D Gaussian taps as scipy/skimage build them (radius ``int(truncate * sigma + 0.5)``)."""
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).float()


class DecomNet(nn.Module):
    """Retinex decomposition: image -> (reflectance, illumination).

    A two-level U-Net (32-64-128) gives the reflectance through a 1x1 conv and sigmoid;
    the illumination branch convolves the first-level features once more, concatenates
    them with the reflectance branch's last features and ends with a 1x1 conv and
    sigmoid. 235,876 parameters, as the official ``DecomNet_simple``.

    Shape:
        input ``(B, 3, H, W)`` in [0, 1]; outputs ``(B, 3, H, W)`` and ``(B, 1, H, W)`` in (0, 1).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.conv1 = _conv(3, w)
        self.conv2 = _conv(w, 2 * w)
        self.conv3 = _conv(2 * w, 4 * w)
        self.up1 = _deconv(4 * w, 2 * w)
        self.conv4 = _conv(4 * w, 2 * w)
        self.up2 = _deconv(2 * w, w)
        self.conv5 = _conv(2 * w, w)
        self.r_out = nn.Conv2d(w, 3, 1)  # 1x1, as the official code (the paper says 3x3)
        self.l_conv = _conv(w, w)
        self.l_out = nn.Conv2d(2 * w, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        c1 = self.conv1(x)
        c2 = self.conv2(max_pool_ceil(c1))
        c3 = self.conv3(max_pool_ceil(c2))
        c4 = self.conv4(_up_concat(self.up1, c3, c2))
        c5 = self.conv5(_up_concat(self.up2, c4, c1))
        reflectance = torch.sigmoid(self.r_out(c5))
        illumination = torch.sigmoid(self.l_out(torch.cat([self.l_conv(c1), c5], dim=1)))
        return reflectance, illumination


class RestorationNet(nn.Module):
    """Reflectance restoration U-Net on ``[R, L]``: 32-64-128-256-512, two convs a level.

    7,760,739 parameters, as the official ``Restoration_net``.

    Args:
        widths: channels per level, finest first.

    Shape:
        inputs ``(B, 3, H, W)`` and ``(B, 1, H, W)``; output ``(B, 3, H, W)`` in (0, 1).
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256, 512)) -> None:
        super().__init__()
        widths = tuple(widths)
        ins = (4, *widths[:-1])
        self.down = nn.ModuleList(_double_conv(cin, cout) for cin, cout in zip(ins, widths, strict=False))
        # Decoder, coarsest first: upsample level i+1 to level i, then two convs.
        levels = list(reversed(range(len(widths) - 1)))
        self.ups = nn.ModuleList(_deconv(widths[i + 1], widths[i]) for i in levels)
        self.up_convs = nn.ModuleList(_double_conv(2 * widths[i], widths[i]) for i in levels)
        self.out = nn.Conv2d(widths[0], 3, 3, padding=1)
        self.min_size = 2 ** len(widths)  # coarsest level >= 2 px

    def forward(self, reflectance: Tensor, illumination: Tensor) -> Tensor:
        x = torch.cat([reflectance, illumination], dim=1)
        height, width = x.shape[-2], x.shape[-1]
        # Frames under min_size px are edge-padded so the coarsest level keeps >= 2 px:
        # exporters specialise on 1-px tensors. A no-op for any real frame.
        pad_w = torch.sym_max(width, self.min_size) - width  # written so that the padded
        pad_h = torch.sym_max(height, self.min_size) - height  # size reads max(size, min_size)
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else max_pool_ceil(x))
            skips.append(x)
        for up, block, skip in zip(self.ups, self.up_convs, reversed(skips[:-1]), strict=False):
            x = block(_up_concat(up, x, skip))
        x = self.out(x)
        x = F.pad(x, (0, width - x.shape[-1], 0, height - x.shape[-2]))  # crop back
        return torch.sigmoid(x)


class IlluminationAdjustNet(nn.Module):
    """Illumination adjustment: ``(L, ratio)`` -> adjusted L.

    Four 3x3 convs (32, 32, 32, 1) with LeakyReLU(0.2), the last one included, then a
    sigmoid, as the official ``Illumination_adjust_net``; 19,393 parameters. The ratio
    enters as a constant second channel: > 1 brightens, < 1 darkens.

    Shape:
        ``illumination`` ``(B, 1, H, W)``; ``ratio`` a float or a tensor broadcastable to
        it (e.g. ``(B, 1, 1, 1)``); output ``(B, 1, H, W)`` in (0, 1).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv(2, width), *_conv(width, width), *_conv(width, width), *_conv(width, 1))

    def forward(self, illumination: Tensor, ratio: Tensor | float) -> Tensor:
        if isinstance(ratio, Tensor):
            ratio_map = ratio.to(illumination.dtype).expand_as(illumination)
        else:
            ratio_map = torch.full_like(illumination, float(ratio))
        return torch.sigmoid(self.body(torch.cat([illumination, ratio_map], dim=1)))


class KinDOutput(NamedTuple):
    """What ``KinD`` returns; ``result`` comes first (the ``Enhancer`` keeps it)."""

    result: Tensor  #: ``(B, 3, H, W)`` enhanced image
    reflectance: Tensor  #: ``(B, 3, H, W)`` restored reflectance
    illumination: Tensor  #: ``(B, 1, H, W)`` adjusted illumination


class KinD(nn.Module):
    """End-to-end KinD with arbitrary illumination manipulation.

    ``result = RestorationNet(R, L) * IlluminationAdjustNet(L, ratio)`` with
    ``(R, L) = DecomNet(x)``, as in the paper and the official LOL evaluation.

    Args:
        ratio: exposure ratio fed to the adjustment net (the official script suggests
            0-5). ``None`` (default) picks, per image and in-graph, the ratio that brings
            the mean illumination to ``target_illumination`` (see ``exposure_ratio``).
        target_illumination: mean illumination aimed at when ``ratio`` is None.
        practical: also apply the two fixes of the official real-image script
            (``evaluate.py``): attenuate the restored reflectance where the decomposed
            reflectance is very dark (``min(sqrt(2 * gauss_3(gray(R))), 1)``), which stops
            black regions from turning grey, and blend with the input by the decomposed
            illumination (``L * x + (1 - L) * result``) so bright areas are not blown out.
        padding: padding mode of the 3x3 convolutions. The official code pads with zeros
            (TensorFlow ``SAME``); on a dark frame that draws a bright ring around the
            result (border excess 0.50 of the mean luma on the bundled dashcam clip,
            0.05-0.09 with ``"replicate"``, the default here), and on the SICE eval
            pairs replicate scores the same (16.85 against 16.81 dB with colour kept).
            The state dict does not depend on it.

    Shape:
        input ``(B, 3, H, W)`` in [0, 1]; output ``KinDOutput``.

    Example:
        >>> net = KinD(ratio=3.0).eval()
        >>> net(torch.rand(1, 3, 21, 30)).result.shape
        torch.Size([1, 3, 21, 30])
    """

    input_range = (0.0, 1.0)
    size_multiple = 1

    def __init__(
        self,
        *,
        ratio: float | None = None,
        target_illumination: float = 0.5,
        practical: bool = False,
        padding: PaddingMode = "replicate",
    ) -> None:
        super().__init__()
        self.ratio = ratio
        self.target_illumination = target_illumination
        self.practical = practical
        self.decom = DecomNet()
        self.restoration = RestorationNet()
        self.adjust = IlluminationAdjustNet()
        for module in self.modules():  # same weights, other border handling (see the class doc)
            if isinstance(module, nn.Conv2d) and module.padding != (0, 0):
                module.padding_mode = padding
        # Fixed filter for the practical mode; not a parameter and not in the state dict.
        self.gauss: Tensor
        self.register_buffer("gauss", _gaussian_kernel(3.0), persistent=False)

    def forward(self, x: Tensor, restoration: nn.Module | None = None) -> KinDOutput:
        """``restoration``: a stand-in for ``self.restoration`` (a trainer's replica of it)."""
        reflectance, illumination = self.decom(x)
        restored = (self.restoration if restoration is None else restoration)(reflectance, illumination)
        if self.ratio is None:
            ratio: Tensor | float = exposure_ratio(illumination, self.target_illumination)
        else:
            ratio = self.ratio
        adjusted = self.adjust(illumination, ratio)
        if self.practical:
            restored = restored * self.dark_attenuation(reflectance)
            result = illumination * x + (1.0 - illumination) * (restored * adjusted)
        else:
            result = restored * adjusted
        return KinDOutput(result, restored, adjusted)

    def dark_attenuation(self, reflectance: Tensor) -> Tensor:
        """``min(sqrt(2 * gaussian_blur(gray(R), sigma=3)), 1)``, (B, 1, H, W)."""
        weights = reflectance.new_tensor(_GRAY).view(1, 3, 1, 1)
        gray = (reflectance * weights).sum(dim=1, keepdim=True)
        taps = self.gauss.to(gray.dtype)
        radius = taps.numel() // 2
        gray = F.pad(gray, (radius, radius, radius, radius), mode="replicate")  # scipy "nearest"
        gray = F.conv2d(gray, taps.view(1, 1, -1, 1))
        gray = F.conv2d(gray, taps.view(1, 1, 1, -1))
        return (2.0 * gray).clamp_min(0.0).sqrt().clamp_max(1.0)


@register_net(
    "kind",
    summary="Retinex decomposition + reflectance restoration + illumination adjustment",
    paper="Zhang, Zhang & Guo 2019, Kindling the Darkness (KinD), ACM MM",
    default_weights="kind.safetensors",
    # ``--exposure`` is the Enhancer's tone curve, not KinD's ratio: the shipped adjustment
    # net ignores its ratio (the output's mean luma was 0.527 for targets 0.2-0.6 on a
    # SICE image).
    input_colour=0.7,
    # A sunlit photo came out with a cyan sky and grey flowers (DICM 43, 61, 66); dimmed to
    # the brightest SICE input first, they keep their colour. SICE eval unchanged.
    brightest_input=SICE_BRIGHTEST_INPUT,
    # The phone clip's purple night sky (its camera's magenta black floor). SICE eval unchanged.
    neutral_black=True,
    # The codec's purple and green macroblocks in a night sky. SICE eval 20.09 / 0.779 -> 20.13 / 0.781.
    deblock_dark=True,
    # bf16 autocast on an AMX CPU: SICE eval fp32 -> bf16 20.117 / 0.7810 -> 20.116 / 0.7803, 1.4-1.9x faster
    # (docs/BENCHMARKS.md, "bf16 on the CPU").
    cpu_bf16=True,
)
def kind(**kwargs: Any) -> KinD:
    """Build KinD (``ratio=None``: automatic exposure to ``target_illumination=0.5``)."""
    return KinD(**kwargs)
