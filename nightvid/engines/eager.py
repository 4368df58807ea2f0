"""The reference backend: the net as it is, in eval mode, on CPU or CUDA."""

from __future__ import annotations

import torch
from torch import nn

from nightvid.engines.base import Engine

__all__ = ["CHANNELS_LAST_CPU", "build_eager"]

#: Nets whose eager CPU forward is faster in channels_last. Measured at 640x360, batch 1,
#: fp32, 2-core AMD EPYC (AVX512), torch 2.13.0, median of 3 (ms, contiguous -> channels_last):
#: denoiser 1970 -> 1081; noiser 97 -> 109, kind 1722 -> 1875, lednet 2996 -> 3312 (slower).
CHANNELS_LAST_CPU = frozenset({"denoiser"})


def build_eager(
    enhancer: nn.Module, *, device: torch.device, dtype: torch.dtype = torch.float32,
    channels_last: bool | None = None,
) -> Engine:
    """Run ``enhancer`` eagerly.

    ``channels_last``: None = on CUDA only, where convolutions prefer it; on CPU it
    depends on the net (``CHANNELS_LAST_CPU``), so ``create_engine`` decides per net.
    """
    module = enhancer.to(device=device, dtype=dtype).eval()
    if channels_last is None:
        channels_last = device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    module = module.to(memory_format=memory_format)

    def run(batch: torch.Tensor) -> torch.Tensor:
        return module(batch.contiguous(memory_format=memory_format))

    return Engine(fn=run, backend="eager", device=device, dtype=dtype)
