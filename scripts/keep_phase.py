"""Keep a training phase in the repository: its weights as float16 and a card to resume from.

A session ends after 3 hours and takes its ``runs/`` folder with it; the next session
resumes a long run from the kept weights (``--set init=training/NAME/weights.safetensors``).
The card records the data, steps, time, machine, the held-out figures so far, the SICE
eval figures if given, and the command that reproduces the phase.

    python scripts/keep_phase.py runs/lednet4 training/lednet-train-all-1 --model lednet \
        --command "nightvid train lednet ..." --eval "20.55/0.771 at step 500"
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from nightvid.files import cpu_signature, git_commit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the run folder (best.safetensors, metrics.jsonl)")
    parser.add_argument("out", type=Path, help="where to keep the phase")
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", default="best.safetensors", help="file of the run to keep")
    parser.add_argument("--command", required=True, help="the command that ran the phase")
    parser.add_argument("--eval", action="append", default=[], help="SICE eval figures, as text (repeatable)")
    parser.add_argument("--note", default="", help="what the phase is, and whether it was shipped")
    args = parser.parse_args()

    tensors = load_file(str(args.run / args.weights))
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(half, str(args.out / "weights.safetensors"), metadata={"model": args.model})
    # one metrics.jsonl per run, or one per stage (KinD's decom/, adjust/, restoration/)
    logs = (
        [args.run / "metrics.jsonl"]
        if (args.run / "metrics.jsonl").exists()
        else sorted(args.run.glob("*/metrics.jsonl"))
    )
    records = [json.loads(line) for log in logs for line in log.read_text().splitlines() if line.strip()]
    steps = max((r.get("step", 0) for r in records), default=0)
    seconds = max((r.get("elapsed_s", r.get("seconds", 0)) or 0 for r in records), default=0)
    card = {
        "model": args.model,
        "weights": "weights.safetensors (float16)",
        "from_run_file": args.weights,
        "steps_done": steps,
        "seconds": seconds,
        "validation": [r for r in records if r.get("event") == "val"],
        "sice_eval": args.eval,
        "command": args.command,
        "note": args.note,
        "machine": f"{cpu_signature()}, {platform.machine()}, torch {torch.__version__}",
        "commit": git_commit(),
    }
    (args.out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(args.out / "weights.safetensors")


if __name__ == "__main__":
    main()
