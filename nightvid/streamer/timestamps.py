"""The pts each enhanced frame is written with: strictly increasing, every frame kept.

Encoders and muxers refuse a pts at or before the previous one (the muxer's
``returned 22``). Files joined by FFmpeg's concat demuxer with ``-c copy`` hold such
frames at every join, where the next segment's first frames fall at or before the
previous segment's last. FFmpeg's ``-vsync vfr`` drops them; we keep every frame and
move a non-increasing pts just past the previous one (a tick, or 1 ms in Matroska), so
the picture stays and the audio, which is never retimed, stays within that move of it.
A ``Timeline`` also
subtracts the input's start time (a TS that starts at 1001 s) and, for containers that
store no pts (AVI), places frames on the slots of a constant rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["Timeline"]


@dataclass
class Timeline:
    """Maps source pts (in ``source_base``) to output pts (in ``base``), keeping every frame.

    ``start``: seconds subtracted from every pts (the input's start time); ``step``: ticks
    of ``base`` per frame, for frames without a pts; ``spacing``: the least time the
    container keeps apart (Matroska stores milliseconds; others a tick of ``base``).
    """

    source_base: Fraction
    base: Fraction
    step: int
    start: Fraction = Fraction(0)
    spacing: Fraction = Fraction(0)
    #: How the warning says why frames were moved.
    why: str = "had a timestamp at or before the previous frame's"
    moved: int = 0
    #: Source seconds of the first moved frame, and the largest move in seconds.
    first_moved_at: float | None = None
    largest_move: Fraction = Fraction(0)
    _last: int | None = field(default=None, repr=False)
    _gap: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._gap = max(1, math.ceil(self.spacing / self.base))

    def place(self, pts: int | None) -> int:
        """The output pts for a frame shown at ``pts`` (None: one step after the previous frame)."""
        if pts is None:
            placed = 0 if self._last is None else self._last + self.step
        else:
            placed = round((pts * self.source_base - self.start) / self.base)
            if self._last is not None and placed < self._last + self._gap:
                wanted = placed
                placed = self._last + self._gap
                self._note_move(pts, placed - wanted)
        self._last = placed
        return placed

    def _note_move(self, pts: int, ticks: int) -> None:
        self.moved += 1
        if self.first_moved_at is None:
            self.first_moved_at = float(pts * self.source_base)
        self.largest_move = max(self.largest_move, ticks * self.base)

    def warning(self) -> str | None:
        """One line saying which frames were moved and by how much; None when none was."""
        if not self.moved:
            return None
        return (
            f"{self.moved} frame(s) {self.why} (the first at {self.first_moved_at:.3f} s); "
            "kept and moved just after it, "
            f"by at most {_duration(self.largest_move)}"
        )


def _duration(seconds: Fraction) -> str:
    """A short span said with sensible precision: ``1.5 ms``, ``11 µs`` (never ``0.0 ms``)."""
    ms = float(seconds) * 1000
    if ms >= 1:
        return f"{ms:.1f} ms"
    return f"{ms * 1000:.3g} µs"
