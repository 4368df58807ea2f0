"""Ship a kept training phase: its float16 weights become the package's default for the model.

A phase kept by ``scripts/keep_phase.py`` (``training/NAME/weights.safetensors`` and
``model_card.json``) replaces ``nightvid/weights/MODEL.safetensors`` once it beats the
shipped file on SICE eval. The new card holds the phase's card (data, steps, time,
machine, command), the SICE eval report of the new file (``nightvid eval MODEL --json``
output, given with ``--eval-json``), the previous card under ``previous``, and the
commands that reproduce the file (the previous card's, then this phase's).

    nightvid eval lednet --weights training/lednet-train-all-1/weights.safetensors \\
        --data ../shared/data/pairs/SICE/eval --json > /tmp/eval.json
    python scripts/ship_phase.py training/lednet-train-all-1 --model lednet --eval-json /tmp/eval.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent.parent / "nightvid" / "weights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", type=Path, help="a kept phase: weights.safetensors and model_card.json")
    parser.add_argument("--model", required=True)
    parser.add_argument("--eval-json", type=Path, required=True, help="`nightvid eval MODEL --json` of the phase")
    args = parser.parse_args()

    phase_card = json.loads((args.phase / "model_card.json").read_text())
    if phase_card.get("model") != args.model:
        raise SystemExit(f"{args.phase} holds a {phase_card.get('model')} phase, not {args.model}")
    report = json.loads(args.eval_json.read_text())
    shipped = WEIGHTS / f"{args.model}.safetensors"
    card_path = WEIGHTS / f"{args.model}.json"
    previous = json.loads(card_path.read_text())
    shutil.copyfile(args.phase / "weights.safetensors", shipped)
    card = {
        "model": args.model,
        "weights": shipped.name,
        "shipped": {
            "dtype": "float16",
            "sha256": hashlib.sha256(shipped.read_bytes()).hexdigest(),
            "from": str(args.phase / "weights.safetensors"),
        },
        "phase": phase_card,
        "evaluation": {
            "command": f"nightvid eval {args.model} --data SICE/eval",
            "data": report.get("data"),
            "means": {name: method["mean"] for name, method in report["methods"].items()},
        },
        "reproduce": [*previous.get("reproduce", []), phase_card["command"]],
        "previous": previous,
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"shipped {shipped} ({card['shipped']['sha256'][:12]}); card {card_path}")


if __name__ == "__main__":
    main()
