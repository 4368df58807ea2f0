"""CPU time and file size of each x264 preset on frames NoiSER enhanced from the night clip.

What chose ``veryfast`` as the default preset (``streamer.encode.DEFAULT_PRESET``):

    python benchmarks/x264_presets.py [--frames 60] [--crf 18]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from nightvid.engines import create_engine
from nightvid.streamer.colour import tags_for
from nightvid.streamer.decode import iter_frames, open_input
from nightvid.streamer.encode import VideoWriter
from nightvid.streamer.encode_options import EncodeOptions

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared/data/video/night-dashcam.mp4")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--crf", type=int, default=18)
    args = parser.parse_args()
    engine = create_engine("noiser")
    container, info = open_input(args.clip)
    with container:
        decoded = [frame for _, frame in zip(range(args.frames), iter_frames(container), strict=False)]
    tags = tags_for(decoded[0])
    enhanced = [engine.enhance_frames(tags.to_rgb(f)[None])[0] for f in decoded]
    print(f"{len(enhanced)} frames {info.width}x{info.height}, crf {args.crf}")
    for preset in PRESETS:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "out.mp4"
            writer = VideoWriter(path, info, colour=tags, options=EncodeOptions(crf=args.crf, preset=preset))
            wall, cpu = time.perf_counter(), time.process_time()
            for rgb, frame in zip(enhanced, decoded, strict=False):
                writer.write(rgb, frame.pts)
            writer.close()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"{preset:10s} {1000 * cpu / len(enhanced):6.1f} ms CPU/frame "
                f"{1000 * wall / len(enhanced):6.1f} ms wall/frame {path.stat().st_size / 1024:6.0f} KiB"
            )


if __name__ == "__main__":
    main()
