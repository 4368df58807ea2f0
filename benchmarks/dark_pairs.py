"""Very dark, noisy still pairs made from well-exposed photos: a stand-in for sensor-noisy night pairs.

SICE's under-exposed shots come from a camera on a tripod at low ISO: dark, but nearly
free of noise. Night photos from phones and webcams are as dark with strong sensor
noise, the case where a net that brightens also brightens the noise. Each reference here
is taken to linear light, dimmed so the dark input's mean luma lands on a value drawn
from ``--luma`` (log-uniform), given Poisson-Gaussian sensor noise with white-balance
gains on red and blue (``trainers.degrade.poisson_gaussian_noise``) and stored as 8-bit
PNG (no compression: the pairs are stills). Seeded: the same photos give the same pairs.

    python benchmarks/dark_pairs.py ../shared/data/pairs/SICE/eval/high /tmp/dark-pairs
    nightvid eval kind --data /tmp/dark-pairs --json
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from nightvid.trainers.degrade import linear_to_srgb, poisson_gaussian_noise, srgb_to_linear
from nightvid.trainers.loop import step_generator

IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _luma(srgb: torch.Tensor) -> float:
    return float((0.299 * srgb[0] + 0.587 * srgb[1] + 0.114 * srgb[2]).mean())


def _log_uniform(generator: torch.Generator, low: float, high: float) -> float:
    u = float(torch.rand((), generator=generator))
    return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def dim_to(linear: torch.Tensor, luma: float) -> torch.Tensor:
    """``linear`` scaled so its sRGB mean luma is ``luma`` (bisection on the scale: sRGB is not linear)."""
    low, high = 0.0, 1.0
    for _ in range(40):
        mid = (low + high) / 2
        if _luma(linear_to_srgb((linear * mid).clamp(0, 1))) < luma:
            low = mid
        else:
            high = mid
    return linear * (low + high) / 2


def dark_pair(
    reference: torch.Tensor,
    generator: torch.Generator,
    *,
    luma: tuple[float, float],
    gain: tuple[float, float],
    read_sigma: tuple[float, float],
    channel_gain: tuple[float, float],
) -> torch.Tensor:
    """The dark noisy sRGB input for one ``(3, H, W)`` sRGB reference in [0, 1]."""
    target = _log_uniform(generator, *luma)
    dimmed = dim_to(srgb_to_linear(reference), target)
    gains = (_log_uniform(generator, *channel_gain), 1.0, _log_uniform(generator, *channel_gain))
    noisy = poisson_gaussian_noise(
        dimmed,
        gain=_log_uniform(generator, *gain),
        read_sigma=_log_uniform(generator, *read_sigma),
        generator=generator,
        channel_gains=gains,
    )
    return linear_to_srgb(noisy.clamp(0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, help="folder of well-exposed photos (the references)")
    parser.add_argument("out", type=Path, help="paired folder to write: OUT/low, OUT/high")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--luma", type=float, nargs=2, default=(0.03, 0.09), help="dark input's mean luma range")
    parser.add_argument("--gain", type=float, nargs=2, default=(3e-4, 1.5e-3), help="shot-noise gain range (linear)")
    parser.add_argument("--read-sigma", type=float, nargs=2, default=(5e-4, 2e-3), help="read noise range (linear)")
    parser.add_argument("--channel-gain", type=float, nargs=2, default=(1.0, 2.0), help="red/blue WB gain range")
    args = parser.parse_args()
    files = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in IMAGES)
    if not files:
        raise SystemExit(f"no images in {args.photos}")
    (args.out / "low").mkdir(parents=True, exist_ok=True)
    (args.out / "high").mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(files):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        reference = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).float() / 255
        low = dark_pair(
            reference,
            step_generator(args.seed, index),
            luma=tuple(args.luma),
            gain=tuple(args.gain),
            read_sigma=tuple(args.read_sigma),
            channel_gain=tuple(args.channel_gain),
        )
        low8 = (low.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)[..., ::-1]
        cv2.imwrite(str(args.out / "low" / f"{path.stem}.png"), low8)
        cv2.imwrite(str(args.out / "high" / f"{path.stem}.png"), bgr)
        print(f"{path.stem}: mean luma {_luma(low):.3f}")


if __name__ == "__main__":
    main()
