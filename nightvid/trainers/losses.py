"""Training losses as pure functions, with thin Module wrappers where a Module helps.

All losses take float ``(B, C, H, W)`` batches and return a scalar tensor (``"mean"``
or ``"sum"`` reduction) or the unreduced per-element tensor (``"none"``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["L1Loss", "TVLoss", "at_reference_brightness", "colour_angle_loss", "l1_loss", "mse_loss", "tv_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def l1_loss(pred: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean absolute error.

    Shape:
        ``pred`` and ``target``: the same shape, any; output a scalar (or that shape
        for ``reduction="none"``).

    Example:
        >>> import torch
        >>> l1_loss(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4))
        tensor(1.)
    """
    _check_reduction(reduction)
    return F.l1_loss(pred, target, reduction=reduction)


def at_reference_brightness(pred: Tensor, target: Tensor) -> Tensor:
    """``pred`` in float32 through ``nets.exposure_curve`` to ``target``'s mean luma, per image:
    what a loss compares when the shipped brightness is set after the net (``objective="output"``)."""
    from nightvid.nets import exposure_curve
    from nightvid.nets.colour import luma

    return exposure_curve(pred.float(), luma(target).mean(dim=(1, 2, 3)).view(-1, 1, 1, 1))


def mse_loss(pred: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean squared error (same contract as :func:`l1_loss`)."""
    _check_reduction(reduction)
    return F.mse_loss(pred, target, reduction=reduction)


def colour_angle_loss(pred: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """Mean of ``1 - cos`` of the angle between each pixel's RGB vectors.

    Zero when every pixel has the target's hue and saturation (any brightness), so it
    penalises the washed-out, grey or tinted colour that per-pixel L1 lets through when
    a net hedges between exposures. Near-black pixels (norm below ``eps``) carry little
    colour: their norms are floored at ``eps``, which shrinks their term.

    Shape:
        ``(B, 3, H, W)`` both; output a scalar.

    Example:
        >>> import torch
        >>> abs(round(colour_angle_loss(torch.full((1, 3, 2, 2), 0.2), torch.full((1, 3, 2, 2), 0.8)).item(), 6))
        0.0
    """
    dot = (pred * target).sum(dim=1)
    norms = pred.norm(dim=1).clamp_min(eps) * target.norm(dim=1).clamp_min(eps)
    return (1.0 - dot / norms).mean()


def tv_loss(x: Tensor) -> Tensor:
    """Squared total variation, normalised by the number of elements.

    ``(sum of squared vertical differences + sum of squared horizontal differences)
    / (B * C * H * W)``, the form used by the NoiSER reference code. A constant image
    gives 0.

    Shape:
        ``x``: ``(B, C, H, W)``; output a scalar.

    Example:
        >>> import torch
        >>> tv_loss(torch.ones(2, 3, 8, 8))
        tensor(0.)
    """
    if x.ndim != 4:
        raise ValueError(f"tv_loss expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).sum()
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).sum()
    return (dh + dw) / x.numel()


class L1Loss(nn.Module):
    """:func:`l1_loss` times ``loss_weight``."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        _check_reduction(reduction)
        self.loss_weight, self.reduction = loss_weight, reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss_weight * l1_loss(pred, target, reduction=self.reduction)


class TVLoss(nn.Module):
    """:func:`tv_loss` times ``loss_weight``."""

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, x: Tensor) -> Tensor:
        return self.loss_weight * tv_loss(x)
