"""Full-reference image quality: PSNR and SSIM, as pure torch functions.

Both take RGB batches ``(B, C, H, W)`` with values in ``[0, data_range]`` (sRGB [0, 1] in
nightvid), compute in float64 whatever the input dtype, and return one value per image,
shape ``(B,)``.

- PSNR: ``10 * log10(data_range**2 / MSE)`` with the MSE over C, H and W. Identical
  images give ``inf`` (not capped); model cards write a non-finite value as null.
- SSIM: Wang et al. 2004 with their reference settings: an 11x11 Gaussian window with
  sigma 1.5, K1 = 0.01, K2 = 0.03, "valid" filtering (no padding, so the map is
  (H - 10) x (W - 10)); computed per channel and averaged over the map and the
  channels (no conversion to luma). Identical images give exactly 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nightvid.nets import Enhancer, as_shipped

#: BT.709 luma weights (the dark third of ``ssim``).
_LUMA = torch.tensor([0.2126, 0.7152, 0.0722], dtype=torch.float64)

__all__ = ["evaluate", "psnr", "scored_as", "ssim", "ssim_and_dark_third", "validator"]


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim != 4:
        raise ValueError(f"expected (B, C, H, W) batches, got shape {tuple(pred.shape)}")


def psnr(pred: Tensor, target: Tensor, *, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB per image; ``inf`` for identical images.

    Example:
        >>> psnr(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.1)).round(decimals=4)
        tensor([20.], dtype=torch.float64)
    """
    _check_pair(pred, target)
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


@lru_cache(maxsize=8)
def _gaussian_taps(size: int, sigma: float) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    pred: Tensor,
    target: Tensor,
    *,
    data_range: float = 1.0,
    window: int = 11,
    sigma: float = 1.5,
    dark_third: bool = False,
) -> Tensor:
    """Structural similarity per image (mean over the SSIM map and the channels).

    ``dark_third``: the mean over the pixels in the darkest third of ``target``'s luma
    only, where noise costs a dark photo its structure (#24's "dark SSIM").

    Shape:
        ``pred``, ``target``: ``(B, C, H, W)`` with H, W >= ``window``; output ``(B,)``.

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> ssim(x, x)
        tensor([1., 1.], dtype=torch.float64)
    """
    whole, dark = ssim_and_dark_third(pred, target, data_range=data_range, window=window, sigma=sigma)
    return dark if dark_third else whole


def ssim_and_dark_third(
    pred: Tensor, target: Tensor, *, data_range: float = 1.0, window: int = 11, sigma: float = 1.5
) -> tuple[Tensor, Tensor]:
    """``ssim`` over the whole image and over ``target``'s darkest third, from one SSIM map
    (what ``nightvid eval`` prints for each image)."""
    _check_pair(pred, target)
    if min(pred.shape[-2:]) < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window}, got {tuple(pred.shape[-2:])}")
    channels = pred.shape[1]
    # The 2-D window is the outer product of a 1-D Gaussian, so blur as two 1-D passes
    # (22 taps instead of 121 per pixel; same values up to float64 rounding).
    taps = _gaussian_taps(window, sigma).to(pred.device)
    rows = taps.view(1, 1, window, 1).expand(channels, 1, window, 1)
    cols = taps.view(1, 1, 1, window).expand(channels, 1, 1, window)
    x, y = pred.double(), target.double()

    def blur(z: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(z, rows, groups=channels), cols, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    # the map covers the windows that fit: compare with the target's luma at their centres
    luma = (y * _LUMA.to(y.device).view(1, 3, 1, 1)).sum(1) if channels == 3 else y.mean(1)
    half = window // 2
    flat = luma[:, half : luma.shape[1] - half, half : luma.shape[2] - half].flatten(1)
    dark = flat <= torch.quantile(flat, 1 / 3, dim=1, keepdim=True)
    per_pixel = ssim_map.mean(1).flatten(1)
    return per_pixel.mean(dim=1), (per_pixel * dark).sum(1) / dark.sum(1)


def evaluate(enhance: Callable[[Tensor], Tensor], pairs: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
    """Mean PSNR and SSIM of ``enhance(low)`` against ``high`` over all images of ``pairs``.

    ``pairs`` yields ``(low, high)`` batches ``(B, 3, H, W)`` in [0, 1]; ``enhance`` must
    return the same shape. Runs without gradients.
    """
    total_psnr = total_ssim = 0.0
    count = 0
    with torch.no_grad():
        for low, high in pairs:
            pred = enhance(low).clamp(0, 1)
            total_psnr += psnr(pred, high.to(pred.device)).sum().item()
            total_ssim += ssim(pred, high.to(pred.device)).sum().item()
            count += low.shape[0]
    if count == 0:
        raise ValueError("no validation pairs")
    return {"psnr": total_psnr / count, "ssim": total_ssim / count}


def scored_as(name: str, *, shipped: bool) -> Callable[[nn.Module], nn.Module]:
    """``validator``'s ``wrap``: model ``name``'s net as shipped (``nets.as_shipped``) or bare."""
    return (lambda net: as_shipped(net, name)) if shipped else Enhancer


def validator(
    pairs: Iterable[tuple[Tensor, Tensor]],
    *,
    device: str | torch.device = "cpu",
    wrap: Callable[[nn.Module], nn.Module] = Enhancer,
) -> Callable[[nn.Module], dict[str, float]]:
    """A ``validate(model)`` for ``fit``: the net wrapped as an ``Enhancer``, scored on ``pairs``.

    ``pairs`` is kept as a list (held-out images are few); each pair is ``(low, high)``
    with batch dimension, sRGB in [0, 1]. ``wrap`` makes the Enhancer: the bare net by
    default; ``lambda net: nets.as_shipped(net, name)`` scores it as ``nightvid eval`` does.
    """
    held = [(low, high) for low, high in pairs]

    def validate(model: nn.Module) -> dict[str, float]:
        net = wrap(model)
        return evaluate(lambda low: net(low.to(device)), held)

    return validate
