"""``--stabilize`` on real clips, through ``enhance`` as users run it: flicker off against on.

For each clip, the first ``--seconds`` are cut by stream copy (ffmpeg) and enhanced with
default options (the temporal noise filter included), with and without ``--stabilize``,
per model; the outputs (after x264) are read back and scored:

- flicker: the std of the frame-to-frame change of mean luma (0-255,
  ``streamer.stabilise.flicker``), and the same over the output's mean luma (relative:
  a brighter output has larger steps for the same look);
- temporal noise (``compare``'s figure), to show the stabiliser adds no boiling.

    python benchmarks/stabilise.py ../shared/data/video/night-dashcam.mp4 --seconds 4 --models noiser,kind
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np

from nightvid.engines.spec import EngineSpec
from nightvid.jobs.compare.figures import temporal_noise
from nightvid.jobs.enhance import EnhanceJob
from nightvid.streamer.stabilise import flicker, mean_luma


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def figures(frames: list[np.ndarray]) -> str:
    lumas = [mean_luma(f) for f in frames]
    level = float(np.mean(lumas))
    return (
        f"flicker {flicker(lumas):.3f} ({1000 * flicker(lumas) / max(level, 1e-3):.2f} per mille of luma {level:.1f}), "
        f"temporal noise {temporal_noise(frames) or 0.0:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--models", default="noiser,kind,lednet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            cut = Path(tmp) / f"cut{clip.suffix}"
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-t", str(args.seconds), "-c", "copy", str(cut)],
                check=True,
            )
            source = frames_of(cut)
            print(f"{clip.name}: {len(source)} frames; input {figures(source)}", flush=True)
            for model in args.models.split(","):
                for stabilize in (False, True):
                    out = Path(tmp) / f"out-{model}-{stabilize}.mp4"
                    EnhanceJob(cut, out, engine=EngineSpec(model=model), overwrite=True, stabilize=stabilize).run()
                    print(f"  {model} --{'' if stabilize else 'no-'}stabilize: {figures(frames_of(out))}", flush=True)


if __name__ == "__main__":
    main()
