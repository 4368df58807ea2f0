"""Training-step throughput of LEDNet and KinD's restoration net on this CPU, in images/s.

Settings compared side by side, round-robin, median of ``--repeats`` timings of
``--steps`` steps each (after warm-up): fp32; bf16 autocast (fast where the CPU has
AVX512-BF16 or AMX); channels_last, with and without bf16; 1 and 2 threads. The step
is the recipe's own (forward, loss, backward, Adam), on random patches, so data loading
is not in the figure.

    python benchmarks/train_step_cpu.py --nets lednet,kind --patch 96 --batch 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import subprocess
import time

import torch

from nightvid import nets
from nightvid.trainers.kind import restoration_loss
from nightvid.trainers.lednet import LEDNetRecipe, lednet_loss


def _cpu_name() -> str:
    with contextlib.suppress(Exception):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _step_fn(name: str, batch: int, patch: int):
    """(model, one-step callable) for a net's training step on random data."""
    torch.manual_seed(0)
    if name == "lednet":
        model = nets.build("lednet")
        recipe = LEDNetRecipe()
        low, high = torch.rand(batch, 3, patch, patch) * 0.2, torch.rand(batch, 3, patch, patch)

        def loss():
            return lednet_loss(model, (low, high), recipe=recipe, perceptual=None)[0]
    else:
        model = nets.build("kind").restoration
        r, lum, target = (
            torch.rand(batch, 3, patch, patch),
            torch.rand(batch, 1, patch, patch),
            torch.rand(batch, 3, patch, patch),
        )

        def loss():
            return restoration_loss(model(r, lum), target)[0]

    return model, loss


def measure(name: str, *, batch: int, patch: int, bf16: bool, channels_last: bool, threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    model, loss = _step_fn(name, batch, patch)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            value = loss()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    step()
    step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="lednet,kind")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=96)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="2,1")
    args = parser.parse_args()
    settings = []
    for threads in (int(t) for t in args.threads.split(",")):
        for bf16 in (False, True):
            for cl in (False, True):
                settings.append({"bf16": bf16, "channels_last": cl, "threads": threads})
    print(f"CPU: {_cpu_name()}, torch {torch.__version__}, batch {args.batch}, patch {args.patch}")
    rows = []
    for name in args.nets.split(","):
        timings: dict[int, list[float]] = {i: [] for i in range(len(settings))}
        for _ in range(args.repeats):
            for i, s in enumerate(settings):
                timings[i].append(measure(name, batch=args.batch, patch=args.patch, steps=args.steps, **s))
        base = statistics.median(timings[0])
        for i, s in enumerate(settings):
            ips = statistics.median(timings[i])
            rows.append({"net": name, **s, "images_per_s": round(ips, 3), "vs_fp32": round(ips / base, 2)})
            print(
                f"{name:7s} threads={s['threads']} bf16={s['bf16']!s:5s} channels_last={s['channels_last']!s:5s} "
                f"{ips:7.3f} img/s  x{ips / base:.2f}",
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
