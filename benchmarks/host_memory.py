"""What keeping freed memory (``engines.host_memory``) is worth: ms and page faults per frame.

Usage:
    python benchmarks/host_memory.py                                  # NoiSER, 4 backends
    python benchmarks/host_memory.py --model kind --sizes 640x360 --frames 4 --json

The allocator tuning is process-wide and cannot be undone, so every measurement runs in
a child process, with ``NIGHTVID_KEEP_FREED_MEMORY=0`` (glibc's defaults) or unset (the
tuning nightvid applies). Children alternate, off then on, for ``--rounds`` rounds, so a
passing load hits both alike; the table shows medians. Each child times ``--frames``
frames of each backend through ``Engine.enhance_batches`` (as ``enhance`` runs them), after
two warm-up frames per worker, and counts the process's minor page faults (``ru_minflt``) meanwhile;
``rss`` is the resident set after them (the tuning keeps freed blocks, so it grows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

SPECS = ("eager", "inductor", "onnx:1", "onnx:2")


def _child(model: str, specs: list[str], sizes: list[str], frames: int) -> dict[str, list[float]]:
    from nightvid.engines import create_engine
    from nightvid.memory import rss_mib

    rng = np.random.default_rng(0)
    results: dict[str, list[float]] = {}
    for spec in specs:
        backend, _, workers = spec.partition(":")
        engine = create_engine(model, backend=backend, device="cpu", workers=int(workers or 1))
        for size in sizes:
            width, height = (int(v) for v in size.split("x"))
            batch = [rng.integers(0, 48, (1, height, width, 3), dtype=np.uint8) for _ in range(2)]
            # Warm-up: two frames per worker, since every ONNX Runtime session plans and
            # allocates its memory over its own first runs.
            list(engine.enhance_batches((batch[i % 2], None) for i in range(2 * engine.workers)))
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            list(engine.enhance_batches((batch[i % 2], None) for i in range(frames)))
            seconds = time.perf_counter() - start
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            results[f"{spec} {size}"] = [1000 * seconds / frames, faults / frames, rss_mib()]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="noiser")
    parser.add_argument("--backends", nargs="+", default=list(SPECS), help="backend[:workers]")
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.model, args.backends, args.sizes, args.frames)))
        return

    runs: dict[str, dict[str, list[list[float]]]] = {"off": {}, "on": {}}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            env = {k: v for k, v in os.environ.items() if k != "NIGHTVID_KEEP_FREED_MEMORY"}
            if mode == "off":
                env["NIGHTVID_KEEP_FREED_MEMORY"] = "0"
            command = [
                sys.executable,
                __file__,
                "--child",
                "--model",
                args.model,
                "--frames",
                str(args.frames),
                "--backends",
                *args.backends,
                "--sizes",
                *args.sizes,
            ]
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            for key, value in json.loads(out.strip().splitlines()[-1]).items():
                runs[mode].setdefault(key, []).append(value)

    rows = []
    for key in runs["on"]:
        off_ms, on_ms = (statistics.median(r[0] for r in runs[m][key]) for m in ("off", "on"))
        off_faults, on_faults = (statistics.median(r[1] for r in runs[m][key]) for m in ("off", "on"))
        off_rss, on_rss = (statistics.median(r[2] for r in runs[m][key]) for m in ("off", "on"))
        rows.append(
            {
                "engine": key,
                "ms_off": round(off_ms, 1),
                "ms_on": round(on_ms, 1),
                "speedup": round(off_ms / on_ms, 2),
                "faults_off": int(off_faults),
                "faults_on": int(on_faults),
                "rss_off_mib": round(off_rss),
                "rss_on_mib": round(on_rss),
            }
        )
    if args.json:
        print(json.dumps({"model": args.model, "frames": args.frames, "rounds": args.rounds, "rows": rows}, indent=2))
        return
    print(f"{args.model}, {args.frames} frames per child, median of {args.rounds} rounds")
    print(
        f"{'engine':<22}{'ms off':>9}{'ms on':>9}{'x':>7}{'faults off':>12}{'faults on':>11}"
        f"{'rss off MiB':>13}{'rss on MiB':>12}"
    )
    for r in rows:
        print(
            f"{r['engine']:<22}{r['ms_off']:>9}{r['ms_on']:>9}{r['speedup']:>7}{r['faults_off']:>12}"
            f"{r['faults_on']:>11}{r['rss_off_mib']:>13}{r['rss_on_mib']:>12}"
        )


if __name__ == "__main__":
    main()
