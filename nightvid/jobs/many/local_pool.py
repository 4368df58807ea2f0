"""``enhance-many`` on this machine: one worker process per slot, no Ray needed.

Each slot is a ``multiprocessing`` process (spawned: torch and threads do not survive
``fork``) joined to the scheduler by its own pipe, over which tasks go out and
progress and outcomes come back. One process and one pipe per slot means a worker
that dies (killed, out of memory, a crash in a decoder) takes down only its own task,
which the scheduler knows exactly, and no shared queue is left locked or half
written. Workers split the CPU threads between them and, on a machine with several
GPUs, take one GPU each in turn. They die with the scheduler (``PR_SET_PDEATHSIG`` on
Linux) and unwind on SIGTERM like on Ctrl-C, removing their temporary files.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from nightvid.jobs.many.pools import MAX_RESTARTS, Event, Finished, Gone, Lost, Progress, Ready, log_levels
from nightvid.jobs.many.tasks import Task, run_task

__all__ = ["LocalPool", "local_devices", "threads_per_worker"]

log = logging.getLogger(__name__)

#: Progress messages a worker sends at most this often.
PROGRESS_EVERY_S = 0.25
_STOP_WAIT_S = 10.0


@dataclass
class _Slot:
    process: Any  # multiprocessing.Process (spawn context)
    conn: multiprocessing.connection.Connection
    task_id: int | None = None
    failures: int = 0


def local_devices(jobs: int, device: str | None) -> list[str | None]:
    """The engine device of each local worker: GPUs in turn when there are several and the
    user left the device to us (None/``cuda``), else the user's choice for all."""
    if device not in (None, "auto", "cuda"):
        return [device] * jobs
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        return [device] * jobs
    return [f"cuda:{slot % count}" for slot in range(jobs)]


def threads_per_worker(jobs: int) -> int:
    """The CPUs divided between ``jobs`` workers, but no more than ``OMP_NUM_THREADS`` if the user set it."""
    share = max(1, (os.cpu_count() or 1) // jobs)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(share, int(limit)) if limit.isdigit() and int(limit) > 0 else share


class LocalPool:
    """``jobs`` worker processes on this machine (see the module docstring)."""

    def __init__(
        self, jobs: int, *, devices: list[str | None] | None = None, threads: int | None = None, runner: Any = None
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.size = jobs
        self.description = f"{jobs} local process{'es' if jobs > 1 else ''}"
        self.devices = devices or [None] * jobs
        #: CPU threads per worker (None: the CPUs divided between the workers, at most OMP_NUM_THREADS).
        self.threads = threads or threads_per_worker(jobs)
        #: What a worker calls for each task: ``run_task``, or a stand-in with its signature.
        self.runner = runner or run_task
        self._context = multiprocessing.get_context("spawn")
        self._slots: dict[int, _Slot] = {}
        self._events: list[Event] = []

    def start(self) -> None:
        for slot in range(self.size):
            self._spawn(slot)

    def _spawn(self, slot: int, failures: int = 0) -> None:
        parent, child = self._context.Pipe(duplex=True)
        levels = log_levels()
        process = self._context.Process(
            target=_serve,
            args=(child, self.devices[slot], self.threads, levels, self.runner, os.getpid()),
            name=f"nightvid-worker-{slot}",
            daemon=True,
        )
        process.start()
        child.close()
        self._slots[slot] = _Slot(process, parent, failures=failures)
        self._events.append(Ready(slot, f"pid {process.pid}"))

    def ready_slots(self) -> list[int]:
        return [slot for slot, state in self._slots.items() if state.task_id is None and state.process.is_alive()]

    def submit(self, slot: int, task_id: int, task: Task) -> None:
        state = self._slots[slot]
        if state.task_id is not None:
            raise RuntimeError(f"internal error: slot {slot} is running task {state.task_id} already")
        state.task_id = task_id
        try:
            state.conn.send((task_id, task))
        except (BrokenPipeError, EOFError, OSError):
            pass  # the worker is gone; wait() reports it as lost with this task

    def wait(self, timeout: float) -> list[Event]:
        if not self._events:
            waitables: list[Any] = []
            for state in self._slots.values():
                waitables += [state.conn, state.process.sentinel]
            if waitables:
                multiprocessing.connection.wait(waitables, timeout)
            else:
                time.sleep(timeout)
        for slot, state in list(self._slots.items()):
            alive = self._drain(slot, state)
            if not alive or not state.process.is_alive():
                self._drain(slot, state)
                self._lose(slot, state)
        events, self._events = self._events, []
        return events

    def _drain(self, slot: int, state: _Slot) -> bool:
        """Read every message waiting on the slot's pipe; False when the pipe is closed."""
        try:
            while state.conn.poll():
                kind, task_id, *rest = state.conn.recv()
                if kind == "progress":
                    self._events.append(Progress(task_id, rest[0], rest[1]))
                else:
                    state.task_id = None
                    state.failures = 0
                    self._events.append(Finished(slot, task_id, rest[0]))
        except (EOFError, OSError):
            return False
        return True

    def _lose(self, slot: int, state: _Slot) -> None:
        state.process.join(1.0)
        code = state.process.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        reason = f"worker process {state.process.pid} died ({how})"
        state.conn.close()
        del self._slots[slot]
        self._events.append(Lost(slot, state.task_id, reason))
        if state.failures + 1 > MAX_RESTARTS:
            self._events.append(Gone(slot, reason))
        else:
            self._spawn(slot, failures=state.failures + 1)

    def close(self) -> None:
        """Idle workers are asked to stop; busy ones get SIGTERM (they remove their temporary files)."""
        for state in self._slots.values():
            try:
                if state.task_id is None:
                    state.conn.send(None)
                elif state.process.is_alive():
                    state.process.terminate()
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + _STOP_WAIT_S
        for state in self._slots.values():
            state.process.join(max(0.0, deadline - time.monotonic()))
            if state.process.is_alive():
                state.process.kill()
                state.process.join(1.0)
            state.conn.close()
        self._slots.clear()


def _serve(conn: Any, device: str | None, threads: int, levels: dict[str, int], runner: Any, parent: int) -> None:
    """A worker's life: take tasks from ``conn`` until it says stop (None) or closes.

    Setup sits inside the ``try``: a stop signal can arrive while torch is still importing (a
    worker respawned just before Ctrl-C), and that must end the worker quietly too.
    """
    try:
        _become_worker(threads, levels, parent)
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            task_id, task = message
            report = _reporter(conn, task_id)
            outcome = runner(task, report, device=device)
            conn.send(("done", task_id, outcome))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the task unwound and removed its files
        return
    except (BrokenPipeError, EOFError):  # the scheduler is gone
        return


def _reporter(conn: Any, task_id: int) -> Any:
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            conn.send(("progress", task_id, done, total))

    return report


def _become_worker(threads: int, levels: dict[str, int], parent: int) -> None:
    """Signals, death with the scheduler, logging and CPU threads of a fresh worker process."""

    def unwind(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, unwind)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: SIGTERM when the scheduler dies
        except (OSError, AttributeError):
            log.debug("PR_SET_PDEATHSIG unavailable", exc_info=True)
    if os.getppid() != parent:  # the scheduler died before the line above took effect
        os._exit(0)
    logging.basicConfig(level=levels.get("", logging.WARNING), format="%(levelname)s: %(message)s", force=True)
    for name, level in levels.items():
        if name:
            logging.getLogger(name).setLevel(level)
    import torch

    torch.set_num_threads(threads)
