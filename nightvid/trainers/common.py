"""Small pieces the recipes share: file splits, held-out validation pairs, export.

Every recipe ends the same way: ``fit`` has written ``best.safetensors`` (the weights
with the best validation PSNR), the recipe's final weights are saved next to it, and a
``model_card.json`` records the recipe, the data, the iterations, the seed, the last
and best validation metrics and the commit (:func:`finish_run`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import nn

from nightvid import nets
from nightvid.errors import NightvidError
from nightvid.trainers.loop import BEST_FILE, FitResult, save_weights, write_model_card

__all__ = ["CARD_FILE", "FINAL_FILE", "finish_run", "recipe_dict", "ship_weights", "split_files"]

log = logging.getLogger(__name__)

CARD_FILE = "model_card.json"
FINAL_FILE = "final.safetensors"


def split_files(files: Sequence[Path], *, held: int) -> tuple[list[Path], list[Path]]:
    """``(train, val)``: the last ``held`` files (sorted order) are held out for validation.

    Example:
        >>> split_files([Path(f"{i}.png") for i in range(5)], held=2)[1]
        [PosixPath('3.png'), PosixPath('4.png')]
    """
    files = sorted(files)
    if held < 0:
        raise NightvidError(f"held-out count must be >= 0, got {held}")
    if len(files) <= held:
        raise NightvidError(f"{len(files)} image(s) cannot spare {held} for validation")
    return files[: len(files) - held], files[len(files) - held :]


def recipe_dict(recipe: Any) -> dict[str, Any]:
    """A frozen recipe dataclass as a JSON-able dict (tuples become lists when written)."""
    return asdict(recipe)


def finish_run(
    model: nn.Module,
    result: FitResult,
    out_dir: Path,
    *,
    model_name: str,
    recipe: Any,
    data: Mapping[str, Any],
    seconds: float,
    device: str,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save the final weights and write ``model_card.json``; return the best weights' path.

    ``best.safetensors`` (written by ``fit`` at the best validation PSNR) is what the
    card describes and what the caller should ship; without a validator the final
    weights are copied to it.
    """
    final = save_weights(model, out_dir / FINAL_FILE, model_name=model_name)
    best = out_dir / BEST_FILE
    if not best.exists():
        save_weights(model, best, model_name=model_name)
    write_model_card(
        out_dir / CARD_FILE,
        {
            "model": model_name,
            "weights": BEST_FILE,
            "recipe": recipe_dict(recipe),
            "seed": getattr(recipe, "seed", None),
            "iterations": result.steps,
            "data": dict(data),
            "metrics": {
                "validation_last": result.metrics,
                "validation_best": {"psnr": result.best, "step": result.best_step},
            },
            "final_loss": result.final.get("loss"),
            "final": result.final,
            "params": nets.param_count(model),
            "train_seconds": round(seconds, 2),
            "device": device,
            **dict(extra or {}),
        },
    )
    log.info(
        "%s: %d steps, best validation PSNR %s at step %s -> %s (final weights %s)",
        model_name,
        result.steps,
        result.best,
        result.best_step,
        best,
        final,
    )
    return best


def ship_weights(
    best: Path | str,
    dest: Path | str,
    *,
    model_name: str,
    float16: bool = False,
    evaluation: Mapping[str, Any] | None = None,
) -> Path:
    """Copy a run's weights to ``dest`` (e.g. ``nightvid/weights/kind.safetensors``) with its card.

    ``float16=True`` stores floating tensors in half precision (``nets.load_weights``
    copies them into the float32 net). The card beside ``best`` is written as
    ``dest.with_suffix(".json")`` with ``shipped`` (dtype, sha256, source) and
    ``evaluation`` (the ``nightvid eval`` numbers) added.
    """
    import hashlib

    from safetensors.torch import save as safetensors_save

    from nightvid.nets._api import read_weights
    from nightvid.trainers.loop import atomic_write

    best, dest = Path(best), Path(dest)
    tensors, _ = read_weights(best)
    if float16:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    data = safetensors_save({k: v.contiguous() for k, v in tensors.items()}, metadata={"model": model_name})
    atomic_write(dest, lambda handle: handle.write(data))
    card = nets.read_model_card(best) or {}
    card["weights"] = dest.name
    card["shipped"] = {
        "dtype": "float16" if float16 else "float32",
        "sha256": hashlib.sha256(data).hexdigest(),
        "from": str(best),
    }
    if evaluation is not None:
        card["evaluation"] = dict(evaluation)
    write_model_card(dest.with_suffix(".json"), {**card, "commit": card.get("commit"), "torch": card.get("torch")})
    return dest
