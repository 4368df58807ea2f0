"""Float tensors in and out: ``nightvid.load`` on a ``(B, 3, H, W)`` torch batch in [0, 1].

    python examples/torch_tensors.py                    # 8 frames of the bundled clip -> a temporary folder
    python examples/torch_tensors.py night.mp4 first.png --frames 4 --device cuda

Decodes the first frames with PyAV, stacks them as one float batch on the device
(CUDA when there is one), enhances it in one call and gets a float batch of the same
shape, dtype and device back, ready for the next step of a torch pipeline. Saves the
first frame, before and after side by side, as a PNG.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np
import torch

import nightvid

BUNDLED = Path(nightvid.__file__).resolve().parent / "assets" / "night-demo.mp4"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Enhance a float torch batch with nightvid.load.")
    parser.add_argument("src", nargs="?", type=Path, default=BUNDLED, help="input video (default: the bundled clip)")
    parser.add_argument("dst", nargs="?", type=Path, help="output .png (default: in a temporary folder)")
    parser.add_argument("--frames", type=int, default=8, help="frames in the batch (default: 8)")
    parser.add_argument("--model", default="noiser")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when present)")
    args = parser.parse_args(argv)
    dst = args.dst or Path(tempfile.mkdtemp(prefix="nightvid-")) / f"{args.src.stem}-torch.png"

    with av.open(str(args.src)) as container:
        rgb = [frame.to_ndarray(format="rgb24") for frame in islice(container.decode(video=0), args.frames)]
    if not rgb:
        sys.exit(f"error: no frame in {args.src}")

    engine = nightvid.load(args.model, backend=args.backend, device=args.device)
    print(engine, file=sys.stderr)
    # uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1], on the engine's device
    batch = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float().div(255).to(engine.device)
    bright = engine(batch)
    assert bright.shape == batch.shape and bright.dtype == batch.dtype and bright.device == batch.device
    print(f"{len(batch)} frames, mean level {batch.mean():.3f} -> {bright.mean():.3f}", file=sys.stderr)

    side_by_side = torch.cat([batch[0], bright[0]], dim=2)  # (3, H, 2W)
    image = side_by_side.mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    cv2.imwrite(str(dst), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(dst)


if __name__ == "__main__":
    main()
