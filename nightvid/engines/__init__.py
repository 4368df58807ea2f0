"""net + weights -> a fast callable on the machine at hand.

``create_engine`` is the single entry point the streamer, bench and preview use.
"""

from __future__ import annotations

from pathlib import Path

from nightvid import nets
from nightvid.engines.base import PRECISIONS, Engine, resolve_device, resolve_dtype
from nightvid.engines.eager import build_eager
from nightvid.errors import NightvidError

__all__ = ["BACKENDS", "Engine", "PRECISIONS", "create_engine", "resolve_device"]

BACKENDS = ("auto", "eager")


def create_engine(
    model: str,
    *,
    weights: Path | str | None = "default",
    backend: str = "auto",
    device: str | None = None,
    precision: str = "fp32",
) -> Engine:
    """Build the engine for ``model`` with ``weights`` ("default" = the shipped file)."""
    if backend not in BACKENDS:
        raise NightvidError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    enhancer = nets.build_enhancer(model, weights=weights)
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision)
    engine = build_eager(enhancer, device=torch_device, dtype=dtype)
    engine.details["model"] = model
    return engine
