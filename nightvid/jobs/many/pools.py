"""What the scheduler of ``enhance-many`` needs from a pool of workers, local or on Ray.

A pool has ``size`` slots, each a worker that runs one task at a time and keeps its
engine between tasks. The scheduler sends a task to a slot that said ``Ready`` and is
idle, and learns what happened from events: ``Progress`` while a task runs,
``Finished`` with its ``Outcome``, ``Lost`` when the worker died under it (the pool
starts a new one in that slot, which says ``Ready`` again) and ``Gone`` when a slot
cannot be restarted. A lost task is known exactly: a slot never runs two at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from nightvid.jobs.many.tasks import Outcome, Task

__all__ = ["MAX_RESTARTS", "Event", "Finished", "Gone", "Lost", "Pool", "Progress", "Ready", "log_levels"]

#: A slot whose worker died this many times in a row without finishing a task is given up.
MAX_RESTARTS = 3


@dataclass(frozen=True)
class Ready:
    """Slot ``slot`` has a worker that takes tasks."""

    slot: int
    worker: str = ""


@dataclass(frozen=True)
class Progress:
    """Task ``task_id`` has written ``done`` frames (of ``total`` expected, if known)."""

    task_id: int
    done: int
    total: int | None


@dataclass(frozen=True)
class Finished:
    """Task ``task_id`` ran in slot ``slot`` to an outcome (success or a classified failure)."""

    slot: int
    task_id: int
    outcome: Outcome


@dataclass(frozen=True)
class Lost:
    """The worker of slot ``slot`` died, with task ``task_id`` (None: while idle) in flight."""

    slot: int
    task_id: int | None
    reason: str


@dataclass(frozen=True)
class Gone:
    """Slot ``slot`` could not be restarted; it takes no more tasks."""

    slot: int
    reason: str


Event = Ready | Progress | Finished | Lost | Gone


class Pool(Protocol):
    """Workers that run tasks (``LocalPool``: processes here; ``RayPool``: actors on a cluster)."""

    #: Slots, known after ``start``.
    size: int
    #: In words, for the summary: ``"2 local processes"``, ``"4 Ray actors at auto"``.
    description: str

    def start(self) -> None:
        """Start the workers (raises NightvidError if that is impossible, e.g. no Ray cluster)."""

    def ready_slots(self) -> list[int]:
        """Slots whose worker is up and idle now (a started pool reused by another run starts from these)."""

    def submit(self, slot: int, task_id: int, task: Task) -> None:
        """Send ``task`` to the idle, ready worker of ``slot``."""

    def wait(self, timeout: float) -> list[Event]:
        """What happened since the last call, waiting up to ``timeout`` seconds for something."""

    def close(self) -> None:
        """Stop every worker; a task still running is abandoned (its temporary files are swept by the caller)."""


def log_levels() -> dict[str, int]:
    """This process's logging levels (root and the engine cache), for workers to copy."""
    return {name: logging.getLogger(name).getEffectiveLevel() for name in ("", "nightvid.engines.cache")}
