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
    if device.type == "cpu" and dtype == torch.bfloat16:
        return _cpu_bf16(enhancer)
    if channels_last is None:
        channels_last = device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    module = enhancer.to(device=device, dtype=dtype).eval()
    module = module.to(memory_format=memory_format)  # type: ignore[call-overload]  # accepted, not in the stubs

    def run(batch: torch.Tensor) -> torch.Tensor:
        return module(batch.contiguous(memory_format=memory_format))

    assert workers == 1, "the eager backend runs one batch at a time"
    return Engine(fn=run, backend="eager", device=device, dtype=dtype)


def _cpu_bf16(enhancer: nn.Module) -> Engine:
    """bf16 on the CPU as autocast runs it: the weights and the steps around the net
    (exposure curve, deblocking, colour mix) stay float32 and see float32 frames; the
    convolutions run in bf16 through oneDNN (AMX/AVX512-BF16), channels_last, the layout
    its bf16 kernels take. Converting the whole module to bf16 instead was no faster than
    fp32 (LEDNet 640x360: 7.9 against 7.6 s, the cast steps in bf16 too), while this runs
    1.6x faster than fp32 (docs/BENCHMARKS.md, "bf16 on the CPU")."""
    module = enhancer.to(device="cpu", dtype=torch.float32).eval()
    module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # accepted, not in the stubs

    def run(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(batch.float().contiguous(memory_format=torch.channels_last))
        return out.float()

    return Engine(fn=run, backend="eager", device=torch.device("cpu"), dtype=torch.float32)
