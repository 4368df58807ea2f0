"""The synthetic night video set: PSNR / SSIM per frame and temporal noise, temporal stage off and on.

Sequences are made from clean photos (``trainers.video_pairs``: pan, turn, a moving
patch; dark, noisy, x264), fused by the temporal filter at each ``--temporal`` setting, enhanced by a model frame by
frame, and scored against the clean frames. ``--ceiling`` also scores each model on the
same dark frames without their noise and codec damage (``noiseless_sequence``): what a
perfect denoiser before the net would hand it, the mark a temporal stage aims at.

    python benchmarks/video_eval.py --photos ../shared/data/clean/Kodak24 --count 6
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from nightvid.engines import Engine, create_engine
from nightvid.jobs.compare.figures import temporal_noise
from nightvid.streamer.temporal import temporal_frames, to_8bit
from nightvid.trainers.metrics import ssim
from nightvid.trainers.video_pairs import NightCamera, VideoPair, noiseless_sequence, video_pairs


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div(255).unsqueeze(0)


def score_video(pair: VideoPair, enhance: Callable[[list[np.ndarray]], list[np.ndarray]]) -> dict[str, float]:
    """PSNR and SSIM (means over frames) of ``enhance(pair.dark)`` against ``pair.clean``, and temporal noise."""
    out = enhance(pair.dark)
    return {
        "psnr": float(np.mean([_psnr(o, c) for o, c in zip(out, pair.clean, strict=True)])),
        "ssim": float(
            np.mean([float(ssim(_tensor(o), _tensor(c)).mean()) for o, c in zip(out, pair.clean, strict=True)])
        ),
        "temporal_noise": float(temporal_noise(out) or 0.0),
        "clean_temporal_noise": float(temporal_noise(pair.clean) or 0.0),
    }


def _enhanced(dark: list[np.ndarray], *, engine: Engine, radius: int) -> list[np.ndarray]:
    """Each dark frame through the temporal filter (as ``enhance`` runs it: before the net), then the net."""
    fused = (f for f, _ in temporal_frames(((f, i) for i, f in enumerate(dark)), radius))
    out = [engine.enhance_frames(f[None])[0] for f in fused]
    return [to_8bit(f) if f.dtype == np.uint16 else f for f in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--models", default="noiser")
    parser.add_argument("--temporal", default="1,3,5")
    parser.add_argument(
        "--camera", choices=("default", "real"), default="real", help="NightCamera() or .like_real_clips()"
    )
    parser.add_argument("--exposure", help="linear exposure range LOW,HIGH (default: the camera's)")
    parser.add_argument("--crf", help="x264 crf range LOW,HIGH (default: the camera's)")
    parser.add_argument("--ceiling", action="store_true", help="also score noise-free, codec-free dark frames")
    args = parser.parse_args()
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".png", ".jpg", ".tif", ".bmp"))
    photos = photos[:: max(1, len(photos) // args.count)][: args.count]
    with tempfile.TemporaryDirectory() as tmp:
        camera = NightCamera.like_real_clips() if args.camera == "real" else NightCamera()
        if args.exposure:
            camera = replace(camera, exposure=tuple(float(v) for v in args.exposure.split(",")))
        if args.crf:
            camera = replace(camera, crf=tuple(int(v) for v in args.crf.split(",")))
        pairs = video_pairs(photos, frames=args.frames, work=Path(tmp), camera=camera)
        # video_pairs (seed 0) draws sequence i's camera with seed i
        noiseless = (
            [
                VideoPair(p.name, p.clean, noiseless_sequence(p.clean, seed=i, camera=camera))
                for i, p in enumerate(pairs)
            ]
            if args.ceiling
            else []
        )
        for model in args.models.split(","):
            engine = create_engine(model)
            for setting in (int(t) for t in args.temporal.split(",")):
                enhance = functools.partial(_enhanced, engine=engine, radius=setting // 2)
                scores = [score_video(pair, enhance) for pair in pairs]
                mean = {k: statistics.mean(s[k] for s in scores) for k in scores[0]}
                print(
                    f"{model} --temporal {setting}: PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.3f}, "
                    f"temporal noise {mean['temporal_noise']:.4f} (clean {mean['clean_temporal_noise']:.4f}) "
                    f"over {len(pairs)} sequences x {args.frames} frames"
                )
            if args.ceiling:
                enhance = functools.partial(_enhanced, engine=engine, radius=0)
                scores = [score_video(pair, enhance) for pair in noiseless]
                mean = {k: statistics.mean(s[k] for s in scores) for k in scores[0]}
                print(
                    f"{model} on the frames without noise or codec (the ceiling): "
                    f"PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.3f}"
                )


if __name__ == "__main__":
    main()
