"""A compiled engine is trusted only once it gives eager's pixels on this machine.

Compiled code depends on the machine it runs on (the CPU's instruction set, oneDNN's
path, the GPU) and on assumptions an exporter makes about its input; either can turn a
correct net into wrong pixels with no error. An AOTInductor artifact read decoder
frames (NHWC memory viewed as NCHW) as if they were NCHW and wrote 10-15 dB garbage
on AVX2 CPUs, while every test on AVX-512 passed. So every artifact runs one fixed
test frame, laid out in memory as decoder frames are, against the eager module in the
same precision, after it is built or loaded, and is refused below ``MIN_PSNR_DB``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from nightvid.engines.shapes import ShapeRange
from nightvid.errors import NightvidError

__all__ = ["MIN_PSNR_DB", "check_against_eager", "probe_frame", "psnr_db"]

#: Below this, the engine's output is not the net's: refused.
MIN_PSNR_DB = 40.0
#: The test frame's size: not a multiple of 8 or 16, so padding and cropping run too.
_SIZE = (72, 104)


def probe_frame(shape_range: ShapeRange, *, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A fixed dark frame with edges, gradients and fine texture, ``(1, 3, H, W)`` in [0, 1].

    It is made as HWC memory and viewed as NCHW, as ``engines.transfer`` hands decoded
    frames to an engine, so a program that assumes contiguous NCHW input fails here.
    """
    h = min(max(_SIZE[0], shape_range.min[1]), shape_range.max[1])
    w = min(max(_SIZE[1], shape_range.min[2]), shape_range.max[2])
    y = torch.linspace(0, 1, h).view(h, 1, 1)
    x = torch.linspace(0, 1, w).view(1, w, 1)
    channel = torch.tensor([0.9, 1.0, 1.15]).view(1, 1, 3)
    texture = 0.5 + 0.5 * torch.sin(x * 37.0 + y * 11.0) * torch.cos(y * 23.0)
    square = ((x > 0.3) & (x < 0.6) & (y > 0.2) & (y < 0.7)).float()
    hwc = (0.02 + 0.06 * texture + 0.12 * square + 0.03 * x) * channel
    return hwc.clamp(0, 1).unsqueeze(0).permute(0, 3, 1, 2).to(device=device, dtype=dtype)


def psnr_db(a: Tensor, b: Tensor) -> float:
    """PSNR of ``a`` against ``b`` in dB for signals in [0, 1] (inf when equal)."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def check_against_eager(
    fn: Callable[[Tensor], Tensor],
    enhancer: nn.Module,
    *,
    backend: str,
    shape_range: ShapeRange,
    device: torch.device,
    dtype: torch.dtype,
) -> float:
    """PSNR of ``fn`` against the eager ``enhancer`` on ``probe_frame``; a NightvidError below the bar."""
    frame = probe_frame(shape_range, device=device, dtype=dtype)
    with torch.inference_mode():
        expected = enhancer.to(device=device, dtype=dtype).eval()(frame.contiguous())
        got = fn(frame)
    score = psnr_db(got, expected)
    if not score >= MIN_PSNR_DB:
        raise NightvidError(
            f"the {backend} engine gives wrong pixels on this machine ({score:.1f} dB against eager on a "
            f"test frame; {MIN_PSNR_DB:.0f} dB needed); use another --backend (eager always works)"
        )
    return score
