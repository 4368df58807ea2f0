"""What this CPU can do at most, and what NoiSER needs of it per frame: the real limit.

Usage:
    python benchmarks/cpu_limits.py            # 1 and 2 threads, 1280x720
    python benchmarks/cpu_limits.py --json

Measures (medians of ``--repeats``, after a warm-up):

- memory bandwidth: ``copy`` (read + write of a 512 MiB float32 array, counted as both)
  and ``read`` (a sum over it), with torch's kernels on 1 and 2 threads;
- arithmetic: a 2048^3 float32 matmul (oneDNN/MKL, the best FMA code torch has) and the
  same in bfloat16 (AMX or AVX512-BF16 where the CPU has them), in GFLOP/s;
- the fused NoiSER kernel (``--backend fused``) on a 1280x720 frame: its two passes, ms
  and the GFLOP/s they reach;

then prints NoiSER's bytes and FLOPs per frame, and the time each would take at the
measured peaks: the eager graph's memory traffic against the fused kernel's compute.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

#: NoiSER per pixel: conv1 27x32 and conv2 32x27 multiply-adds, 2 FLOPs each.
FLOPS_PER_PIXEL = 2 * (27 * 32 + 32 * 27)
#: The stats pass: 27 sums and 378 products of the 27-value patch, 2 FLOPs each.
STATS_FLOPS_PER_PIXEL = 2 * (27 + 27 * 28 // 2)
#: Bytes the eager graph moves per pixel in fp32 (a lower bound: each op reads its input
#: once and writes its output once; oneDNN's conv reads its input more than once):
#: conv1 3->32 (12 in, 128 out), instance norm (128 read for the statistics, 128 in,
#: 128 out), GELU (128 in, 128 out), conv2 32->3 (128 in, 12 out), tanh (12, 12), the
#: colour post-step (~10 passes over 3 or 1 channels, ~100) and the Enhancer's
#: conversions (~50).
EAGER_BYTES_PER_PIXEL = 12 + 128 + 3 * 128 + 2 * 128 + 128 + 12 + 24 + 100 + 50
#: The fused kernel: 3 bytes read in the stats pass, 3 read and 3 written in the second.
FUSED_BYTES_PER_PIXEL = 9


def timed(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bandwidth(threads: int, repeats: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    a = torch.ones(128 * 2**20)  # 512 MiB
    b = torch.empty_like(a)
    nbytes = a.numel() * 4
    copy = timed(lambda: b.copy_(a), repeats)
    read = timed(lambda: a.sum(), repeats)
    return {"copy_gb_s": 2 * nbytes / copy / 1e9, "read_gb_s": nbytes / read / 1e9}


def matmul(threads: int, repeats: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    n = 2048
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        out[f"{name}_gflop_s"] = 2 * n**3 / timed(lambda a=a, b=b: a @ b, repeats) / 1e9
    return out


def fused_kernel(threads: int, repeats: int, width: int, height: int) -> dict[str, float]:
    from nightvid import nets
    from nightvid.engines.fused import FusedNoiser

    torch.set_num_threads(threads)
    fused = FusedNoiser(nets.build_enhancer("noiser", deblock=False), threads=threads)  # the 8-bit kernel alone
    frame = np.random.default_rng(0).integers(0, 40, (1, height, width, 3), dtype=np.uint8)
    image = torch.from_numpy(frame[0])
    centre = image[::8, ::8].reshape(-1, 3).float().mean(dim=0) / 255
    stats = timed(lambda: fused._folded(image, (2, 0, 1), centre, u8=True), repeats)
    whole = timed(lambda: fused.frames(frame, 1.0), repeats)
    pixels = width * height
    return {
        "stats_ms": 1000 * stats,
        "net_ms": 1000 * (whole - stats),
        "frame_ms": 1000 * whole,
        "net_gflop_s": FLOPS_PER_PIXEL * pixels / (whole - stats) / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    report: dict[str, dict[str, float]] = {}
    for threads in args.threads:
        report[f"{threads} thread(s)"] = {
            **bandwidth(threads, args.repeats),
            **matmul(threads, args.repeats),
            **fused_kernel(threads, args.repeats, width, height),
        }
    pixels = width * height
    best = report[f"{max(args.threads)} thread(s)"]
    limits = {
        "pixels": pixels,
        "gflop_per_frame": FLOPS_PER_PIXEL * pixels / 1e9,
        "stats_gflop_per_frame": STATS_FLOPS_PER_PIXEL * pixels / 1e9,
        "eager_mb_per_frame": EAGER_BYTES_PER_PIXEL * pixels / 1e6,
        "fused_mb_per_frame": FUSED_BYTES_PER_PIXEL * pixels / 1e6,
        "eager_memory_ms_at_copy_bw": EAGER_BYTES_PER_PIXEL * pixels / (best["copy_gb_s"] * 1e9) * 1000,
        "fused_memory_ms_at_copy_bw": FUSED_BYTES_PER_PIXEL * pixels / (best["copy_gb_s"] * 1e9) * 1000,
        "compute_ms_at_fp32_matmul": (FLOPS_PER_PIXEL + STATS_FLOPS_PER_PIXEL)
        * pixels
        / (best["fp32_gflop_s"] * 1e9)
        * 1000,
    }
    if args.json:
        print(json.dumps({"measured": report, "limits": limits}, indent=2))
        return
    print(
        "| threads | copy GB/s | read GB/s | fp32 matmul GFLOP/s | bf16 matmul GFLOP/s "
        "| fused stats ms | fused net ms | fused net GFLOP/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, row in report.items():
        print(
            f"| {key} | {row['copy_gb_s']:.1f} | {row['read_gb_s']:.1f} | {row['fp32_gflop_s']:.0f} | "
            f"{row['bf16_gflop_s']:.0f} | {row['stats_ms']:.1f} | {row['net_ms']:.1f} | {row['net_gflop_s']:.0f} |"
        )
    print(f"\nper {width}x{height} frame:")
    for key, value in limits.items():
        print(f"  {key}: {value:.2f}" if isinstance(value, float) else f"  {key}: {value}")


if __name__ == "__main__":
    main()
