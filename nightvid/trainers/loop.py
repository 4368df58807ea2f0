"""The training loop every recipe shares: step, log, validate, checkpoint, resume, export.

One ``fit`` call trains a model for ``LoopConfig.iters`` optimiser steps. Everything that
changes during training lives in a :class:`TrainState` (model, optimiser, scheduler,
AMP scaler, step, best metric, the running loss window and the global RNG states), which
:func:`save_checkpoint` writes atomically every ``checkpoint_every`` steps. A run killed
at any point and restarted with ``resume=True`` continues from the last checkpoint and,
on CPU, ends bit-identical to a run that was never interrupted:

- batches come from a :class:`BatchSource` whose batch ``i`` is a pure function of
  ``(seed, i)`` (see :class:`SeededBatches`), so a resumed run draws exactly the batches
  the uninterrupted one would have drawn, however the data are loaded;
- model, optimiser, scheduler and scaler states, the global torch/python/numpy RNG
  states and the partial loss-averaging window are all in the checkpoint.

Files in ``out_dir``: ``checkpoint.pt`` (the latest state), ``metrics.jsonl`` (one JSON
record per log/validation event; on resume, records after the checkpoint are dropped
so the file reads as if the run had never stopped) and ``best.safetensors`` (the weights
with the best validation metric, when a validator is given).

Records passed to ``on_log`` (and written as JSON lines) have an ``"event"`` key:

- ``"start"``: ``step`` (steps already done), ``iters``, ``resumed``;
- ``"train"``: ``step``, ``loss`` and the other loss terms averaged since the previous
  train record, ``lr``, ``it_per_s``, ``eta_s``, ``elapsed_s``;
- ``"val"``: ``step``, the validator's metrics, ``best`` (whether this is the new best);
- ``"checkpoint"``: ``step``, ``path``;
- ``"end"``: ``step``, ``elapsed_s``.

Files are written with :mod:`nightvid.files` (atomic, fsynced). The library only logs
(``logging``); progress display is the caller's job, from ``on_log``.

Inside a :func:`nightvid.trainers.distributed.session` (torchrun, several devices) the
same ``fit`` trains under DistributedDataParallel: every rank takes its slice of global
batch ``i``, the loss terms in the records are averaged over the ranks (the global
batch's), rank 0 alone writes the files above, validates and calls ``on_log``, and a
resume hands rank 0's checkpoint to every rank (see that module for what a different
world size means). A ``"start"`` record then also carries ``world_size``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from nightvid.errors import NightvidError
from nightvid.files import atomic_write, json_safe, save_weights
from nightvid.memory import keep_freed_memory
from nightvid.trainers import distributed

__all__ = [
    "BEST_FILE",
    "BatchSource",
    "CHECKPOINT_FILE",
    "FitResult",
    "LoopConfig",
    "METRICS_FILE",
    "SeededBatches",
    "TrainState",
    "cosine_schedule",
    "cpu_has_native_bf16",
    "fit",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "step_generator",
    "step_schedule",
]

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
BEST_FILE = "best.safetensors"

Batch = Any
#: ``loss_fn(model, batch)`` returns the loss, or ``(loss, {"name": term, ...})``.
LossFn = Callable[[nn.Module, Batch], "Tensor | tuple[Tensor, Mapping[str, Tensor]]"]


# --------------------------------------------------------------------------- batches


def step_generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, *keys)`` by a stable hash (same in every process).

    Example:
        >>> a = torch.rand(2, generator=step_generator(0, 5))
        >>> torch.equal(a, torch.rand(2, generator=step_generator(0, 5)))
        True
    """
    digest = hashlib.blake2b(repr((int(seed), *map(int, keys))).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


class BatchSource(Protocol):
    """Where ``fit`` gets batches: ``iterate(start)`` yields batch ``start``, ``start + 1``, ...

    Batch ``i`` must not depend on where iteration started, so that a resumed run sees the
    same batches as an uninterrupted one.
    """

    def iterate(self, start: int) -> Iterator[Batch]: ...


class _StepDataset(torch.utils.data.Dataset):
    def __init__(self, draw: Callable[[int, torch.Generator], Batch], seed: int) -> None:
        self.draw, self.seed = draw, seed

    def __getitem__(self, index: int) -> Batch:
        return self.draw(index, step_generator(self.seed, index))


@dataclass(frozen=True)
class SeededBatches:
    """Batch ``i`` is ``draw(i, step_generator(seed, i))``: a pure function of ``(seed, i)``.

    With ``workers > 0`` batches are drawn in a ``DataLoader``'s worker processes (in
    order, with prefetching) and are identical to the ones drawn in-process.
    """

    draw: Callable[[int, torch.Generator], Batch]
    seed: int
    workers: int = 0

    def iterate(self, start: int) -> Iterator[Batch]:
        dataset = _StepDataset(self.draw, self.seed)
        if self.workers <= 0:
            for index in itertools.count(start):
                yield dataset[index]
            return
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, sampler=itertools.count(start), num_workers=self.workers
        )
        yield from loader


# --------------------------------------------------------------------------- schedules


def cosine_schedule(iters: int, *, warmup: int = 0, min_ratio: float = 0.0) -> Callable[[Optimizer], LRScheduler]:
    """Factory for linear warm-up then cosine decay to ``min_ratio * lr`` at ``iters``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, iters - warmup))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))

    return lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def step_schedule(milestones: Iterable[int], *, gamma: float = 0.5) -> Callable[[Optimizer], LRScheduler]:
    """Factory for a learning rate multiplied by ``gamma`` at each milestone step."""
    marks = sorted(milestones)
    return lambda optimizer: torch.optim.lr_scheduler.MultiStepLR(optimizer, marks, gamma=gamma)


# --------------------------------------------------------------------------- state


def _rng_states(cuda: bool = True) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = cast(tuple[Any, ...], np.random.get_state())
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
    }
    if cuda and torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: Mapping[str, Any], cuda: bool = True) -> None:
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if cuda and "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


@dataclass
class TrainState:
    """Everything a checkpoint restores. ``step`` counts optimiser steps done."""

    model: nn.Module
    optimizer: Optimizer
    scheduler: LRScheduler | None = None
    scaler: torch.amp.GradScaler | None = None
    step: int = 0
    best: float | None = None
    best_step: int | None = None
    #: Sums of the loss terms since the last train record, and how many steps they cover.
    window: dict[str, float] = field(default_factory=dict)
    window_steps: int = 0
    #: The last train and validation records (for the model card).
    last_train: dict[str, Any] = field(default_factory=dict)
    last_val: dict[str, Any] = field(default_factory=dict)
    #: Save and restore the CUDA RNG states of all GPUs. Off under DDP, where each process
    #: owns one GPU and must not open the others (the nets draw no CUDA random numbers).
    cuda_rng: bool = True
    #: The exponential moving average of the weights (``LoopConfig.ema``), or None.
    averaged: AveragedModel | None = None

    @property
    def exported(self) -> nn.Module:
        """The net that is validated and exported: the weights' average where one is kept."""
        return self.model if self.averaged is None else self.averaged.module

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step,
            "best": self.best,
            "best_step": self.best_step,
            "window": dict(self.window),
            "window_steps": self.window_steps,
            "last_train": dict(self.last_train),
            "last_val": dict(self.last_val),
            "rng": _rng_states(self.cuda_rng),
            "ema": self.averaged.state_dict() if self.averaged is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.best, self.best_step = state["step"], state["best"], state["best_step"]
        self.window, self.window_steps = dict(state["window"]), state["window_steps"]
        self.last_train, self.last_val = dict(state["last_train"]), dict(state["last_val"])
        _set_rng_states(state["rng"], self.cuda_rng)
        if self.averaged is not None and state.get("ema") is not None:
            self.averaged.load_state_dict(state["ema"])


def save_checkpoint(path: Path | str, state: TrainState, *, run: Mapping[str, Any] | None = None) -> Path:
    """Write ``state`` (and the ``run`` description it belongs to) atomically with ``torch.save``."""
    payload = {"format": 1, "run": json_safe(dict(run or {})), "state": state.state_dict()}
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return Path(path)


def load_checkpoint(path: Path | str, state: TrainState, *, run: Mapping[str, Any] | None = None) -> None:
    """Restore ``state`` from ``path``; a checkpoint of a different ``run`` is refused."""
    state.load_state_dict(read_checkpoint(path, run=run)["state"])


def read_checkpoint(
    path: Path | str, *, run: Mapping[str, Any] | None = None, extend: bool | None = None
) -> dict[str, Any]:
    """The checkpoint at ``path`` as saved (``format``, ``run``, ``state``); another ``run``'s is refused.

    ``extend``: True, a ``run`` that differs only by a larger ``iters`` is the same run
    made longer (where nothing but the number of steps depends on ``iters``: no
    learning-rate schedule over them); False, it is refused for its schedule.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (any unreadable file is the user's to fix)
        raise NightvidError(f"checkpoint {path} is not readable ({err})") from None
    saved, wanted = payload.get("run", {}), json_safe(dict(run or {}))
    if run is not None and saved != wanted:
        diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        if diff == ["iters"] and isinstance(saved["iters"], int) and isinstance(wanted["iters"], int):
            if extend and wanted["iters"] > saved["iters"]:
                log.info("extending %s from %d to %d iterations", path, saved["iters"], wanted["iters"])
                return cast(dict[str, Any], payload)
            if extend is False and wanted["iters"] > saved["iters"]:
                raise NightvidError(
                    f"checkpoint {path} belongs to a different run (iters: {saved['iters']} -> {wanted['iters']}): "
                    "this recipe's learning rate follows a schedule over all its iterations, so a longer run "
                    "starts in another output folder"
                )
        shown = ", ".join(f"{k}: {saved.get(k)!r} -> {wanted.get(k)!r}" for k in diff[:4])
        raise NightvidError(
            f"checkpoint {path} belongs to a different run ({shown}); "
            "resume with the same settings or choose another output folder"
        )
    return cast(dict[str, Any], payload)


# --------------------------------------------------------------------------- loop


@dataclass(frozen=True)
class LoopConfig:
    """How ``fit`` runs (what it trains is the recipe's business)."""

    iters: int
    #: Checkpoint and log every N steps (0 = only at the end).
    checkpoint_every: int = 500
    log_every: int = 10
    #: Validate every N steps and at the end; 0 = only at the end (if a validator is given).
    validate_every: int = 0
    #: Validation metric that picks ``best.safetensors``, and whether higher is better.
    best_metric: str = "psnr"
    higher_is_better: bool = True
    #: Clip the global gradient norm to this value (None = no clipping).
    grad_clip: float | None = None
    device: str = "cpu"
    #: Mixed precision on CUDA (bfloat16 where supported, else float16 with loss scaling).
    amp: bool = True
    #: bfloat16 autocast on a CPU with native bf16 (AVX512-BF16 or AMX; ignored elsewhere,
    #: where emulated bf16 is slower than fp32). LEDNet's step: 1.75x (docs/BENCHMARKS.md).
    cpu_bf16: bool = False
    #: torch CPU threads while training (None = leave as is). See ``nightvid.trainers.noiser``.
    threads: int | None = None
    #: Keep an exponential moving average of the weights with this decay per step (0 = off;
    #: 0.999 averages over about the last thousand steps, as BasicSR's ``ema_decay``).
    #: Validation, ``best.safetensors`` and the weights ``fit`` leaves in the model are
    #: the average's: small batches on a CPU make single steps' weights swing.
    ema: float = 0.0

    @classmethod
    def from_recipe(cls, recipe: Any, **settings: Any) -> LoopConfig:
        """The loop settings a recipe dataclass carries, by field name, then ``settings``.

        A recipe field named like one of these (``iters``, ``validate_every``,
        ``grad_clip``, ``threads``, ``cpu_bf16``) means the same thing, so every recipe
        hands its loop settings over the same way; fields it lacks keep the defaults.

        Example:
            >>> from nightvid.trainers.noiser import NoiserRecipe
            >>> LoopConfig.from_recipe(NoiserRecipe(iters=5), log_every=1).iters
            5
        """
        carried = {f.name for f in fields(recipe)} & {f.name for f in fields(cls)}
        return cls(**{**{name: getattr(recipe, name) for name in carried}, **settings})

    def __post_init__(self) -> None:
        if self.iters < 0:
            raise NightvidError(f"iterations must be >= 0, got {self.iters}")
        for name in ("checkpoint_every", "log_every", "validate_every"):
            if getattr(self, name) < 0:
                raise NightvidError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise NightvidError(f"threads must be >= 1, got {self.threads}")
        if not 0.0 <= self.ema < 1.0:
            raise NightvidError(f"ema must be a decay in [0, 1), got {self.ema}")


@dataclass(frozen=True)
class FitResult:
    """What a finished ``fit`` reports."""

    steps: int
    #: The last train record's loss terms (averages over the last ``log_every`` steps).
    final: dict[str, float]
    #: The last validation metrics, the best value of ``best_metric`` and its step.
    metrics: dict[str, float]
    best: float | None
    best_step: int | None
    seconds: float


class _MetricsLog:
    """Appends records to a JSON-lines file and passes them to ``on_log``."""

    def __init__(self, path: Path, on_log: Callable[[dict[str, Any]], None] | None, keep_until: int) -> None:
        self.path, self.on_log = path, on_log
        kept = []
        if keep_until > 0 and path.is_file():  # drop records of steps the resumed run redoes
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if record.get("step", 0) <= keep_until and record.get("event") != "end":  # a run made longer
                        kept.append(line + "\n")
        atomic_write(path, lambda handle: handle.writelines(kept), mode="w")

    def __call__(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(json_safe(record)) + "\n")
        if self.on_log is not None:
            self.on_log(record)


@contextlib.contextmanager
def _cpu_threads(threads: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [_to_device(v, device) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def _due(step: int, every: int, iters: int) -> bool:
    """True at every ``every``-th step (0 = never) and at the last step."""
    return step == iters or (every > 0 and step % every == 0)


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (AVX512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _amp_dtype(device: torch.device, amp: bool, cpu_bf16: bool = False) -> torch.dtype | None:
    if device.type == "cpu":
        return torch.bfloat16 if cpu_bf16 and cpu_has_native_bf16() else None
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _train_step(
    state: TrainState,
    loss_fn: LossFn,
    batch: Batch,
    config: LoopConfig,
    amp_dtype: torch.dtype | None,
    net: nn.Module | None = None,
) -> dict[str, float]:
    """One optimiser step; returns the loss terms as floats (averaged over the ranks under DDP).

    ``net`` is what the loss function calls: the model, or its DDP replica, whose
    backward averages the gradients over the ranks before clipping and the step.
    """
    device_type = torch.device(config.device).type
    with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
        out = loss_fn(state.model if net is None else net, batch)
    loss, terms = out if isinstance(out, tuple) else (out, {})
    scaler = state.scaler
    assert scaler is not None, "fit gives every state a scaler (a disabled one without float16)"
    state.optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if config.grad_clip is not None:
        scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), config.grad_clip)
    scaler.step(state.optimizer)
    scaler.update()
    if state.scheduler is not None:
        state.scheduler.step()
    if state.averaged is not None:
        state.averaged.update_parameters(state.model)
    if distributed.current() is None:
        values = {"loss": loss.item(), **{k: float(v) for k, v in terms.items()}}
    else:
        values = distributed.mean_values(loss, terms)
    if not math.isfinite(values["loss"]):
        raise NightvidError(f"training diverged: the loss is {values['loss']} at step {state.step + 1}")
    return values


def _averaged(model: nn.Module, decay: float) -> AveragedModel | None:
    """torch's weight average of ``model`` with an EMA of ``decay`` (buffers too), or None at 0."""
    if decay <= 0.0:
        return None
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    averaged.module.eval()
    return averaged


def _validate(
    state: TrainState,
    validate: Callable[[nn.Module], Mapping[str, float]],
    config: LoopConfig,
    best_path: Path,
    model_name: str,
) -> dict[str, Any]:
    net = state.exported
    net.eval()
    with torch.no_grad():
        metrics = {k: float(v) for k, v in validate(net).items()}
    net.train(net is state.model)  # the average is only ever evaluated
    if config.best_metric not in metrics:
        raise NightvidError(f"the validator returned {sorted(metrics)}, not {config.best_metric!r}")
    value = metrics[config.best_metric]
    better = state.best is None or (value > state.best if config.higher_is_better else value < state.best)
    if better:
        state.best, state.best_step = value, state.step
        save_weights(net, best_path, model_name=model_name)
    state.last_val = {"step": state.step, **metrics}
    return {"event": "val", "step": state.step, **metrics, "best": better}


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    batches: BatchSource,
    config: LoopConfig,
    *,
    out_dir: Path | str,
    model_name: str,
    make_optimizer: Callable[[Iterable[nn.Parameter]], Optimizer],
    make_scheduler: Callable[[Optimizer], LRScheduler] | None = None,
    validate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    run: Mapping[str, Any] | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train ``model`` in place for ``config.iters`` steps, checkpointing into ``out_dir``.

    Args:
        model: the net, freshly initialised (seeded by the caller); moved to the device.
        loss_fn: ``loss_fn(model, batch)`` -> loss or ``(loss, {"term": value})``.
        batches: a resumable :class:`BatchSource`.
        config: steps, intervals, clipping, device, AMP, threads.
        out_dir: receives ``checkpoint.pt``, ``metrics.jsonl``, ``best.safetensors``.
        model_name: registry name written into exported weights.
        make_optimizer, make_scheduler: factories (the scheduler steps every iteration).
        validate: ``validate(model)`` -> metrics, called in eval mode without gradients.
        run: JSON-able description of the run (the recipe); stored in checkpoints, and a
            resume against a different description is refused.
        resume: continue from ``out_dir/checkpoint.pt`` if there is one. Without it an
            existing checkpoint is an error, so a finished or half run is never
            overwritten by accident. Without ``make_scheduler`` a run (finished or not)
            also continues to a larger ``iters`` in ``run``: the steps it adds are those an
            uninterrupted longer run would have taken.
        on_log: receives every record written to ``metrics.jsonl`` (see module doc).
    """
    out_dir = Path(out_dir)
    world = distributed.current()
    writer = distributed.is_writer()  # rank 0 under DDP: the only process that writes
    if writer:
        out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint, device = out_dir / CHECKPOINT_FILE, torch.device(config.device)
    if device.type == "cpu":
        keep_freed_memory()  # activations and gradients are re-allocated every step
    model = distributed.with_sync_batchnorm(model.to(device))  # asked for, under DDP
    optimizer = make_optimizer(model.parameters())
    amp_dtype = _amp_dtype(device, config.amp, config.cpu_bf16)
    state = TrainState(
        model,
        optimizer,
        make_scheduler(optimizer) if make_scheduler else None,
        torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16),
        cuda_rng=world is None,
        averaged=_averaged(model, config.ema),
    )

    def resumed() -> dict[str, Any] | None:
        if not checkpoint.exists():
            return None
        if not resume:
            raise NightvidError(f"{out_dir} already holds a training run; resume it or choose another output folder")
        return read_checkpoint(checkpoint, run=run, extend=make_scheduler is None)

    payload = resumed() if world is None else distributed.from_rank0(resumed)
    if payload is not None:
        state.load_state_dict(payload["state"])
        log.info("resuming %s from step %d", out_dir, state.step)
    emit: Callable[[dict[str, Any]], None] = (
        _MetricsLog(out_dir / METRICS_FILE, on_log, keep_until=state.step) if writer else lambda record: None
    )
    size = {} if world is None else {"world_size": world.size}
    emit({"event": "start", "step": state.step, "iters": config.iters, "resumed": state.step > 0, **size})
    start_step, started = state.step, time.perf_counter()
    net = distributed.replicate(model)  # DDP under torchrun, else the model itself
    source = batches.iterate(state.step)

    try:
        with _cpu_threads(config.threads):
            net.train()
            for step in range(state.step + 1, config.iters + 1):
                batch = distributed.shard(next(source))  # this rank's slice of global batch `step - 1`
                terms = _train_step(state, loss_fn, _to_device(batch, device), config, amp_dtype, net)
                state.step, state.window_steps = step, state.window_steps + 1
                for name, value in terms.items():
                    state.window[name] = state.window.get(name, 0.0) + value
                if _due(step, config.log_every, config.iters):
                    elapsed = time.perf_counter() - started
                    rate = (step - start_step) / max(elapsed, 1e-9)
                    state.last_train = {k: v / state.window_steps for k, v in state.window.items()}
                    state.window, state.window_steps = {}, 0
                    emit(
                        {
                            "event": "train",
                            "step": step,
                            **state.last_train,
                            "lr": optimizer.param_groups[0]["lr"],
                            "it_per_s": rate,
                            "eta_s": (config.iters - step) / max(rate, 1e-9),
                            "elapsed_s": elapsed,
                        }
                    )
                if writer and validate is not None and _due(step, config.validate_every, config.iters):
                    emit(_validate(state, validate, config, out_dir / BEST_FILE, model_name))
                if writer and _due(step, config.checkpoint_every, config.iters):
                    save_checkpoint(checkpoint, state, run=run)
                    emit({"event": "checkpoint", "step": step, "path": str(checkpoint)})
    except RuntimeError as err:
        lost = distributed.comm_error(err, step=state.step + 1)
        if lost is None:
            raise
        raise lost from None
    finally:
        if hasattr(source, "close"):
            source.close()  # stops DataLoader workers, if any

    if state.averaged is not None:  # the caller exports the model: leave the average in it
        model.load_state_dict(state.averaged.module.state_dict())
    seconds = time.perf_counter() - started
    emit({"event": "end", "step": state.step, "elapsed_s": seconds})
    metrics = {k: v for k, v in state.last_val.items() if k != "step"}
    return FitResult(state.step, dict(state.last_train), metrics, state.best, state.best_step, seconds)
