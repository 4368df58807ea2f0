"""NoiSER: a tiny enhancer trained only on Gaussian noise.

Zhang et al., "Noise Self-Regression: A New Learning Paradigm to Enhance Low-light
Images Without Task-related Data" (2023), https://arxiv.org/abs/2211.04700.

Trained to reproduce N(0, sigma) noise (clamped to [-1, 1]) with L1 + total variation,
the net learns a contrast-stretching map: instance normalisation re-centres and rescales
each channel's statistics, which brightens a dark frame and restores its contrast.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from nightvid.nets._api import register_net

__all__ = ["NoiSER", "noiser"]


class NoiSER(nn.Module):
    """Conv3x3 -> InstanceNorm -> GELU -> Conv3x3 -> Tanh, as in the paper.

    Args:
        hidden: channels of the single hidden layer (32 in the paper).

    Shape:
        input ``(B, 3, H, W)`` in [-1, 1]; output the same shape in [-1, 1].
    """

    input_range = (-1.0, 1.0)
    size_multiple = 1

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, hidden, kernel_size=3, padding=1),
            nn.InstanceNorm2d(hidden),  # no affine, no running stats: per-frame statistics
            nn.GELU(),
            nn.Conv2d(hidden, 3, kernel_size=3, padding=1),
            nn.Tanh(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


@register_net(
    "noiser",
    summary="tiny net trained on Gaussian noise only; fast, brightens and restores contrast",
    paper="Zhang et al. 2023, Noise Self-Regression (NoiSER)",
    default_weights="noiser.safetensors",
)
def noiser(**kwargs: Any) -> NoiSER:
    """Build NoiSER (``hidden=32`` as in the paper)."""
    return NoiSER(**kwargs)
