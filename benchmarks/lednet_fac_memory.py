"""Peak memory of LEDNet's filter-adaptive convolution: ``unfold`` form vs shifted form.

Runs each variant in a fresh subprocess (so one run's peak cannot hide another's) and
reads the process's peak resident set size, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
before and after one forward pass under ``torch.no_grad()`` in float32 on the CPU.
PyTorch's CPU allocator returns large blocks to the OS when they are freed, so the peak
RSS follows the peak of live tensors.

Two scopes:

- ``net``: the whole LEDNet on one frame (random weights; memory does not depend on them);
- ``fac``: the FAC alone at the decoder's 1/2 scale, its largest call (64 channels,
  1600 kernel planes).

Usage::

    python benchmarks/lednet_fac_memory.py                    # 1280x720, 1 thread
    python benchmarks/lednet_fac_memory.py --height 1080 --width 1920 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

MIB = 1024  # ru_maxrss is in KiB on Linux


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB


def _worker(variant: str, scope: str, height: int, width: int, threads: int) -> None:
    import torch

    from nightvid.nets import lednet as module

    torch.set_num_threads(threads)
    fac = module._filter_adaptive_conv_unfold if variant == "unfold" else module.filter_adaptive_conv
    with torch.no_grad():
        if scope == "net":
            module.filter_adaptive_conv = fac  # what LEDNet.forward calls
            net = module.LEDNet().eval()
            x = torch.rand(1, 3, height, width)

            def run() -> object:
                return net(x)
        else:
            feat = torch.randn(1, 64, height // 2, width // 2)
            kernel = torch.randn(1, 64 * 25, height // 2, width // 2)

            def run() -> object:
                return fac(feat, kernel)

        before = _peak_mib()
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
    print(json.dumps({"before": before, "peak": _peak_mib(), "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scope", choices=["net", "fac", "both"], default="both")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "SCOPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker, args.height, args.width, args.threads)
        return

    scopes = ["fac", "net"] if args.scope == "both" else [args.scope]
    print(f"LEDNet FAC peak memory, {args.width}x{args.height} float32, CPU, {args.threads} thread(s)")
    print(f"{'scope':<5} {'variant':<8} {'RSS before':>11} {'peak RSS':>10} {'peak - before':>14} {'time':>8}")
    for scope in scopes:
        for variant in ("unfold", "shifted"):
            cmd = [sys.executable, __file__, "--worker", variant, scope, "--height", str(args.height),
                   "--width", str(args.width), "--threads", str(args.threads)]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"{scope:<5} {variant:<8} {r['before']:>8.0f} MiB {r['peak']:>6.0f} MiB "
                  f"{r['peak'] - r['before']:>10.0f} MiB {r['seconds']:>7.1f}s")  # fmt: skip


if __name__ == "__main__":
    main()
