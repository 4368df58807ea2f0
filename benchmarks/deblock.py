"""What dark deblocking (``nets.deblock.deblock_dark``) costs, per model, side by side.

Usage:
    python benchmarks/deblock.py                          # the bundled clip, NoiSER, 1 and 2 threads
    python benchmarks/deblock.py --models noiser,kind --clip other.mp4 --threads 2

For each model, the default engine (``create_engine``, backend ``auto``) with the step on
(the default) and off (``--no-deblock``), alternated ``--repeats`` times on the same
frames, batches of 4; medians in ms per frame and the ratio on / off. With the step on,
NoiSER's fused engine takes its float path (the step runs in torch first) instead of
reading 8-bit frames in the kernel.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av
import numpy as np
import torch

from nightvid.engines import create_engine

CLIP = Path(__file__).resolve().parents[1] / "nightvid/assets/night-demo.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--models", default="noiser")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    with av.open(str(args.clip)) as container:
        decoded = zip(range(args.frames), container.decode(video=0), strict=False)
        frames = np.stack([f.to_ndarray(format="rgb24") for _, f in decoded])
    height, width = frames.shape[1:3]
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for model in args.models.split(","):
            engines = {on: create_engine(model, deblock=None if on else False) for on in (True, False)}
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeats):
                for on, engine in engines.items():
                    start = time.perf_counter()
                    for i in range(0, len(frames), 4):
                        engine.enhance_frames(frames[i : i + 4])
                    times[on].append((time.perf_counter() - start) / len(frames) * 1000)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            print(
                f"{model} {width}x{height}, {threads} thread(s), {engines[True].backend}: "
                f"deblock {on:.1f} ms, --no-deblock {off:.1f} ms a frame; on / off {on / off:.2f}"
            )


if __name__ == "__main__":
    main()
