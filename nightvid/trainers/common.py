"""Small pieces the recipes share: file splits, the seeded net, the run and its export.

Every recipe starts the same way (:func:`seeded_net`: the net initialised from the
recipe's seed alone, optionally from weights to fine-tune) and ends the same way
(:func:`fit_and_finish`): ``fit`` has written ``best.safetensors`` (the weights with the
best validation PSNR; without a validator, the final weights), the final weights are
saved next to it as ``final.safetensors``, and a ``model_card.json`` records the recipe,
the data, the iterations, the seed, the last and best validation metrics and the commit
(:func:`write_run_card`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from nightvid import nets
from nightvid.errors import NightvidError
from nightvid.files import CARD_FILE, save_safetensors, save_weights, write_model_card
from nightvid.nets.weights import read_weights
from nightvid.trainers import distributed
from nightvid.trainers.loop import BEST_FILE, BatchSource, FitResult, LoopConfig, LossFn, fit

__all__ = [
    "FINAL_FILE",
    "fit_and_finish",
    "hold_out",
    "hold_out_scenes",
    "recipe_dict",
    "scene_of",
    "seeded_net",
    "ship_weights",
    "split_files",
    "write_run_card",
]

log = logging.getLogger(__name__)

FINAL_FILE = "final.safetensors"

T = TypeVar("T")


def hold_out(items: Sequence[T], *, held: int, what: str) -> tuple[list[T], list[T]]:
    """``(train, val)``: the last ``held`` of ``items`` are held out for validation.

    A fixed tail rather than a random draw: the same data always give the same split, so
    a resumed or repeated run validates on the same images. ``what`` names the items in
    the error when too few are left to train on.

    Example:
        >>> hold_out([1, 2, 3], held=1, what="pair(s)")
        ([1, 2], [3])
    """
    if held < 0:
        raise NightvidError(f"held-out count must be >= 0, got {held}")
    if len(items) <= held:
        raise NightvidError(f"{len(items)} {what} cannot spare {held} for validation")
    cut = len(items) - held
    return list(items[:cut]), list(items[cut:])


def scene_of(path: Path) -> str:
    """The scene a pair's file belongs to: the stem up to its first ``-`` (SICE train-all
    names each exposure ``SCENE-SHOT``), else the whole stem (one scene per file).

    Example:
        >>> scene_of(Path("low/1962-1973.jpg")), scene_of(Path("low/0087.jpg"))
        ('1962', '0087')
    """
    return path.stem.split("-", 1)[0]


def hold_out_scenes(
    pairs: Sequence[tuple[Path, Path]], *, held: int, what: str
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """``(train, val)`` like ``hold_out``, but every pair of a scene that the last ``held``
    pairs show is held out, and none of them is trained on.

    Why: train-all holds several exposures of each scene; with a plain tail the held-out
    pairs had their scene's other exposures (the same picture, the same reference) in
    training, so validation scored memory, not generalisation, and chose KinD weights that
    lost 2 dB on SICE eval. Where each file is its own scene this is ``hold_out``.
    """
    _, tail = hold_out(pairs, held=held, what=what)
    scenes = {scene_of(low) for low, _ in tail}
    train = [pair for pair in pairs if scene_of(pair[0]) not in scenes]
    val = [pair for pair in pairs if scene_of(pair[0]) in scenes]
    if not train:
        raise NightvidError(f"{len(pairs)} {what} are all from the held-out scenes {sorted(scenes)}")
    return train, val


def split_files(files: Sequence[Path], *, held: int) -> tuple[list[Path], list[Path]]:
    """``(train, val)``: the last ``held`` files (sorted order) are held out for validation.

    Example:
        >>> split_files([Path(f"{i}.png") for i in range(5)], held=2)[1]
        [PosixPath('3.png'), PosixPath('4.png')]
    """
    return hold_out(sorted(files), held=held, what="image(s)")


def recipe_dict(recipe: Any) -> dict[str, Any]:
    """A frozen recipe dataclass as a JSON-able dict (tuples become lists when written)."""
    return asdict(recipe)


def seeded_net(name: str, seed: int, *, init: Path | str | None = None, **options: Any) -> nn.Module:
    """``nets.build(name, **options)`` initialised from ``torch.manual_seed(seed)`` alone.

    The global RNG is left as it was, so the initial weights depend on the recipe's seed
    and nothing else; ``init`` (a weights file of ``name``) then replaces them, for
    fine-tuning.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nets.build(name, **options)
    if init is not None:
        nets.load_weights(model, init, name=name)
    return model


def write_run_card(
    out_dir: Path,
    model: nn.Module,
    *,
    model_name: str,
    recipe: Any,
    iterations: Any,
    data: Any,
    metrics: Mapping[str, Any],
    final: Mapping[str, Any],
    final_loss: float | None,
    seconds: float,
    device: str,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/model_card.json`` for ``out_dir/best.safetensors``: what made those weights.

    ``extra`` adds recipe-specific fields (the loss actually used, the high-level net).
    """
    return write_model_card(
        out_dir / CARD_FILE,
        {
            "model": model_name,
            "weights": BEST_FILE,
            "recipe": recipe_dict(recipe),
            "seed": recipe.seed,
            "iterations": iterations,
            "data": data,
            "metrics": dict(metrics),
            "final_loss": final_loss,
            "final": dict(final),
            "params": nets.param_count(model),
            "train_seconds": round(seconds, 2),
            "device": device,
            **dict(extra or {}),
        },
    )


def fit_and_finish(
    model: nn.Module,
    loss_fn: LossFn,
    batches: BatchSource,
    config: LoopConfig,
    *,
    out_dir: Path,
    model_name: str,
    recipe: Any,
    run: Mapping[str, Any],
    data: Mapping[str, Any] | str,
    make_optimizer: Callable[[Iterable[nn.Parameter]], Optimizer],
    make_scheduler: Callable[[Optimizer], LRScheduler] | None = None,
    validate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """``loop.fit`` the model, then export the run; return ``out_dir/best.safetensors``.

    ``best.safetensors`` (written by ``fit`` at the best validation PSNR) is what the
    card describes and what the caller should ship; without a validator the final
    weights are copied to it. ``run`` is the checkpoint's description of the run (a
    resume against another one is refused); ``data`` is the card's description of the
    training data.

    Under DDP (``nightvid.trainers.distributed``) every rank trains and rank 0 alone
    exports; the card then records the world size.
    """
    started = time.perf_counter()
    result = fit(
        model,
        loss_fn,
        batches,
        config,
        out_dir=out_dir,
        model_name=model_name,
        make_optimizer=make_optimizer,
        make_scheduler=make_scheduler,
        validate=validate,
        run=run,
        resume=resume,
        on_log=on_log,
    )
    seconds = time.perf_counter() - started
    best = out_dir / BEST_FILE
    if not distributed.is_writer():
        return best
    final = save_weights(model, out_dir / FINAL_FILE, model_name=model_name)
    # without validation the best are the final weights (also of a run made longer)
    if validate is None or not best.exists():
        save_weights(model, best, model_name=model_name)
    write_run_card(
        out_dir,
        model,
        model_name=model_name,
        recipe=recipe,
        iterations=result.steps,
        data=data if isinstance(data, str) else dict(data),
        metrics=_validation(result) if validate is not None else {},
        final=result.final,
        final_loss=result.final.get("loss"),
        seconds=seconds,
        device=config.device,
        extra={**(extra or {}), **distributed.card_fields()},
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


def _validation(result: FitResult) -> dict[str, Any]:
    return {
        "validation_last": result.metrics,
        "validation_best": {"psnr": result.best, "step": result.best_step},
    }


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
    best, dest = Path(best), Path(dest)
    tensors, _ = read_weights(best)
    if float16:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    sha256 = save_safetensors(dest, tensors, metadata={"model": model_name})
    card = nets.read_model_card(best) or {}
    card["weights"] = dest.name
    card["shipped"] = {
        "dtype": "float16" if float16 else "float32",
        "sha256": sha256,
        "from": str(best),
    }
    if evaluation is not None:
        card["evaluation"] = dict(evaluation)
    write_model_card(dest.with_suffix(".json"), {**card, "commit": card.get("commit"), "torch": card.get("torch")})
    return dest
