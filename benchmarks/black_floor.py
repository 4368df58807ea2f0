"""What the black-floor step (``nets.colour.neutral_black``) costs the fused NoiSER path.

Usage:
    python benchmarks/black_floor.py                      # the dashcam clip, 360p and 720p
    python benchmarks/black_floor.py --clip other.mp4 --threads 2

The fused engine's 8-bit path (``FusedNoiser.frames``) on the same frames with the step
on and off (two engines with it off, to show the noise between equal runs), alternated
``--repeats`` times; medians in ms per frame and the ratio on / off.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from nightvid import nets
from nightvid.engines.fused import FusedNoiser

CLIP = Path(__file__).resolve().parents[2] / "shared/data/video/night-dashcam.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with av.open(str(args.clip)) as container:
        decoded = zip(range(args.frames), container.decode(video=0), strict=False)
        frames = [f.to_ndarray(format="rgb24") for _, f in decoded]
    plain = nets.build_enhancer("noiser", deblock=False)  # the 8-bit path runs without deblocking
    plain.neutral_black = False
    engines = {
        "on": FusedNoiser(nets.build_enhancer("noiser", deblock=False), threads=args.threads),
        "off": FusedNoiser(plain, threads=args.threads),
        "off again": FusedNoiser(plain, threads=args.threads),
    }
    for size in ((640, 360), (1280, 720)):
        batch = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames])
        times: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(args.repeats):
            for name, engine in engines.items():
                start = time.perf_counter()
                engine.frames(batch, 1.0)
                times[name].append((time.perf_counter() - start) / len(batch) * 1000)
        medians = {name: statistics.median(t) for name, t in times.items()}
        shown = ", ".join(f"{name} {ms:.2f} ms" for name, ms in medians.items())
        print(f"{size[0]}x{size[1]}: {shown}; on / off {medians['on'] / medians['off']:.3f}")


if __name__ == "__main__":
    main()
