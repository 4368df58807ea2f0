"""SICE PSNR/SSIM of each shipped model under brightness policies (the table behind `--exposure auto`).

Runs every model once per pair (its registry colour share, ``exposure=None``), then scores
the tone curve at fixed and input-dependent targets. Scored at half size (2x2 average)
so the sweep fits a shared 2-core CPU; docs/BENCHMARKS.md holds the figures.

    python benchmarks/exposure_policy.py --split train --step 4
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from nightvid import nets
from nightvid.nets.colour import luma
from nightvid.trainers.data import find_pairs, read_image
from nightvid.trainers.metrics import psnr, ssim

MODELS = ("noiser", "lednet", "kind")
#: (gain, power, cap) of ``max(min(gain * m ** power, cap), m)``.
CURVES = [(1.2, 0.3, 0.45), (1.1, 0.4, 0.45), (1.2, 0.4, 0.45), (1.4, 0.4, 0.45), (1.53, 0.5, 0.45), (1.95, 0.6, 0.45)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=("train", "eval"))
    parser.add_argument("--step", type=int, default=4, help="every Nth pair")
    args = parser.parse_args()
    pairs = find_pairs(f"../shared/data/pairs/SICE/{args.split}", split="eval")[:: args.step]
    enhancers = {m: nets.build_enhancer(m, exposure=None) for m in MODELS}
    policies: dict[str, float | tuple[float, float, float] | None] = {
        "none": None,
        "fixed 0.45": 0.45,
        "fixed 0.40": 0.4,
    }
    policies.update({f"auto {g} m^{p}, cap {c}": (g, p, c) for g, p, c in CURVES})
    scores: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with torch.no_grad():
        for low, high in pairs:
            x, y = read_image(low)[None], read_image(high)[None]
            m = float(luma(x).mean())
            half = F.avg_pool2d(y, 2)
            for model, enhancer in enhancers.items():
                out = enhancer(x)
                for name, policy in policies.items():
                    if policy is None:
                        tuned = out
                    elif isinstance(policy, float):
                        tuned = nets.exposure_curve(out, policy)
                    else:
                        gain, power, cap = policy
                        tuned = nets.exposure_curve(out, max(min(gain * m**power, cap), m))
                    tuned = F.avg_pool2d(tuned, 2)
                    scores.setdefault((model, name), []).append((psnr(tuned, half).item(), ssim(tuned, half).item()))
    print(f"{len(pairs)} SICE {args.split} pairs, half size, PSNR / SSIM")
    for name in policies:
        row = [scores[(m, name)] for m in MODELS]
        cells = [f"{sum(p for p, _ in r) / len(r):.2f} / {sum(s for _, s in r) / len(r):.3f}" for r in row]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
