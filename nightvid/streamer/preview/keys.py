"""The preview's keys: pure functions of a small frozen ``PreviewState``.

The session compares the state before and after a key and does what changed (switch
engine, apply the gain, save a snapshot, start or stop a recording), so the key logic is
tested without a window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nightvid.streamer.preview.gain import MAX_GAIN_STEPS

__all__ = ["HELP", "KEYS", "PreviewState", "handle_key", "key_name", "set_split"]

#: Every key the preview acts on (the window's, and the served page's buttons).
KEYS = "qm+-sr"
HELP = "q quit, m next model, +/- gain, s snapshot, r record"


@dataclass(frozen=True)
class PreviewState:
    """What the keys change. The loop acts on the difference between two states."""

    models: tuple[str, ...]
    model_index: int = 0
    #: Gain steps from neutral: the output gain is ``GAIN_STEP ** gain_steps``.
    gain_steps: int = 0
    #: Where the split layout divides original (left) from enhanced (right), 0..1.
    split: float = 0.5
    recording: bool = False
    #: Snapshots asked for so far; the loop saves one each time this grows.
    snapshots: int = 0
    quit: bool = False

    @property
    def model(self) -> str:
        return self.models[self.model_index]


def key_name(code: int) -> str | None:
    """``cv2.waitKey`` code -> the preview key it means (``None``: no key or unused).

    ``=`` counts as ``+`` (same key without shift), ``_`` as ``-``, Esc as ``q``.

    Example:
        >>> [key_name(c) for c in (-1, ord("q"), 27, ord("="), ord("M"), ord("x"))]
        [None, 'q', 'q', '+', 'm', None]
    """
    if code < 0:
        return None
    char = chr(code & 0xFF).lower()
    return {"\x1b": "q", "=": "+", "_": "-"}.get(char, char if char in KEYS else None)


def handle_key(state: PreviewState, key: str) -> PreviewState:
    """The state after ``key`` (one of ``q m + - s r``); other keys change nothing.

    Example:
        >>> s = handle_key(PreviewState(models=("noiser", "kind")), "m")
        >>> s.model, handle_key(s, "m").model, handle_key(s, "+").gain_steps
        ('kind', 'noiser', 1)
    """
    if key == "q":
        return replace(state, quit=True)
    if key == "m":
        return replace(state, model_index=(state.model_index + 1) % len(state.models))
    if key in ("+", "-"):
        step = 1 if key == "+" else -1
        gain_steps = max(-MAX_GAIN_STEPS, min(MAX_GAIN_STEPS, state.gain_steps + step))
        return replace(state, gain_steps=gain_steps)
    if key == "s":
        return replace(state, snapshots=state.snapshots + 1)
    if key == "r":
        return replace(state, recording=not state.recording)
    return state


def set_split(state: PreviewState, fraction: float) -> PreviewState:
    """The state with the split layout's divider at ``fraction`` of the width (clamped)."""
    return replace(state, split=min(1.0, max(0.0, fraction)))
