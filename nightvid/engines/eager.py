"""The reference backend: the net as it is, in eval mode, on CPU or CUDA."""

from __future__ import annotations

import torch
from torch import nn

from nightvid.engines.base import Engine

__all__ = ["build_eager"]


def build_eager(
    enhancer: nn.Module, *, device: torch.device, dtype: torch.dtype = torch.float32
) -> Engine:
    """Run ``enhancer`` eagerly; channels_last on CUDA, where convolutions prefer it."""
    module = enhancer.to(device=device, dtype=dtype).eval()
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    module = module.to(memory_format=memory_format)

    def run(batch: torch.Tensor) -> torch.Tensor:
        return module(batch.contiguous(memory_format=memory_format))

    return Engine(fn=run, backend="eager", device=device, dtype=dtype)
