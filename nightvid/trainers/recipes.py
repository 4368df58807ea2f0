"""Recipes by name: presets, command-line overrides onto dataclass fields, and dispatch.

``make_recipe("kind", preset="cpu", iters=300)`` is ``KinDRecipe.cpu_reduced()`` with
every stage's ``iters`` set to 300; ``train("kind", recipe, data, out)`` runs it. The
CLI's ``nightvid train NAME`` is these two calls.

Presets: ``"paper"`` (the recipe's defaults, paper-scale) and ``"cpu"`` (its
``cpu_reduced()``, what the shipped weights were trained with on a 2-core CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from nightvid.errors import NightvidError

__all__ = ["PRESETS", "RECIPES", "apply_settings", "make_recipe", "progress_step", "total_iters", "train"]

PRESETS = ("paper", "cpu")
RECIPES = ("kind", "lednet", "denoiser")


def _recipe_class(name: str) -> type:
    if name == "kind":
        from nightvid.trainers.kind import KinDRecipe

        return KinDRecipe
    if name == "lednet":
        from nightvid.trainers.lednet import LEDNetRecipe

        return LEDNetRecipe
    if name == "denoiser":
        from nightvid.trainers.denoiser import DenoiserRecipe

        return DenoiserRecipe
    raise NightvidError(f"no recipe {name!r}; available: {', '.join(RECIPES)}")


def make_recipe(name: str, *, preset: str = "cpu", **overrides: Any) -> Any:
    """The named recipe at ``preset`` with ``overrides`` (None values ignored) applied.

    For KinD, ``iters``, ``batch``, ``patch`` and ``lr`` apply to all three stages.
    Unknown fields are a NightvidError.

    Example:
        >>> make_recipe("denoiser", preset="cpu", iters=10, task=None).iters
        10
    """
    if preset not in PRESETS:
        raise NightvidError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    cls = _recipe_class(name)
    recipe = cls.cpu_reduced() if preset == "cpu" else cls()
    given = {k: v for k, v in overrides.items() if v is not None}
    if name == "kind":
        staged = {k: given.pop(k) for k in ("iters", "batch", "patch", "lr") if k in given}
        if staged:
            given.update(
                {stage: replace(getattr(recipe, stage), **staged) for stage in ("decom", "adjust", "restoration")}
            )
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise NightvidError(f"{name} recipe has no field(s) {', '.join(unknown)}")
    return replace(recipe, **given)


def apply_settings(recipe: Any, settings: list[str]) -> Any:
    """``recipe`` with ``["lr=2e-4", "restoration.iters=800"]`` (the CLI's ``--set``) applied.

    Any recipe field can be set; values take the type of the field's current value
    (``none`` clears an optional one). A dotted key sets a field of a KinD stage.

    Example:
        >>> r = apply_settings(make_recipe("lednet"), ["lr=2e-4", "grad_clip=none"])
        >>> r.lr, r.grad_clip
        (0.0002, None)
    """
    name = type(recipe).__name__.removesuffix("Recipe").lower()
    overrides: dict[str, Any] = {}
    for setting in settings:
        key, sep, text = setting.partition("=")
        if not sep or not key:
            raise NightvidError(f"--set takes KEY=VALUE, got {setting!r}")
        outer, _, inner = key.partition(".")
        holder = getattr(recipe, outer, None) if inner else recipe
        if not is_dataclass(holder):
            raise NightvidError(f"{name} recipe has no stage {outer!r}")
        field = inner or outer
        if field not in {f.name for f in fields(holder)}:
            known = ", ".join(sorted(f.name for f in fields(holder)))
            raise NightvidError(f"{name} recipe has no field {key!r}; fields: {known}")
        value = _convert(text, getattr(holder, field), key)
        if inner:
            current = overrides.get(outer, getattr(recipe, outer))
            overrides[outer] = replace(current, **{field: value})
        else:
            overrides[field] = value
    return replace(recipe, **overrides)


def _convert(text: str, current: Any, key: str) -> Any:
    if text.lower() in ("none", "null"):
        return None
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        if current is None:  # an optional field left unset: a number if it reads as one
            return _number_or_text(text)
        if isinstance(current, tuple):
            return tuple(type(v)(t) for v, t in zip(current, text.split(","), strict=True))
    except ValueError:
        raise NightvidError(f"--set {key}: cannot read {text!r} as {type(current).__name__}") from None
    return text


def _number_or_text(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def total_iters(recipe: Any) -> int:
    """Optimiser steps of the whole run (KinD: the three stages together)."""
    if hasattr(recipe, "restoration"):
        return recipe.decom.iters + recipe.adjust.iters + recipe.restoration.iters
    return int(recipe.iters)


def progress_step(recipe: Any, record: dict[str, Any]) -> int:
    """A loop record's step counted over the whole run (KinD's stages follow each other)."""
    step = int(record.get("step", 0))
    stage = record.get("stage")
    if stage is None:
        return step
    from nightvid.trainers.kind import STAGES

    return step + sum(getattr(recipe, s).iters for s in STAGES[: STAGES.index(stage)])


def train(
    name: str,
    recipe: Any,
    data: Path | str,
    out_dir: Path | str,
    *,
    resume: bool = False,
    device: str = "cpu",
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Run the named recipe; returns the best weights' path (``out_dir/best.safetensors``)."""
    if name == "kind":
        from nightvid.trainers.kind import train_kind as run
    elif name == "lednet":
        from nightvid.trainers.lednet import train_lednet as run
    elif name == "denoiser":
        from nightvid.trainers.denoiser import train_denoiser as run
    else:
        raise NightvidError(f"no recipe {name!r}; available: {', '.join(RECIPES)}")
    return run(recipe, data, out_dir, resume=resume, device=device, on_log=on_log)
