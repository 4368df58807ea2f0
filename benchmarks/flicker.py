"""Flicker of each model on a real night clip, with and without ``--stabilize``.

Flicker = std of the frame-to-frame change of mean luma (0-255). One inference pass per
model; the stabiliser is applied to the same outputs, so the two numbers differ only
by stabilisation.

    python benchmarks/flicker.py [--clip ../shared/data/video/night-dashcam.mp4] [--frames N]
        [--models noiser kind] [--backend auto] [--width 320] [--json]

``--width`` resizes the frames first (the heavy nets take seconds per 640x360 frame on
a 2-core CPU); the numbers then describe the model at that size.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from nightvid import nets
from nightvid.engines import create_engine
from nightvid.streamer.colour import tags_for
from nightvid.streamer.decode import iter_frames, open_input
from nightvid.streamer.stabilise import BrightnessStabiliser, flicker, mean_luma

ROOT = Path(__file__).resolve().parents[1]


def _frames(container: av.container.InputContainer, frames: int | None, width: int | None) -> Iterator[np.ndarray]:
    """RGB frames of the clip, the first ``frames`` of them, resized to ``width``."""
    tags = None
    for i, frame in enumerate(iter_frames(container)):
        if frames is not None and i >= frames:
            return
        tags = tags or tags_for(frame)
        if width is not None:
            frame = frame.reformat(width=width, height=round(frame.height * width / frame.width / 2) * 2)
        yield tags.to_rgb(frame)


def measure(model: str, clip: Path, frames: int | None, *, backend: str = "auto", width: int | None = None) -> dict:
    engine = create_engine(model, weights="default", backend=backend, workers=None)
    stabilize = BrightnessStabiliser()
    src_l, raw_l, stab_l = [], [], []
    container, _ = open_input(clip)
    with container:
        batches = ((image[None], image) for image in _frames(container, frames, width))
        for out, rgb in engine.enhance_batches(batches):  # two frames at a time on CPU workers
            out = out[0]
            src_l.append(mean_luma(rgb))
            raw_l.append(mean_luma(out))
            stab_l.append(mean_luma(stabilize(rgb, out)))
    return {
        "model": model,
        "backend": engine.backend,
        "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "frames": len(raw_l),
        "input_flicker": round(flicker(src_l), 3),
        "flicker": round(flicker(raw_l), 3),
        "stabilized_flicker": round(flicker(stab_l), 3),
        "mean_luma_in": round(float(np.mean(src_l)), 2),
        "mean_luma_out": round(float(np.mean(raw_l)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared/data/video/night-dashcam.mp4")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--models", nargs="*", default=None, help="default: every model with shipped weights")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--width", type=int, default=None, help="resize frames to this width first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    models = args.models or [m for m in nets.list_nets() if nets.shipped_weights(m)]
    rows = [measure(m, args.clip, args.frames, backend=args.backend, width=args.width) for m in models]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'model':10} {'frames':>6} {'input':>7} {'raw':>7} {'stabilised':>10}  mean luma in->out")
    for r in rows:
        print(
            f"{r['model']:10} {r['frames']:6d} {r['input_flicker']:7.3f} {r['flicker']:7.3f} "
            f"{r['stabilized_flicker']:10.3f}  {r['mean_luma_in']} -> {r['mean_luma_out']}"
        )


if __name__ == "__main__":
    main()
