"""The recipe registry: every model's training in one table, presets, and ``--set`` overrides.

``trainer("kind")`` is KinD's row: its recipe class, its presets, its train function,
whether it needs ``--data``, and its stages (for the progress count). The CLI's
``nightvid train MODEL`` is::

    t = trainer(model)
    recipe = apply_settings(t.make(preset, iters=..., seed=...), settings)
    t.run(recipe, data, out, on_log=lambda r: show(t.progress_step(recipe, r), t.total_iters(recipe)))

Presets: ``"paper"`` (the recipe's defaults, paper-scale) and ``"cpu"`` (its
``cpu_reduced()``, what the shipped weights were trained with on a 2-core CPU; for
NoiSER both are the paper's recipe, which already fits a CPU).

:data:`RECIPES` lists the names without importing the trainers (and torch), so a
command line can offer them cheaply; the table itself is built on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nightvid.errors import NightvidError

__all__ = [
    "PRESETS",
    "RECIPES",
    "STAGED_FIELDS",
    "Trainer",
    "apply_settings",
    "trainer",
    "trainers",
]

PRESETS = ("paper", "cpu")
#: The models that can be trained, in the order the CLI lists them (equal to ``tuple(trainers())``).
RECIPES = ("noiser", "lednet", "kind", "denoiser")
#: Options that a staged recipe (KinD) applies to every stage.
STAGED_FIELDS = ("iters", "batch", "patch", "lr")

OnLog = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Trainer:
    """One row of the registry: what ``nightvid train NAME`` needs to know about a model."""

    name: str
    #: The frozen recipe dataclass.
    recipe: type
    #: Preset factories: the paper-scale recipe and the reduced one for a CPU.
    paper: Callable[[], Any]
    cpu: Callable[[], Any]
    #: ``train(recipe, data, out_dir, ...)``, or ``train(recipe, out_dir, ...)`` without data.
    train: Callable[..., Path]
    #: Whether the recipe trains on a folder (``--data``); NoiSER trains on noise alone.
    needs_data: bool = True
    #: Stage fields of a staged recipe, in training order (KinD's three); () = one stage.
    stages: tuple[str, ...] = ()

    def make(self, preset: str = "cpu", **overrides: Any) -> Any:
        """The recipe at ``preset`` with ``overrides`` (None values ignored) applied.

        In a staged recipe, ``iters``, ``batch``, ``patch`` and ``lr`` apply to every
        stage. Unknown fields are a NightvidError.
        """
        if preset not in PRESETS:
            raise NightvidError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        recipe = self.paper() if preset == "paper" else self.cpu()
        given = {k: v for k, v in overrides.items() if v is not None}
        if self.stages:
            staged = {k: given.pop(k) for k in STAGED_FIELDS if k in given}
            if staged:
                given.update({stage: replace(getattr(recipe, stage), **staged) for stage in self.stages})
        unknown = sorted(set(given) - {f.name for f in fields(self.recipe)})
        if unknown:
            raise NightvidError(f"{self.name} recipe has no field(s) {', '.join(unknown)}")
        return replace(recipe, **given)

    def total_iters(self, recipe: Any) -> int:
        """Optimiser steps of the whole run (a staged recipe: its stages together)."""
        if self.stages:
            return sum(getattr(recipe, stage).iters for stage in self.stages)
        return int(recipe.iters)

    def progress_step(self, recipe: Any, record: dict[str, Any]) -> int:
        """A loop record's step counted over the whole run (stages follow each other).

        Records of a staged run carry ``"stage"``; the steps of the stages before it are added.
        """
        step = int(record.get("step", 0))
        stage = record.get("stage")
        if stage is None:
            return step
        return step + sum(getattr(recipe, s).iters for s in self.stages[: self.stages.index(stage)])

    def run(
        self,
        recipe: Any,
        data: Path | str | None,
        out_dir: Path | str,
        *,
        resume: bool = False,
        device: str = "cpu",
        on_log: OnLog | None = None,
    ) -> Path:
        """Train ``recipe`` into ``out_dir``; return the weights to use, ``out_dir/best.safetensors``.

        ``data`` must be given exactly when :attr:`needs_data` says so.
        """
        options: dict[str, Any] = {"resume": resume, "device": device, "on_log": on_log}
        if not self.needs_data:
            if data is not None:
                raise NightvidError(f"{self.name} trains without data; leave out --data")
            return self.train(recipe, out_dir, **options)
        if data is None:
            raise NightvidError(f"{self.name} needs training data: --data FOLDER")
        return self.train(recipe, data, out_dir, **options)


@functools.cache
def trainers() -> Mapping[str, Trainer]:
    """The registry: every trainable model by name (imports the trainers on first call)."""
    from nightvid.trainers.denoiser import DenoiserRecipe, train_denoiser
    from nightvid.trainers.kind import STAGES, KinDRecipe, train_kind
    from nightvid.trainers.lednet import LEDNetRecipe, train_lednet
    from nightvid.trainers.noiser import NoiserRecipe, train_noiser

    rows = (
        # Trainer(name, recipe class, paper preset, cpu preset, train function, ...)
        Trainer("noiser", NoiserRecipe, NoiserRecipe, NoiserRecipe.cpu_reduced, train_noiser, needs_data=False),
        Trainer("lednet", LEDNetRecipe, LEDNetRecipe, LEDNetRecipe.cpu_reduced, train_lednet),
        Trainer("kind", KinDRecipe, KinDRecipe, KinDRecipe.cpu_reduced, train_kind, stages=STAGES),
        Trainer("denoiser", DenoiserRecipe, DenoiserRecipe, DenoiserRecipe.cpu_reduced, train_denoiser),
    )
    return MappingProxyType({row.name: row for row in rows})


def trainer(name: str) -> Trainer:
    """The registry row of ``name``; the error lists the models that can be trained."""
    try:
        return trainers()[name]
    except KeyError:
        raise NightvidError(f"no recipe {name!r}; available: {', '.join(RECIPES)}") from None


def apply_settings(recipe: Any, settings: list[str]) -> Any:
    """``recipe`` with ``["lr=2e-4", "restoration.iters=800"]`` (the CLI's ``--set``) applied.

    Any recipe field can be set; values take the type of the field's current value
    (``none`` clears an optional one). A dotted key sets a field of a KinD stage.

    Example:
        >>> r = apply_settings(trainer("lednet").make(), ["lr=2e-4", "grad_clip=none"])
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
