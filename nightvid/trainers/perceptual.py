"""VGG-19 perceptual loss (BasicSR's ``PerceptualLoss`` as LEDNet trains with it).

``L1`` between VGG-19 feature maps of prediction and target at ``conv1_2``,
``conv2_2``, ``conv3_4``, ``conv4_4`` (before their ReLUs), each weighted 1, on
ImageNet-normalised RGB; the features come from a frozen ``VGG19Features`` loaded from a
torchvision-layout weights file. There is no offline stand-in: a VGG with random
weights measures nothing perceptual, so without a file the LEDNet recipe uses a
different, named loss instead (see ``nightvid.trainers.lednet``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

from torch import Tensor, nn

from nightvid.nets.vgg import VGG19Features, freeze, vgg19_features
from nightvid.trainers.losses import l1_loss

__all__ = ["LEDNET_LAYERS", "PerceptualLoss", "perceptual_loss"]

#: LEDNet's (and BasicSR's usual) perceptual layers and weights.
LEDNET_LAYERS: Mapping[str, float] = {"conv1_2": 1.0, "conv2_2": 1.0, "conv3_4": 1.0, "conv4_4": 1.0}


def perceptual_loss(vgg: VGG19Features, pred: Tensor, target: Tensor, layers: Mapping[str, float]) -> Tensor:
    """``sum_k w_k * L1(vgg_k(pred), vgg_k(target))``; the target's features carry no gradient.

    Shape:
        ``pred``, ``target``: ``(B, 3, H, W)`` RGB in [0, 1]; output a scalar.
    """
    names = list(layers)
    ours = vgg.features_at(pred, names)
    theirs = {k: v.detach() for k, v in vgg.features_at(target.detach(), names).items()}
    return cast(Tensor, sum(weight * l1_loss(ours[name], theirs[name]) for name, weight in layers.items()))


class PerceptualLoss(nn.Module):
    """:func:`perceptual_loss` with a frozen VGG-19 from ``weights`` (torchvision layout), times ``loss_weight``."""

    def __init__(
        self, weights: Path | str, *, layers: Mapping[str, float] = LEDNET_LAYERS, loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.vgg = freeze(vgg19_features(weights=weights))
        self.layers, self.loss_weight = dict(layers), loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss_weight * perceptual_loss(self.vgg, pred, target, self.layers)
