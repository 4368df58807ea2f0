"""Training on several devices: torchrun's processes, DistributedDataParallel, rank 0 writes.

A run on N devices is N processes started by ``torchrun`` (``nightvid train --devices N``
starts them through torchrun's own launcher, ``torch.distributed.run``); each one runs the
same ``nightvid train`` inside :func:`session`, which joins the process group that
torchrun describes in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``): NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``),
gloo on CPU. Outside torchrun (or with a world of 1) the session is a no-op and the
loop runs exactly as in a single process.

How the work is split, and why it is the same optimisation whatever the world size:

- the loop's batch ``i`` is a pure function of ``(seed, i)`` (``loop.SeededBatches``);
  that *global* batch is the same set of crops for every world size, every rank draws
  it and keeps its slice (:func:`shard`: rank ``r`` takes items ``r*b .. r*b+b-1``,
  ``b = batch / world size``). The epoch-wise reshuffle of ``data.pair_batches`` is what
  a ``DistributedSampler`` with ``set_epoch`` would give: every rank sees different
  items and crops, and every epoch a new order;
- DistributedDataParallel averages the gradients over the ranks, so for losses that
  are means over the batch (all of ours) the step equals the single-process step on the
  whole global batch, up to the order of float additions. The recipe's ``batch`` is the
  global batch and its learning rate is used as it is: changing the world size does not
  change the optimisation, so nothing is rescaled;
- hence a checkpoint resumes on any world size that divides the batch and continues the
  same sequence of global batches and optimiser steps (equal to an uninterrupted run up
  to float reduction order; bit-identical on CPU for the same world size).

Only rank 0 (:func:`is_writer`) writes files, logs records, shows progress and
validates; the others train and wait for it at the next collective. Resuming, rank 0
reads the checkpoint and hands it to every rank (:func:`from_rank0`), so the output
folder need not be shared between machines (the data must be, at the same path).

A rank that dies or stops answering surfaces in the others as a one-line
:class:`~nightvid.errors.NightvidError` (:func:`comm_error`): gloo raises when a peer's
connection drops or a collective waits longer than the session's ``timeout_s``; on NCCL,
torch's watchdog ends the process after that timeout (``TORCH_NCCL_ASYNC_ERROR_HANDLING``)
and torchrun reports which rank failed. Every wait for rank 0 (its validation and
checkpoint writes) must fit in the timeout.

Library use, under torchrun::

    with session("cuda") as world:
        train_lednet(recipe, data, out, device=world.device if world else "cuda")
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from nightvid.errors import NightvidError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "World",
    "broadcast_module",
    "card_fields",
    "comm_error",
    "current",
    "from_rank0",
    "is_writer",
    "launch_local",
    "mean_values",
    "replicate",
    "session",
    "shard",
    "shard_offset",
    "with_sync_batchnorm",
]

log = logging.getLogger(__name__)

#: Seconds a collective waits for the other ranks before it fails (``--dist-timeout``).
DEFAULT_TIMEOUT_S = 300.0

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place in a distributed run (see :func:`session`)."""

    rank: int
    size: int
    local_rank: int
    #: "nccl" or "gloo".
    backend: str
    #: The device this rank trains on: ``cuda:LOCAL_RANK`` or ``cpu``.
    device: str
    timeout_s: float
    #: BatchNorm layers become SyncBatchNorm (statistics over the global batch).
    sync_batchnorm: bool = False

    @property
    def comm_device(self) -> torch.device:
        """Where tensors for collectives live: NCCL needs them on this rank's GPU."""
        return torch.device(self.device if self.backend == "nccl" else "cpu")


_world: World | None = None


def current() -> World | None:
    """The world of the active :func:`session`, or None in a single-process run."""
    return _world


def is_writer() -> bool:
    """True in the process that writes files and logs: rank 0, or the only process."""
    return _world is None or _world.rank == 0


def _from_environment() -> tuple[int, int, int] | None:
    """``(rank, world size, local rank)`` that torchrun (or any launcher) set, or None for one process."""
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        size, rank = int(os.environ["WORLD_SIZE"]), int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise NightvidError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (they are set by torchrun)") from None
    if size <= 1:
        return None
    if not 0 <= rank < size:
        raise NightvidError(f"RANK {rank} is outside a world of {size} processes")
    return rank, size, local


def _rank_device(device: str, local_rank: int) -> tuple[str, str]:
    """``(backend, device)`` of this rank for the ``--device`` the run was given."""
    kind = torch.device(device).type
    if kind == "cpu":
        return "gloo", "cpu"
    if kind != "cuda":
        raise NightvidError(f"distributed training runs on cpu (gloo) or cuda (NCCL), not {device!r}")
    if torch.device(device).index is not None:
        raise NightvidError(
            f"each process takes the GPU of its LOCAL_RANK; pass --device cuda, not {device!r} "
            "(pick GPUs with CUDA_VISIBLE_DEVICES)"
        )
    if not torch.cuda.is_available() or torch.cuda.device_count() <= local_rank:
        raise NightvidError(
            f"process with LOCAL_RANK {local_rank} needs cuda:{local_rank}, but "
            f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} GPU(s) are visible"
        )
    return "nccl", f"cuda:{local_rank}"


@contextlib.contextmanager
def session(
    device: str = "cpu", *, timeout_s: float | None = None, sync_batchnorm: bool = False
) -> Iterator[World | None]:
    """Join the process group that torchrun described in the environment, for one run.

    Yields the :class:`World` (train on ``world.device``), or None outside torchrun or in
    a world of one, where nothing changes. ``timeout_s`` (default
    :data:`DEFAULT_TIMEOUT_S`) bounds every collective, so a dead or stuck rank ends the
    others with a NightvidError instead of a hang. Errors name the rank they happened in.
    On success the ranks meet at a barrier before the group is destroyed, so none leaves
    while rank 0 is still writing.
    """
    global _world
    timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    if timeout_s <= 0:
        raise NightvidError(f"the distributed timeout must be > 0 seconds, got {timeout_s:g}")
    found = _from_environment()
    if found is None:
        if sync_batchnorm:
            raise NightvidError("--sync-bn synchronises BatchNorm across processes; it needs --devices N or torchrun")
        yield None
        return
    if _world is not None or dist.is_initialized():
        raise NightvidError("a distributed session is already active in this process")
    rank, size, local = found
    backend, rank_device = _rank_device(device, local)
    if sync_batchnorm and backend != "nccl":
        raise NightvidError("--sync-bn needs CUDA devices: torch's SyncBatchNorm does not run on CPU")
    if backend == "nccl":
        torch.cuda.set_device(rank_device)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group(
            backend,
            timeout=datetime.timedelta(seconds=timeout_s),
            device_id=torch.device(rank_device) if backend == "nccl" else None,
        )
    except (RuntimeError, ValueError) as err:
        raise NightvidError(
            f"rank {rank} of {size} could not join the run at {where} within {timeout_s:g} s ({_first_line(err)})"
        ) from None
    world = World(rank, size, local, backend, rank_device, timeout_s, sync_batchnorm)
    _world = world
    finished = False
    try:
        yield world
        dist.barrier()
        finished = True
    except NightvidError as err:
        raise NightvidError(f"rank {rank} of {size}: {err}") from None
    except RuntimeError as err:
        lost = comm_error(err)
        if lost is None:
            raise
        raise NightvidError(f"rank {rank} of {size}: {lost}") from None
    finally:
        _world = None
        if finished:
            dist.destroy_process_group()
        else:  # a peer may be gone: tear down without waiting for it
            with contextlib.suppress(Exception):
                dist.destroy_process_group()
            _let_workers_drop_their_work()


#: Seconds a failed session lets gloo's worker threads finish with the collectives they hold.
WORKER_GRACE_S = 0.5


def _let_workers_drop_their_work() -> None:
    """Release the GIL for a moment so gloo's worker threads let go of their finished work.

    Works queued during a backward pass (DDP's gradient all-reduce) hold the Python
    ``contextvars.Context`` that torch stashes for the backward, so the worker thread that
    drops the last reference to one takes the GIL. If the exception leaving the session ends
    the interpreter first, that thread meets a finalizing interpreter and the process aborts
    ("terminate called without an active exception", SIGABRT) instead of exiting with the
    error's code. The works of a lost peer fail at once; the worker needs only to be scheduled.
    """
    time.sleep(WORKER_GRACE_S)


def _first_line(err: BaseException) -> str:
    """The useful part of a torch/gloo error: its first line without the source location."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    text = text.split("] ", 1)[-1] if text.startswith("[") else text
    return text.split(". This is typically", 1)[0].rstrip(". ")


def comm_error(err: BaseException, *, step: int | None = None) -> NightvidError | None:
    """``err`` as the one-line error of a lost peer, or None if it is not a collective's failure.

    gloo raises a plain RuntimeError ("Connection reset by peer", "Timed out waiting
    ...ms") when a rank died or stopped answering; NCCL a ``DistBackendError``.
    """
    world = current()
    if world is None or not isinstance(err, RuntimeError):
        return None
    text = str(err).lower()
    if not (isinstance(err, dist.DistError) or any(w in text for w in ("gloo", "nccl", "connection", "timed out"))):
        return None
    at = f" at step {step}" if step is not None else ""
    return NightvidError(
        f"lost the other processes{at}: one of them died or did not answer within {world.timeout_s:g} s "
        f"({_first_line(err)}); the run resumes from its last checkpoint with --resume"
    )


def launch_local(nprocs: int, args: Sequence[str], *, device: str = "cpu") -> None:
    """Run ``python -m nightvid *args`` in ``nprocs`` processes on this machine, under torchrun.

    The same as ``torchrun --standalone --nproc-per-node NPROCS -m nightvid ARGS``, through
    torchrun's own launcher (``torch.distributed.run``). ``OMP_NUM_THREADS`` defaults to
    this machine's cores divided among the processes. A process that fails ends the others
    (torchrun's agent stops them) and this raises a NightvidError naming it; its own
    error line is above. Ctrl-C stops them all (KeyboardInterrupt).
    """
    if _from_environment() is not None or "TORCHELASTIC_RUN_ID" in os.environ:
        raise NightvidError("--devices starts its own processes; under torchrun leave it out (--nproc-per-node is it)")
    if nprocs < 2:
        raise NightvidError(f"--devices starts 2 or more processes, got {nprocs}")
    if not dist.is_available():
        raise NightvidError("this torch build has no torch.distributed; train on one device")
    if torch.device(device).type == "cuda":
        _rank_device(device, nprocs - 1)  # every local rank must find its GPU
    elif torch.device(device).type != "cpu":
        raise NightvidError(f"distributed training runs on cpu (gloo) or cuda (NCCL), not {device!r}")
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    argv = ["--standalone", f"--nproc-per-node={nprocs}", "--max-restarts=0", "-m", "nightvid", *args]
    threads = str(max(1, (os.cpu_count() or 1) // nprocs))
    with _environment(OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", threads)), _quiet_launcher():
        try:
            torchrun.run(torchrun.parse_args(argv))
        except ChildFailedError as err:
            rank, failure = err.get_first_failure()
            how = (
                f"was killed by {failure.signal_name()}" if failure.exitcode < 0 else f"exited with {failure.exitcode}"
            )
            raise NightvidError(
                f"training process rank {rank} of {nprocs} {how} first; the others were stopped "
                "(its error, if any, is above)"
            ) from None
        except SignalException as err:
            if err.sigval == signal.SIGINT:
                raise KeyboardInterrupt from None
            raise NightvidError(f"stopped by {err.sigval.name}; resume with --resume") from None


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_launcher() -> Iterator[None]:
    """torchrun's agent logs failures and signals itself (each module's logger has its own
    level); the one error line says what happened."""
    names = [
        n
        for n in logging.root.manager.loggerDict
        if n.startswith(("torch.distributed.elastic", "torch.distributed.run"))
    ]
    loggers = [logging.getLogger(n) for n in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# --------------------------------------------------------------------------- the loop's pieces


def from_rank0(compute: Callable[[], T]) -> T:
    """``compute()`` run on rank 0 alone, its result (or its NightvidError) handed to every rank.

    How every rank resumes from the same checkpoint without a shared folder, and fails
    together when rank 0 refuses to (the checkpoint of another run, say).
    """
    world = current()
    if world is None:
        return compute()
    box: list[Any] = [None]
    if world.rank == 0:
        try:
            box[0] = (True, compute())
        except NightvidError as err:
            box[0] = (False, str(err))
    dist.broadcast_object_list(box, src=0, device=world.comm_device)
    ok, value = box[0]
    if not ok:
        raise NightvidError(value)
    return value


def broadcast_module(module: nn.Module) -> None:
    """Make ``module``'s parameters and buffers rank 0's on every rank (in place; no-op alone)."""
    world = current()
    if world is None:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            sent = tensor.detach().to(world.comm_device)
            dist.broadcast(sent, src=0)
            tensor.copy_(sent)


def _slice(batch: Any, world: World) -> Any:
    if isinstance(batch, Tensor):
        count = batch.shape[0] if batch.dim() else 0
        if count % world.size:
            raise NightvidError(
                f"a batch of {count} does not split evenly over {world.size} processes; "
                f"make --batch a multiple of {world.size} (it is the global batch)"
            )
        part = count // world.size
        return batch[world.rank * part : (world.rank + 1) * part]
    if isinstance(batch, Mapping):
        return {k: _slice(v, world) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        parts = [_slice(v, world) for v in batch]
        return type(batch)(*parts) if hasattr(batch, "_fields") else type(batch)(parts)
    return batch


def shard(batch: Any) -> Any:
    """This rank's slice of the global ``batch`` (tensors cut along dim 0; unchanged alone).

    Example:
        >>> shard(torch.arange(4)).tolist()  # a single process keeps the whole batch
        [0, 1, 2, 3]
    """
    world = current()
    return batch if world is None else _slice(batch, world)


def shard_offset(part: int) -> int:
    """Index in the global batch of this rank's first item, given its slice size ``part``.

    For losses that treat items by their position (KinD's half-brighten, half-darken
    adjustment), so each item gets the same treatment on any world size.
    """
    world = current()
    return 0 if world is None else world.rank * part


def with_sync_batchnorm(model: nn.Module) -> nn.Module:
    """``model`` with SyncBatchNorm layers if the session asked for them (parameters kept)."""
    world = current()
    if world is None or not world.sync_batchnorm:
        return model
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        log.warning("--sync-bn: %s has no BatchNorm layers to synchronise", type(model).__name__)
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


class _Replica(DistributedDataParallel):
    """DDP that also answers the wrapped net's own attributes (LEDNet's ``input_range``),
    so a loss function takes the replica as it takes the net."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def replicate(model: nn.Module) -> nn.Module:
    """``model`` (already on this rank's device) wrapped in DistributedDataParallel.

    Its parameters stay the model's own, so the optimiser, checkpoints (plain
    ``state_dict`` keys) and exported weights do not change.
    """
    world = current()
    if world is None:
        return model
    index = torch.device(world.device).index
    return _Replica(model, device_ids=[index] if world.backend == "nccl" else None)


def mean_values(loss: Tensor, terms: Mapping[str, Any]) -> dict[str, float]:
    """The loss and its terms averaged over the ranks (one all-reduce): the global batch's values."""
    world = current()
    values = [loss.detach(), *(torch.as_tensor(v).detach() for v in terms.values())]
    stacked = torch.stack([v.to(world.comm_device if world else "cpu", torch.float64) for v in values])
    if world is not None:
        dist.all_reduce(stacked)
        stacked /= world.size
    numbers = stacked.tolist()
    return dict(zip(["loss", *terms], numbers, strict=True))


def card_fields() -> dict[str, Any]:
    """What a model card records about the distributed run (nothing for one process)."""
    world = current()
    if world is None:
        return {}
    return {
        "distributed": {
            "world_size": world.size,
            "backend": world.backend,
            "sync_batchnorm": world.sync_batchnorm,
            "batch": "the recipe's batch is the global batch, split evenly over the processes",
        }
    }
