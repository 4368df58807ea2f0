"""Training throughput on this CPU with 1 and 2 processes (DDP over gloo), in images/s.

Each setting is a fresh ``nightvid train`` run (what a user types), the same recipe and
global batch every time: one process with 1 thread, one process with all threads
(``OMP_NUM_THREADS`` = cores), and ``--devices 2`` (torchrun, gloo, cores / 2 threads
each). The rate is taken between the train records of step 10 and step ``--iters``, so
start-up, the first steps and the final validation are outside it; it includes drawing
the batches (each rank draws the whole global batch and keeps its half) and the
gradient all-reduce.

    python benchmarks/train_ddp_cpu.py [--models lednet,noiser] [--iters 20] [--repeats 2] [--data DIR]

Settings run round-robin, ``--repeats`` times each; the median is reported, with the
load average before and after (other work on the machine moves these numbers).

On a 2-core machine two processes share the same two cores that one process with two
threads uses, so this cannot show scaling; it shows what the split costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "pairs" / "SICE" / "train"

#: model -> (recipe options, global batch): LEDNet as its CPU preset trains (96 px, batch 4).
MODELS = {
    "lednet": (["--patch", "96", "--set", "warmup=0", "--set", "val_images=1", "--set", "validate_every=0"], 4),
    "noiser": (["--patch", "104", "--set", "threads=none"], 4),
}


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def run(model: str, data: Path, iters: int, *, processes: int, threads: int, out: Path) -> dict:
    """One ``nightvid train`` run; images/s between step 10 and the last step."""
    options, batch = MODELS[model]
    cmd = [sys.executable, "-m", "nightvid", "train", model, "--out", str(out), "--iters", str(iters)]
    cmd += ["--batch", str(batch), *options, "-q"]
    if model != "noiser":
        cmd += ["--data", str(data)]
    if processes > 1:
        cmd += ["--devices", str(processes)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = {r["step"]: r for r in records if r["event"] == "train"}
    first, last = train[10], train[iters]
    seconds = last["elapsed_s"] - first["elapsed_s"]
    return {
        "model": model,
        "processes": processes,
        "threads_each": threads,
        "global_batch": batch,
        "steps_timed": iters - 10,
        "images_per_s": round((iters - 10) * batch / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lednet,noiser")
    parser.add_argument("--iters", type=int, default=20, help="steps per run (timed: 10 .. iters)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="paired folder for LEDNet")
    args = parser.parse_args()
    if args.iters <= 10 or args.iters % 10:
        parser.error("--iters must be a multiple of 10 above 10 (train records come every 10 steps)")
    cores = os.cpu_count() or 1
    print(f"# {_cpu_name()}, {cores} cores, torch {torch.__version__}", flush=True)
    settings = [(1, 1), (1, cores), (2, max(1, cores // 2))]
    print(f"# load average before: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            runs: dict[tuple[int, int], list[dict]] = {s: [] for s in settings}
            for repeat in range(args.repeats):
                for processes, threads in settings:
                    out = Path(tmp) / f"{model}-{processes}x{threads}-{repeat}"
                    runs[processes, threads].append(
                        run(model, args.data, args.iters, processes=processes, threads=threads, out=out)
                    )
            for timed in runs.values():
                rates = [r["images_per_s"] for r in timed]
                print(json.dumps({**timed[0], "images_per_s": statistics.median(rates), "runs": rates}), flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
