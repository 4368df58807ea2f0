"""Wall time and frames per second of ``nightvid enhance-many`` on this machine.

Short clips with ``--jobs 1``, ``--jobs 2`` and the default; one long clip in one piece
and cut with ``--chunk-seconds``. The clips are the bundled night dashcam clip (640x360,
NoiSER's default engine), re-encoded with a keyframe every 2 s (the bundled file has
one keyframe) and a tone for audio. Every run is a fresh ``nightvid`` process into an
empty output folder, so the wall time includes starting Python, the workers and their
engines, as a user sees it; the first row is the same clips through ``nightvid enhance``,
one process per video, for comparison:

    python benchmarks/enhance_many.py [--clips 8] [--frames 48] [--loops 3] [--chunk-seconds 6] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "nightvid" / "assets" / "night-demo.mp4"


def demo_frames() -> tuple[list[np.ndarray], Fraction]:
    with av.open(str(DEMO)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate or 30)
        return [f.to_ndarray(format="rgb24") for f in container.decode(stream)], rate


def write_clip(path: Path, frames: list[np.ndarray], rate: Fraction) -> Path:
    """H.264 (crf 18, veryfast, keyframe every 2 s) plus an AAC tone as long as the video."""
    with av.open(str(path), "w") as out:
        video = out.add_stream(
            "libx264", rate=rate, options={"crf": "18", "preset": "veryfast", "g": str(round(2 * rate))}
        )
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=44100)
        sound.layout = "mono"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = int(44100 * len(frames) / rate)
        tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(samples) / 44100)).astype(np.float32)[None]
        for start in range(0, samples, 1024):
            part = av.AudioFrame.from_ndarray(tone[:, start : start + 1024].copy(), format="fltp", layout="mono")
            part.sample_rate, part.pts = 44100, start
            out.mux(sound.encode(part))
        out.mux(sound.encode(None))
    return path


def enhance_many(inputs: list[Path], out: Path, *extra: str) -> tuple[float, dict]:
    """One fresh ``nightvid enhance-many`` process; (wall seconds, its JSON summary)."""
    command = [sys.executable, "-m", "nightvid", "enhance-many", *map(str, inputs), "--out-dir", str(out), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command + list(extra), capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command + list(extra))} failed:\n{done.stderr}")
    return wall, json.loads(done.stdout)


def enhance_each(inputs: list[Path], out: Path) -> tuple[float, int]:
    """``nightvid enhance`` once per video, one after another (the way before enhance-many); (wall, frames)."""
    out.mkdir()
    started = time.perf_counter()
    frames = 0
    for src in inputs:
        command = [sys.executable, "-m", "nightvid", "enhance", str(src), str(out / src.name), "--json"]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        frames += json.loads(done.stdout)["frames"]
    return time.perf_counter() - started, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=48, help="frames per short clip")
    parser.add_argument("--loops", type=int, default=3, help="the long clip is the whole demo clip this many times")
    parser.add_argument("--chunk-seconds", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=2, help="runs per row; the median is printed")
    args = parser.parse_args()
    frames, rate = demo_frames()
    with tempfile.TemporaryDirectory(prefix="nightvid-bench-") as tmp:
        folder = Path(tmp)
        shorts = folder / "short"
        shorts.mkdir()
        for i in range(args.clips):
            start = (i * args.frames) % max(1, len(frames) - args.frames)
            write_clip(shorts / f"clip{i}.mp4", frames[start : start + args.frames], rate)
        long = write_clip(folder / "long.mp4", frames * args.loops, rate)
        rows = [
            ("short", [shorts], ["--jobs", "1"], f"{args.clips} clips x {args.frames} frames, --jobs 1"),
            ("short", [shorts], ["--jobs", "2"], f"{args.clips} clips x {args.frames} frames, --jobs 2"),
            ("short", [shorts], [], f"{args.clips} clips x {args.frames} frames, default --jobs"),
            ("long", [long], ["--jobs", "2"], f"1 clip x {len(frames) * args.loops} frames, one piece"),
            (
                "long",
                [long],
                ["--jobs", "2", "--chunk-seconds", str(args.chunk_seconds)],
                f"1 clip x {len(frames) * args.loops} frames, --chunk-seconds {args.chunk_seconds:g} --jobs 2",
            ),
        ]
        enhance_many([shorts / "clip0.mp4"], folder / "warm-up")  # builds the engine into the cache, unmeasured
        load = os.getloadavg()[0]
        print(f"{os.cpu_count()} CPUs, load average {load:.1f} at the start; 640x360 NoiSER, default engine; ")
        print(f"median of {args.repeats}")
        print("| run | wall s | frames | fps (frames / wall) | pool |")
        print("|---|---:|---:|---:|---|")
        clips = sorted(shorts.glob("*.mp4"))
        walls = sorted(enhance_each(clips, folder / f"each-{r}") for r in range(args.repeats))
        wall, written = walls[len(walls) // 2]
        label = f"{args.clips} clips x {args.frames} frames, `nightvid enhance` one by one"
        print(f"| {label} | {wall:.1f} | {written} | {written / wall:.1f} | a process per video |", flush=True)
        for n, (_, inputs, extra, label) in enumerate(rows):
            results = []
            for repeat in range(args.repeats):
                wall, summary = enhance_many(inputs, folder / f"out-{n}-{repeat}", *extra)
                results.append((wall, summary))
            results.sort(key=lambda r: r[0])  # median by wall time
            wall, summary = results[len(results) // 2]
            parts = max(v["parts"] for v in summary["videos"])
            note = f", {parts} parts" if parts > 1 else ""
            print(
                f"| {label} | {wall:.1f} | {summary['frames']} | {summary['frames'] / wall:.1f} | "
                f"{summary['pool']}{note} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
