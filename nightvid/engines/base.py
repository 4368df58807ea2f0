"""The one interface every backend produces, and the uint8 frame path around it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from nightvid.engines.shapes import ShapeRange

__all__ = ["ArtifactBackend", "Engine", "PRECISIONS", "resolve_device", "resolve_dtype"]

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
    """A compiled or eager net as a plain callable, plus the integer frame path.

    ``fn`` maps a float ``(B, 3, H, W)`` sRGB batch in [0, 1] (on ``device``, of ``dtype``)
    to the same shape. ``enhance_frames`` wraps it for decoded frames: uint8 or uint16
    ``(B, H, W, 3)`` in, the same out, with the conversions done on the engine's device.
    """

    fn: Callable[[Tensor], Tensor]
    backend: str
    device: torch.device
    dtype: torch.dtype = torch.float32
    #: Multiplier applied to the output before rounding (preview's +/- keys).
    gain: float = 1.0
    details: dict[str, str] = field(default_factory=dict)
    #: Batches a compiled engine accepts; None = any (eager, torch.compile).
    shape_range: ShapeRange | None = None
    #: The cached artifact it runs, if any (see ``nightvid.engines.cache``).
    artifact: Path | None = None

    def __call__(self, batch: Tensor) -> Tensor:
        with torch.inference_mode():
            return self.fn(batch)

    def enhance_frames(self, frames: np.ndarray) -> np.ndarray:
        """RGB ``(B, H, W, 3)`` uint8 (8-bit video) or uint16 (deeper video, full 16-bit
        scale) -> enhanced frames of the same shape and dtype.

        The integer batch is uploaded as is and converted on the engine's device.
        """
        peak = 65535.0 if frames.dtype == np.uint16 else 255.0
        with torch.inference_mode():
            x = torch.from_numpy(frames).to(self.device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).to(self.dtype).div_(peak)
            y = self.fn(x)
            y = y.mul(peak * self.gain).clamp_(0.0, peak).round_()
            y = y.to(torch.uint16 if peak > 255 else torch.uint8)
            return y.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class ArtifactBackend(Protocol):
    """A backend that compiles an ``Enhancer`` into a file once and loads it fast.

    One implementation per file: ``inductor.py``, ``onnxrt.py``, ``tensorrt.py``. Each
    imports its optional dependency inside its methods and raises ``NightvidError`` with
    the install hint when it is missing.
    """

    name: str
    #: File extension of the artifact, with the dot.
    suffix: str

    def version(self) -> str:
        """Backend name and version(s) recorded in the cache metadata."""
        ...

    def check(self, device: torch.device, dtype: torch.dtype) -> None:
        """Raise ``NightvidError`` if this backend cannot run on ``device`` in ``dtype``."""
        ...

    def build(self, enhancer: nn.Module, path: Path, *, shape_range: ShapeRange,
              device: torch.device, dtype: torch.dtype) -> None:
        """Export ``enhancer`` over ``shape_range`` and write the artifact to ``path``."""
        ...

    def load(self, path: Path, *, device: torch.device, dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
        """The artifact as a callable: float ``(B, 3, H, W)`` on ``device`` -> same."""
        ...
