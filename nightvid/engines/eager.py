"""The reference backend: the net as it is, in eval mode, on CPU or CUDA."""

from __future__ import annotations

import torch
from torch import nn

from nightvid.engines.base import Engine

__all__ = ["build_eager"]


def build_eager(
    enhancer: nn.Module,
    *,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    channels_last: bool | None = None,
    workers: int = 1,
) -> Engine:
    """Run ``enhancer`` eagerly (``workers`` is always 1: torch's threads are per process).

    ``channels_last``: None = on CUDA only, where convolutions prefer it. On the CPU it
    gains nothing once freed memory is kept (``nightvid.memory``): at 640x360, fp32, 2 cores,
    an ad-hoc round-robin loop of 3-9 calls, median ms contiguous / channels_last:
    denoiser 617 / 618, noiser 72 / 77, kind 728 / 709, lednet 1983 / 2057. (The denoiser's
    1970 / 1081 before that was the page faults of one memory layout, not the layout's arithmetic.)
    """
    if channels_last is None:
        channels_last = device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    module = enhancer.to(device=device, dtype=dtype).eval()
    module = module.to(memory_format=memory_format)  # type: ignore[call-overload]  # accepted, not in the stubs

    def run(batch: torch.Tensor) -> torch.Tensor:
        return module(batch.contiguous(memory_format=memory_format))

    assert workers == 1, "the eager backend runs one batch at a time"
    return Engine(fn=run, backend="eager", device=device, dtype=dtype)
