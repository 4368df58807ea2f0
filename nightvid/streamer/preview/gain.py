"""The ``+``/``-`` keys: gain steps -> the engine's output gain."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nightvid.engines.base import EngineControls

__all__ = ["GAIN_STEP", "MAX_GAIN_STEPS", "apply_gain"]

#: One press of + or - multiplies the output gain by this.
GAIN_STEP = 1.25
#: + and - stop this many steps from neutral (gain 0.17x to 5.96x).
MAX_GAIN_STEPS = 8


def apply_gain(controls: EngineControls, steps: int) -> str:
    """Set an engine's output gain to ``GAIN_STEP ** steps``; returns the overlay label.

    The same on every engine and backend. (KinD's exposure ratio once served here on the
    eager backend; the shipped KinD's adjustment net ignores it, so it changed nothing.)
    """
    controls.set_gain(GAIN_STEP**steps)
    return f"gain x{controls.gain:.2f}"
