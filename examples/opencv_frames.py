"""Bring your own frames: read with OpenCV, enhance with ``nightvid.load``, write with OpenCV.

    python examples/opencv_frames.py                    # 8 frames of the bundled clip -> a temporary folder
    python examples/opencv_frames.py night.mp4 out.mp4 --frames 100 --model lednet

Writes the enhanced frames as a video (``cv2.VideoWriter``, MPEG-4 Part 2: no audio,
constant rate) and the first frame, before and after side by side, as a PNG beside it.
For the whole file with its audio and timing, use ``nightvid.enhance`` (enhance_file.py).
OpenCV frames are BGR; nightvid takes RGB, so each frame is converted on the way in and out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

import nightvid

BUNDLED = Path(nightvid.__file__).resolve().parent / "assets" / "night-demo.mp4"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Enhance frames read with OpenCV using nightvid.load.")
    parser.add_argument("src", nargs="?", type=Path, default=BUNDLED, help="input video (default: the bundled clip)")
    parser.add_argument("dst", nargs="?", type=Path, help="output .mp4 (default: in a temporary folder)")
    parser.add_argument("--frames", type=int, default=8, help="frames to enhance (default: 8)")
    parser.add_argument("--model", default="noiser")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args(argv)
    dst = args.dst or Path(tempfile.mkdtemp(prefix="nightvid-")) / f"{args.src.stem}-opencv.mp4"

    capture = cv2.VideoCapture(str(args.src))
    if not capture.isOpened():
        sys.exit(f"error: OpenCV cannot open {args.src}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    engine = nightvid.load(args.model, backend=args.backend)  # build once, call per frame
    print(engine, file=sys.stderr)

    writer = None
    count = 0
    while count < args.frames:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        bright = engine(rgb)  # (H, W, 3) uint8 in, the same out
        out = cv2.cvtColor(bright, cv2.COLOR_RGB2BGR)
        if writer is None:
            height, width = out.shape[:2]
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
            cv2.imwrite(str(dst.with_suffix(".png")), np.hstack([bgr, out]))
        writer.write(out)
        count += 1
    capture.release()
    if writer is None:
        sys.exit(f"error: no frame could be read from {args.src}")
    writer.release()
    print(f"{count} frames -> {dst} (first frame, before | after: {dst.with_suffix('.png')})", file=sys.stderr)
    print(dst)


if __name__ == "__main__":
    main()
