"""Do cache-sized tiles pay for the heavy nets on the CPU? ms per frame and working memory.

Usage:
    python benchmarks/heavy_tiles.py                       # kind, lednet, denoiser at 640x360
    python benchmarks/heavy_tiles.py --models kind --tiles 0 256 --repeats 3 --json

NoiSER's fused kernel keeps its 32-channel map in cache by working a row at a time. The
heavy nets (KinD, LEDNet, the denoiser) have deep receptive fields, so the same idea
means overlapping tiles (``engines.tiling``, the overlap ``wrappers.tiled`` uses), whose
borders are computed twice. Per net and tile side (0 = the whole frame), eager fp32 on
one frame: the median ms of ``--repeats`` calls taken round-robin, and the working
memory of one call (RSS growth over it after freed memory is returned, as
``tiling.bytes_per_pixel`` measures it) in MiB and bytes per pixel.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from nightvid.engines import create_engine
from nightvid.engines.wrappers import tiled
from nightvid.memory import PeakMemory, release_freed_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["kind", "lednet", "denoiser"])
    parser.add_argument("--tiles", nargs="+", type=int, default=[0, 512, 256])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    frame = np.random.default_rng(0).integers(0, 48, (1, height, width, 3), dtype=np.uint8)
    report: dict[str, dict[str, list[float]]] = {}
    for model in args.models:
        base = create_engine(model, backend="eager", tile=0)
        engines = {side: tiled(base, side or None) for side in args.tiles}
        times: dict[int, list[float]] = {side: [] for side in args.tiles}
        memory: dict[int, float] = {}
        for side, engine in engines.items():
            engine.enhance_frames(frame)  # warm-up
            release_freed_memory()
            with PeakMemory(torch.device("cpu")) as peak:
                engine.enhance_frames(frame)
            memory[side] = peak.peak_mib - peak.start_mib
        for _ in range(args.repeats):
            for side, engine in engines.items():
                start = time.perf_counter()
                engine.enhance_frames(frame)
                times[side].append(1000 * (time.perf_counter() - start))
        report[model] = {
            str(side): [statistics.median(times[side]), memory[side], memory[side] * 2**20 / (width * height)]
            for side in args.tiles
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"| net | tile | ms/frame ({args.size}) | working MiB | bytes/px |")
    print("|---|---:|---:|---:|---:|")
    for model, rows in report.items():
        for side, (ms, mib, per_pixel) in rows.items():
            print(f"| {model} | {side if side != '0' else 'whole'} | {ms:.0f} | {mib:.0f} | {per_pixel:.0f} |")


if __name__ == "__main__":
    main()
