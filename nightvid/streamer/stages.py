"""Threads joined by bounded queues that never hang.

A stage body is plain code: a generator whose items go downstream (``Stage.producing``)
or a function called once per item from upstream (``Stage.consuming``), so it can be
tested without threads. ``Stage`` runs it in its own thread, records the exception it
died of, and always sends ``END`` downstream (in ``finally``) so its consumer wakes up.
``put`` and ``get`` poll a shared ``stop`` event, so a stage whose neighbour died stops
too; ``Stage.finish`` joins with a bound, so a stuck stage is an error, not a hang.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nightvid.errors import NightvidError

__all__ = ["END", "JOIN_TIMEOUT_S", "Stage", "get", "items", "put"]

END = object()
_POLL_S = 0.1
#: How long a stage may take to notice ``stop`` and end (one frame's encode at 8K is about
#: a second on 2 cores, so this is generous).
JOIN_TIMEOUT_S = 60.0


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


def items(q: queue.Queue, stop: threading.Event) -> Iterator[Any]:
    """The items of ``q`` until ``END`` arrives or ``stop`` is set."""
    while (item := get(q, stop)) is not END:
        yield item


class Stage(threading.Thread):
    """Runs ``body(stop)``; on error stores it and sets ``stop``; always puts END on ``out``.

    ``result`` holds what the body returned (for ``producing``: the generator's return value).
    """

    def __init__(
        self, name: str, body: Callable[[threading.Event], Any], stop: threading.Event, out: queue.Queue | None = None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.body, self.stop, self.out = body, stop, out
        self.error: BaseException | None = None
        self.result: Any = None

    @classmethod
    def producing(cls, name: str, source: Iterable[Any], stop: threading.Event, out: queue.Queue) -> Stage:
        """A stage that puts every item of ``source`` on ``out``; ``result`` is a generator's return value."""

        def body(stop: threading.Event) -> Any:
            iterator = iter(source)
            while True:
                try:
                    item = next(iterator)
                except StopIteration as done:
                    return done.value
                if not put(out, item, stop):
                    return None

        return cls(name, body, stop, out=out)

    @classmethod
    def consuming(
        cls,
        name: str,
        inbox: queue.Queue,
        handle: Callable[[Any], None],
        stop: threading.Event,
        *,
        at_end: Callable[[], None] | None = None,
    ) -> Stage:
        """A stage that calls ``handle(item)`` for every item of ``inbox`` until END, then
        ``at_end()`` if the stream ended rather than stopped (a stage that holds items back
        hands them on there)."""

        def body(stop: threading.Event) -> None:
            for item in items(inbox, stop):
                handle(item)
            if at_end is not None and not stop.is_set():
                at_end()

        return cls(name, body, stop)

    def run(self) -> None:
        try:
            self.result = self.body(self.stop)
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

    def finish(self, timeout_s: float = JOIN_TIMEOUT_S, poll_s: float = _POLL_S) -> None:
        """Join in short waits (so Ctrl-C still reaches the main thread), at most ``timeout_s``.

        A stage still running after that is a NightvidError naming it, never a hang.
        """
        waited = 0.0
        while self.is_alive():
            if waited >= timeout_s:
                raise NightvidError(f"internal error: the {self.name} stage did not stop within {timeout_s:.0f} s")
            self.join(poll_s)
            waited += poll_s

    def raise_error(self) -> None:
        """Re-raise in the caller what the stage died of, if anything."""
        if self.error is not None:
            raise self.error
