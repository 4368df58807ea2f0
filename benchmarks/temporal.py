"""The temporal noise filter on real clips: temporal noise, dark detail and cost, off against on.

For each clip, the first ``--seconds`` are cut by stream copy (ffmpeg) and enhanced with
default options at each ``--temporal`` setting; the outputs (after x264, as a user gets
them) are read back and scored with ``compare``'s figures against the input:

- temporal noise (mean |dY| between consecutive frames over mean luma), and its ratio
  to the input's (the issue's bar: at most 0.7 on a static camera);
- dark detail (Laplacian energy in the input's darkest third against a plain gain);
- seconds of the whole run, alternating the settings ``--repeats`` times (medians).

    python benchmarks/temporal.py ../shared/data/video/night-cctv-highway.mp4 --seconds 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from nightvid.engines.spec import EngineSpec
from nightvid.jobs.compare.figures import dark_detail, temporal_noise
from nightvid.jobs.enhance import EnhanceJob


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--model", default="noiser")
    parser.add_argument("--temporal", default="1,3,5", help="settings to compare, e.g. 1,3,5")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    settings = [int(t) for t in args.temporal.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            cut = Path(tmp) / f"cut{clip.suffix}"
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-t", str(args.seconds), "-c", "copy", str(cut)],
                check=True,
            )
            source = frames_of(cut)
            base = temporal_noise(source) or 0.0
            print(f"{clip.name}: {len(source)} frames, input temporal noise {base:.4f}")
            seconds: dict[int, list[float]] = {t: [] for t in settings}
            outputs: dict[int, list[np.ndarray]] = {}
            for _ in range(args.repeats):
                for setting in settings:
                    out = Path(tmp) / f"out-{setting}.mp4"
                    job = EnhanceJob(cut, out, engine=EngineSpec(model=args.model), overwrite=True, temporal=setting)
                    start = time.perf_counter()
                    job.run()
                    seconds[setting].append(time.perf_counter() - start)
                    outputs[setting] = frames_of(out)
            for setting in settings:
                frames = outputs[setting]
                noise = temporal_noise(frames) or 0.0
                detail = statistics.median(dark_detail(o, s) for o, s in zip(frames[::5], source[::5], strict=False))
                print(
                    f"  --temporal {setting}: temporal noise {noise:.4f} ({noise / base:.2f}x input), "
                    f"dark detail {detail:.2f}, {statistics.median(seconds[setting]):.1f} s "
                    f"({1000 * statistics.median(seconds[setting]) / len(frames):.1f} ms/frame)"
                )


if __name__ == "__main__":
    main()
