"""``enhance-many`` on a Ray cluster: one actor per slot, each keeping its engine.

Ray is an optional extra (``pip install 'nightvid[cluster]'``). The pool connects to
the cluster at ``address`` (``auto``: the one this machine belongs to, as ``ray start``
recorded it, or ``RAY_ADDRESS``; ``ray://HOST:PORT``: through Ray Client; ``local``: a
private single-machine Ray started for this run), or uses the Ray this process already
initialised. Actors are spread over the nodes (``SPREAD``), each reserving one CPU and
``gpus_per_job`` GPUs; without ``--jobs`` there is one actor per GPU (or per
``gpus_per_job``), or one per CPU on a cluster without GPUs.

Progress comes back through a ``ray.util.queue.Queue``. An actor that dies (its node
lost, its process killed) fails only its own task; the pool starts a new actor in its
slot, which takes tasks once it has answered a ping, so no task ever waits on an actor
the cluster has no room for. Every node needs nightvid installed and the inputs and
the output folder mounted at the same paths.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from nightvid.errors import NightvidError
from nightvid.jobs.many.pools import MAX_RESTARTS, Event, Finished, Gone, Lost, Progress, Ready, log_levels
from nightvid.jobs.many.tasks import Failure, Outcome, Task, run_task

__all__ = ["INSTALL_HINT", "RayPool", "import_ray"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'nightvid[cluster]'"
#: How long the pool waits for its first actor to answer before it says the cluster has no room.
START_TIMEOUT_S = 300.0
_PROGRESS_EVERY_S = 0.5


def import_ray() -> Any:
    """The ``ray`` module, or a NightvidError that says in one line how to install it."""
    try:
        import ray
    except ImportError:
        raise NightvidError(f"--ray-address needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


class Worker:
    """The actor: runs tasks with ``run_task`` and reports progress to the pool's queue."""

    def __init__(self, progress: Any, levels: dict[str, int]) -> None:
        logging.basicConfig(level=levels.get("", logging.WARNING), format="%(levelname)s: %(message)s")
        for name, level in levels.items():
            if name:
                logging.getLogger(name).setLevel(level)
        self.progress = progress

    def ready(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def run(self, task_id: int, task: Task) -> Outcome:
        last = [0.0]

        def report(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY_S:
                last[0] = now
                try:
                    self.progress.put_nowait((task_id, done, total))
                except Exception:  # noqa: BLE001 - progress is best effort; the task goes on
                    log.debug("progress not sent", exc_info=True)

        return run_task(task, report)


class RayPool:
    """Actors on a Ray cluster (see the module docstring)."""

    def __init__(self, address: str | None, *, jobs: int | None = None, gpus_per_job: float | None = None) -> None:
        self.address = address
        self.size = jobs or 0
        self.gpus_per_job = gpus_per_job
        self.description = f"Ray at {address}"
        self._ray: Any = None
        self._owns = False
        self._actors: dict[int, Any] = {}
        self._failures: dict[int, int] = {}
        self._pings: dict[Any, int] = {}
        self._running: dict[Any, tuple[int, int]] = {}
        self._events: list[Event] = []
        self._queue: Any = None
        self._class: Any = None
        self._started_at = 0.0
        self._any_ready = False

    def start(self) -> None:
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, logging_level=logging.WARNING, include_dashboard=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                first = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0].rstrip(".")
                raise NightvidError(
                    f"cannot connect to Ray at {self.address}: {first} "
                    "(start one with `ray start --head`, or pass --ray-address local)"
                ) from None
            self._owns = True
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        per_job = self.gpus_per_job if self.gpus_per_job is not None else (1.0 if gpus >= 1 else 0.0)
        if per_job > gpus:
            self.close()
            raise NightvidError(f"--gpus-per-job {per_job:g} but the Ray cluster has {gpus:g} GPUs")
        if not self.size:
            self.size = max(1, int(gpus // per_job) if per_job else int(cpus))
        self.gpus_per_job = per_job
        where = "this process's Ray" if not self._owns else f"Ray at {self.address}"
        gpu_note = f", {per_job:g} GPU each" if per_job else ""
        self.description = f"{self.size} Ray actor{'s' if self.size > 1 else ''}{gpu_note} ({where})"
        from ray.util.queue import Queue

        self._queue = Queue(actor_options={"num_cpus": 0})
        self._class = ray.remote(num_cpus=1, num_gpus=per_job, max_restarts=0, max_task_retries=0)(Worker)
        self._started_at = time.monotonic()
        for slot in range(self.size):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        actor = self._class.options(scheduling_strategy="SPREAD").remote(self._queue, log_levels())
        self._actors[slot] = actor
        self._pings[actor.ready.remote()] = slot

    def ready_slots(self) -> list[int]:
        waiting = set(self._pings.values()) | {slot for slot, _ in self._running.values()}
        return [slot for slot in self._actors if slot not in waiting]

    def submit(self, slot: int, task_id: int, task: Task) -> None:
        if any(busy == slot for busy, _ in self._running.values()):
            raise RuntimeError(f"internal error: slot {slot} is running a task already")
        ref = self._actors[slot].run.remote(task_id, task)
        self._running[ref] = (slot, task_id)

    def wait(self, timeout: float) -> list[Event]:
        ray = self._ray
        refs = [*self._running, *self._pings]
        if refs and not self._events:
            ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
            if ready:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in ready:
                self._settle(ref)
        elif not refs:
            time.sleep(timeout)
        self._drain_progress()
        if not self._any_ready and self._pings and time.monotonic() - self._started_at > START_TIMEOUT_S:
            raise NightvidError(
                f"no Ray actor started within {START_TIMEOUT_S:.0f} s: the cluster has "
                f"{self._ray.cluster_resources()} and each actor needs 1 CPU and {self.gpus_per_job:g} GPU"
            )
        events, self._events = self._events, []
        return events

    def _settle(self, ref: Any) -> None:
        ray = self._ray
        if ref in self._pings:
            slot = self._pings.pop(ref)
            try:
                where = ray.get(ref)
            except ray.exceptions.RayError as err:
                self._lose(slot, None, _why(err))
                return
            self._any_ready = True
            self._events.append(Ready(slot, where))
            return
        slot, task_id = self._running.pop(ref)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            # run_task returns failures as values; an exception here escaped it (a bug).
            self._events.append(Finished(slot, task_id, Outcome(failure=Failure(_why(err)))))
            return
        except ray.exceptions.RayError as err:
            self._lose(slot, task_id, _why(err))
            return
        self._failures[slot] = 0
        self._events.append(Finished(slot, task_id, outcome))

    def _lose(self, slot: int, task_id: int | None, reason: str) -> None:
        self._events.append(Lost(slot, task_id, f"Ray actor lost ({reason})"))
        old = self._actors.pop(slot, None)
        if old is not None:
            try:
                self._ray.kill(old, no_restart=True)
            except Exception:  # noqa: BLE001 - already dead
                log.debug("kill of a lost actor failed", exc_info=True)
        self._failures[slot] = self._failures.get(slot, 0) + 1
        if self._failures[slot] > MAX_RESTARTS:
            self._events.append(Gone(slot, reason))
        else:
            self._spawn(slot)

    def _drain_progress(self) -> None:
        if self._queue is None:
            return
        try:
            waiting = self._queue.qsize()
            items = self._queue.get_nowait_batch(waiting) if waiting else []
        except Exception:  # noqa: BLE001 - progress is best effort
            log.debug("progress not read", exc_info=True)
            return
        self._events.extend(Progress(task_id, done, total) for task_id, done, total in items)

    def close(self) -> None:
        """Kill every actor (a running task is abandoned where it stands) and wait until they are gone."""
        ray = self._ray
        if ray is None:
            return
        actors = list(self._actors.values())
        for actor in actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already dead
                log.debug("kill failed", exc_info=True)
        for actor in actors:  # a killed actor answers no more calls: then no file is being written
            try:
                ray.get(actor.ready.remote(), timeout=10)
            except Exception:  # noqa: BLE001 - expected: the actor is dead
                pass
        self._actors.clear()
        self._running.clear()
        self._pings.clear()
        if self._queue is not None:
            try:
                self._queue.shutdown()
            except Exception:  # noqa: BLE001
                log.debug("queue shutdown failed", exc_info=True)
            self._queue = None
        if self._owns:
            ray.shutdown()
            self._owns = False


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
