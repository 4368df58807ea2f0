"""What each step of one frame's CPU path costs, beside the net itself.

The steps ``enhance_video`` takes per frame on the CPU, timed one by one on real frames
of the night clip (median ms over the frames, one thread of timing, the net on the
engine's threads):

    decode -> RGB (colour.to_rgb) -> uint8 to float NCHW (transfer.to_input)
    -> net -> float to uint8 NHWC (transfer.to_frames) -> RGB -> YUV (colour.from_rgb)

    python benchmarks/hot_path.py [--frames 60] [--width 640] [--backend auto]

Encoding itself is left out (``benchmarks/x264_presets.py`` times it per preset).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from nightvid.engines import create_engine
from nightvid.engines.transfer import to_frames, to_input
from nightvid.streamer.colour import tags_for
from nightvid.streamer.decode import iter_frames, open_input

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def timed(step: Callable[..., T], *args: object) -> tuple[T, float]:
    """``step(*args)``'s result and the milliseconds it took."""
    start = time.perf_counter()
    result = step(*args)
    return result, 1000 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared/data/video/night-dashcam.mp4")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--width", type=int, default=None, help="resize the frames to this width first")
    parser.add_argument("--model", default="noiser")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    engine = create_engine(args.model, backend=args.backend)
    container, _ = open_input(args.clip)
    with container:
        decoded = [frame for _, frame in zip(range(args.frames), iter_frames(container), strict=False)]
    if args.width:
        height = round(decoded[0].height * args.width / decoded[0].width / 2) * 2
        decoded = [f.reformat(width=args.width, height=height) for f in decoded]
    tags = tags_for(decoded[0])
    rgb = [tags.to_rgb(f) for f in decoded]
    engine.enhance_frames(rgb[0][None])  # warm-up

    steps: dict[str, list[float]] = {}
    with torch.inference_mode():
        for frame, image in zip(decoded, rgb, strict=False):
            _, to_rgb_ms = timed(tags.to_rgb, frame)
            batch = torch.from_numpy(image[None])
            x, to_input_ms = timed(to_input, batch, engine.dtype)
            y, net_ms = timed(engine.fn, x)
            _, to_frames_ms = timed(to_frames, y, batch.dtype)
            _, from_rgb_ms = timed(tags.from_rgb, image, "yuv420p")
            timings = {
                "decoded frame -> RGB uint8": to_rgb_ms,
                "uint8 NHWC -> float NCHW": to_input_ms,
                "net": net_ms,
                "float NCHW -> uint8 NHWC": to_frames_ms,
                "RGB uint8 -> YUV 4:2:0 frame": from_rgb_ms,
            }
            for name, ms in timings.items():
                steps.setdefault(name, []).append(ms)
    height, width = rgb[0].shape[:2]
    print(f"{len(rgb)} frames {width}x{height}, {args.model}:{engine.backend}, median ms per frame")
    net = statistics.median(steps["net"])
    for name, values in steps.items():
        ms = statistics.median(values)
        share = "" if name == "net" else f"  ({100 * ms / net:.1f}% of the net)"
        print(f"{name:30s} {ms:8.2f}{share}")


if __name__ == "__main__":
    main()
