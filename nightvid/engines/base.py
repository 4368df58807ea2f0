"""The one interface every backend produces, and the uint8 frame path around it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

__all__ = ["Engine", "PRECISIONS", "resolve_device", "resolve_dtype"]

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"`` means CUDA when present, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(precision: str) -> torch.dtype:
    """Map ``fp32|fp16|bf16`` to a dtype."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        from nightvid.errors import NightvidError

        raise NightvidError(
            f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}"
        ) from None


@dataclass
class Engine:
    """A compiled or eager net as a plain callable, plus the uint8 frame path.

    ``fn`` maps a float ``(B, 3, H, W)`` sRGB batch in [0, 1] (on ``device``, of ``dtype``)
    to the same shape. ``enhance_uint8`` wraps it for decoded frames: uint8 ``(B, H, W, 3)``
    in, uint8 out, with the conversions done on the engine's device.
    """

    fn: Callable[[Tensor], Tensor]
    backend: str
    device: torch.device
    dtype: torch.dtype = torch.float32
    #: Multiplier applied to the output before rounding (preview's +/- keys).
    gain: float = 1.0
    details: dict[str, str] = field(default_factory=dict)

    def __call__(self, batch: Tensor) -> Tensor:
        with torch.inference_mode():
            return self.fn(batch)

    def enhance_uint8(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(B, H, W, 3)`` RGB -> enhanced uint8 ``(B, H, W, 3)`` RGB."""
        with torch.inference_mode():
            x = torch.from_numpy(frames).to(self.device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).to(self.dtype).div_(255.0)
            y = self.fn(x)
            scale = 255.0 * self.gain
            y = y.mul(scale).clamp_(0.0, 255.0).round_().to(torch.uint8)
            return y.permute(0, 2, 3, 1).contiguous().cpu().numpy()
