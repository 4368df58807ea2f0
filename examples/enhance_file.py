"""Enhance a video file with ``nightvid.enhance``, as ``nightvid enhance`` does.

    python examples/enhance_file.py                     # the bundled dark clip -> a temporary folder
    python examples/enhance_file.py night.mp4 night-bright.mp4 --model lednet

Audio is copied untouched and every frame keeps its time. Prints the summary and, on
the last line, the path of the result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nightvid

#: The dark dashcam clip shipped with the package (the one ``nightvid demo`` enhances).
BUNDLED = Path(nightvid.__file__).resolve().parent / "assets" / "night-demo.mp4"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Enhance a dark video file with nightvid.enhance.")
    parser.add_argument("src", nargs="?", type=Path, default=BUNDLED, help="input video (default: the bundled clip)")
    parser.add_argument("dst", nargs="?", type=Path, help="output video (default: in a temporary folder)")
    parser.add_argument("--model", default="noiser", help="noiser, lednet, kind, denoiser (default: noiser)")
    parser.add_argument("--backend", default="auto", help="auto, eager, fused, inductor, onnx, tensorrt")
    args = parser.parse_args(argv)
    dst = args.dst or Path(tempfile.mkdtemp(prefix="nightvid-")) / f"{args.src.stem}-bright.mp4"

    def progress(done: int, total: int | None) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total or '?'} frames", end="", file=sys.stderr, flush=True)

    try:
        summary = nightvid.enhance(
            args.src, dst, model=args.model, backend=args.backend, overwrite=True, on_progress=progress
        )
    except nightvid.NightvidError as err:  # a one-line message: a missing file, a bad option
        sys.exit(f"error: {err}")
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{summary['frames']} frames of {summary['width']}x{summary['height']} in {summary['seconds']:.1f} s")
    print(summary["output"])


if __name__ == "__main__":
    main()
