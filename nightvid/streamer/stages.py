"""Threads joined by bounded queues that never hang.

Each ``Stage`` runs a body in its own thread, records the exception it died of, and
always sends ``END`` downstream (in ``finally``) so its consumer wakes up. ``put`` and
``get`` poll a shared ``stop`` event, so a stage whose neighbour died stops too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["END", "Stage", "get", "put"]

END = object()
_POLL_S = 0.1


def put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Block until ``item`` is queued; False if ``stop`` was set first."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def get(q: queue.Queue, stop: threading.Event) -> Any:
    """Block until an item arrives; ``END`` if ``stop`` was set first."""
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue
    return END


class Stage(threading.Thread):
    """Runs ``body(stop)``; on error stores it and sets ``stop``; always puts END on ``out``."""

    def __init__(
        self, name: str, body: Callable[[threading.Event], None], stop: threading.Event, out: queue.Queue | None = None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.body, self.stop, self.out = body, stop, out
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.body(self.stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller after join
            self.error = exc
            self.stop.set()
        finally:
            if self.out is not None:
                # Make room if needed: a consumer waiting for END must always get it.
                while True:
                    try:
                        self.out.put(END, timeout=_POLL_S)
                        break
                    except queue.Full:
                        if self.stop.is_set():
                            try:
                                self.out.get_nowait()
                            except queue.Empty:
                                pass
