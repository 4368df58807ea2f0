"""ms/frame of every net x CPU backend at 640x360 and 1280x720, plus compile and load times.

Usage:
    python benchmarks/engines_cpu.py                      # all nets, all CPU backends
    python benchmarks/engines_cpu.py --nets noiser denoiser --repeats 7 --json

One process, backends side by side, batch 1, fp32, random weights for nets without
shipped ones (speed does not depend on the values). Each artifact is built into a fresh
cache (``compile s``: export + compile + first load) and then created again from the
cache (``load s``: verify metadata and sha256 + load). ``inductor-jit`` has no artifact:
its ``compile s`` is the first call minus a steady-state call. Per cell: one warm-up
call of each backend, then ``--repeats`` timed calls of each, taken round-robin (one call
of every backend in turn) so that load from other processes hits all backends alike;
the table shows the median (and JSON the min and every time). Sizes whose slowest
steady call takes more than ``--heavy-seconds`` get ``--heavy-repeats`` calls instead
(LEDNet at 720p is many seconds a frame on 2 cores), and the table marks them ``*``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from nightvid import nets
from nightvid.engines import DEFAULT_RANGE, create_engine
from nightvid.engines.cache import device_identity
from nightvid.errors import NightvidError

SIZES = {"640x360": (360, 640), "1280x720": (720, 1280)}
BACKENDS = ("eager", "inductor", "inductor-jit", "onnx")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import onnxruntime

        out["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        out["onnxruntime"] = "not installed"
    return out


def _call_seconds(engine: Any, x: torch.Tensor) -> float:
    start = time.perf_counter()
    engine(x)
    return time.perf_counter() - start


def bench_net(
    name: str, backends: list[str], *, cache_dir: Path, repeats: int, heavy_repeats: int, heavy_seconds: float, log: Any
) -> list[dict[str, Any]]:
    """Build every backend's engine, then time them round-robin per size.

    Round-robin (one call of each backend in turn, ``repeats`` times) spreads whatever
    else the machine does over all backends alike, instead of penalising whichever
    backend happened to run during a busy minute.
    """
    weights = "default" if nets.shipped_weights(name) else None
    engines: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for backend in backends:
        torch.manual_seed(0)
        start = time.perf_counter()
        try:
            engine = create_engine(
                name, weights=weights, backend=backend, device="cpu", shape_range=DEFAULT_RANGE, cache_dir=cache_dir
            )
        except NightvidError as err:
            log(f"{name}:{backend}: skipped ({err})")
            continue
        row: dict[str, Any] = {"net": name, "backend": backend, "cells": {}}
        if engine.artifact is not None:
            row["compile_s"] = time.perf_counter() - start  # export + compile + first load
            torch.manual_seed(0)
            start = time.perf_counter()
            engine = create_engine(
                name, weights=weights, backend=backend, device="cpu", shape_range=DEFAULT_RANGE, cache_dir=cache_dir
            )
            row["load_s"] = float(engine.details["load_s"])  # verify + load the artifact
            row["create_from_cache_s"] = time.perf_counter() - start  # + building the net
            row["artifact_mib"] = engine.artifact.stat().st_size / 2**20
            log(f"{name}:{backend}: compiled in {row['compile_s']:.1f} s, loads in {row['load_s']:.3f} s")
        engines[backend], rows[backend] = engine, row
    for label, (h, w) in SIZES.items():
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
        first = {b: _call_seconds(e, x) for b, e in engines.items()}  # warm-up (inductor-jit: compile)
        steady = {b: _call_seconds(e, x) for b, e in engines.items()}
        heavy = max(steady.values()) > heavy_seconds
        n = heavy_repeats if heavy else repeats
        times: dict[str, list[float]] = {b: [t] for b, t in steady.items()}
        for _ in range(n - 1):
            for b, e in engines.items():
                times[b].append(_call_seconds(e, x))
        for b, ts in times.items():
            cell = {
                "ms": 1000 * statistics.median(ts),
                "min_ms": 1000 * min(ts),
                "runs": len(ts),
                "heavy": heavy,
                "first_s": first[b],
                "all_ms": [round(1000 * t, 1) for t in ts],
            }
            rows[b]["cells"][label] = cell
            log(
                f"{name}:{b} {label}: {cell['ms']:.1f} ms/frame (median of {cell['runs']}, "
                f"min {cell['min_ms']:.1f}, first call {cell['first_s']:.2f} s)"
            )
        if "inductor-jit" in rows and label == "640x360":
            jit = rows["inductor-jit"]
            jit["compile_s"] = first["inductor-jit"] - jit["cells"][label]["min_ms"] / 1000
    return list(rows.values())


def render(report: dict[str, Any]) -> str:
    lines = [
        f"CPU: {report['machine']['cpu']} ({report['machine']['capability']}), "
        f"{report['machine']['threads']} torch threads; "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"load average before/after: {report['load_before']} / {report['load_after']}",
        "",
        "| net | backend | 640x360 ms | 1280x720 ms | vs eager 360p | vs eager 720p | compile s | load s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for net in report["nets"]:
        rows = [r for r in report["rows"] if r["net"] == net]
        eager = next((r for r in rows if r["backend"] == "eager"), None)
        for r in rows:
            cells = [f"{c['ms']:.1f}{'*' if c['heavy'] else ''}" for c in r["cells"].values()]
            speed = "- | -"
            if eager is not None:
                speed = " | ".join(f"{eager['cells'][k]['ms'] / r['cells'][k]['ms']:.2f}x" for k in SIZES)
            compile_s = f"{r['compile_s']:.1f}" if "compile_s" in r else "-"
            load_s = f"{r['load_s']:.3f}" if "load_s" in r else "-"
            lines.append(f"| {net} | {r['backend']} | {' | '.join(cells)} | {speed} | {compile_s} | {load_s} |")
    lines += [
        "",
        f"ms/frame: median of {report['repeats']} round-robin runs after one warm-up; "
        f"* = heavy size, median of {report['heavy_repeats']} (a steady call over "
        f"{report['heavy_seconds']} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", nargs="+", default=nets.list_nets())
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--heavy-repeats", type=int, default=3)
    parser.add_argument("--heavy-seconds", type=float, default=5.0)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="engine cache (default: a fresh temporary folder, so compile times are real)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--save", type=Path, default=None, help="also write the JSON report to this file")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    name, capability = device_identity(torch.device("cpu"))
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "machine": {"cpu": name, "capability": capability, "threads": torch.get_num_threads(), "cores": os.cpu_count()},
        "versions": _versions(),
        "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "nets": args.nets,
        "repeats": args.repeats,
        "heavy_repeats": args.heavy_repeats,
        "heavy_seconds": args.heavy_seconds,
        "batch": 1,
        "precision": "fp32",
        "shape_range": str(DEFAULT_RANGE),
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="nightvid-bench-cache-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        with torch.inference_mode():
            for net in args.nets:
                report["rows"] += bench_net(
                    net,
                    args.backends,
                    cache_dir=cache_dir,
                    repeats=args.repeats,
                    heavy_repeats=args.heavy_repeats,
                    heavy_seconds=args.heavy_seconds,
                    log=log,
                )
    report["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    if args.save is not None:
        args.save.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else render(report))


if __name__ == "__main__":
    main()
