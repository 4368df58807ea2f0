"""nightvid: turn dark video into watchable video.

The Python API (docs/PYTHON.md)::

    import nightvid
    summary = nightvid.enhance("night.mp4", "night-bright.mp4", model="lednet")  # a file
    engine = nightvid.load("noiser")  # frames you bring (OpenCV, PyAV, VapourSynth...)
    bright = engine(frames)           # RGB uint8/uint16 (H, W, 3) or (B, H, W, 3) -> the same

``enhance``, ``load`` and ``FrameEnhancer`` live in ``nightvid.api`` and are loaded on
first use, so ``import nightvid`` (and the CLI's start) imports no torch, numpy or PyAV.
Errors you can fix are ``nightvid.NightvidError``, with a one-line message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nightvid.errors import NightvidError

if TYPE_CHECKING:
    from nightvid.api import FrameEnhancer, enhance, load

__all__ = ["FrameEnhancer", "NightvidError", "__version__", "enhance", "load"]
__version__ = "0.1.0"

#: Names loaded from ``nightvid.api`` on first use.
_LAZY = ("FrameEnhancer", "enhance", "load")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from nightvid import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nightvid' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
