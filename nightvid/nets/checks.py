"""Tensor-contract checks for public entry points.

Switched off with ``NIGHTVID_CHECKS=0`` (read once, at the first check) and skipped while
tracing/compiling, so compiled and exported paths pay nothing for them.
"""

from __future__ import annotations

import functools
import os

import torch

from nightvid.errors import NightvidError

__all__ = ["check_image_batch", "checks_enabled"]


@functools.cache
def _disabled_by_environment() -> bool:
    return os.environ.get("NIGHTVID_CHECKS", "1") == "0"


def checks_enabled() -> bool:
    """True unless disabled by the environment or running under a compiler/exporter."""
    return not _disabled_by_environment() and not torch.compiler.is_compiling()


def check_image_batch(x: torch.Tensor, *, channels: int = 3) -> None:
    """Raise NightvidError unless ``x`` is a floating (B, channels, H, W) tensor."""
    if not checks_enabled():
        return
    if not isinstance(x, torch.Tensor):
        raise NightvidError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != channels:
        raise NightvidError(f"expected a (B, {channels}, H, W) batch, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise NightvidError(f"expected a floating-point batch, got {x.dtype}")
