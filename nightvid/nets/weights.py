"""Weights for the registered nets: the shipped files, reading and strict loading, model cards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import Tensor, nn

from nightvid.errors import NightvidError
from nightvid.files import CARD_FILE
from nightvid.nets.registry import CHAIN, chain_parts, get_info

__all__ = [
    "WEIGHTS_DIR",
    "flush_denormals",
    "load_weights",
    "read_model_card",
    "read_weights",
    "shipped_weights",
]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def shipped_weights(name: str) -> Path | None:
    """Path of the weights shipped for ``name``, or None when there are none (or ``name`` is a chain)."""
    if CHAIN in name:
        chain_parts(name)
        return None
    file = get_info(name).default_weights
    if file is None:
        return None
    path = WEIGHTS_DIR / file
    return path if path.is_file() else None


def read_weights(path: Path | str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and header metadata of a safetensors file, or a NightvidError saying why not."""
    path = Path(path)
    if not path.exists():
        raise NightvidError(f"weights file not found: {path}")
    if not path.is_file():
        raise NightvidError(f"weights path is not a file: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise NightvidError(f"weights file {path} is not a readable safetensors file ({err})") from None
    return tensors, metadata


def load_weights(net: nn.Module, path: Path | str, *, name: str) -> None:
    """Load a safetensors state dict into ``net`` strictly, naming whatever does not fit.

    Files written by nightvid carry ``{"model": name}`` in their header, so weights of
    another model are named as such instead of as a list of missing keys.
    """
    tensors, metadata = read_weights(path)
    owner = metadata.get("model")
    if owner is not None and owner != name:
        raise NightvidError(f"weights file {path} is for model {owner!r}, not {name!r}")
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {missing[0]!r}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) e.g. {unexpected[0]!r}")
        raise NightvidError(f"weights file {path} does not fit model {name!r}: {'; '.join(parts)}")
    for key, tensor in tensors.items():
        if tensor.shape != expected[key].shape:
            raise NightvidError(
                f"weights file {path} does not fit model {name!r}: {key!r} has shape "
                f"{tuple(tensor.shape)}, the model expects {tuple(expected[key].shape)}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NightvidError(
                f"weights file {path} holds non-finite values (NaN or Inf) in {key!r}; "
                "it is damaged or from a run that diverged"
            )
    net.load_state_dict({key: flush_denormals(t) for key, t in tensors.items()}, strict=True)


def flush_denormals(tensor: Tensor) -> Tensor:
    """``tensor`` with float32 denormals (0 < |x| < 1.18e-38) set to 0; other values untouched.

    Denormal weights make CPU convolution about 75x slower (measured with the official
    Zero-DCE weights, 22% of one layer below 1e-38); they are far below any value that
    changes an 8-bit result. Half-precision files are flushed once widened to float32.
    """
    if not tensor.is_floating_point():
        return tensor
    wide = tensor.float()
    tiny = (wide != 0) & (wide.abs() < torch.finfo(torch.float32).tiny)
    return wide.masked_fill(tiny, 0.0).to(tensor.dtype) if bool(tiny.any()) else tensor


def read_model_card(weights: Path) -> dict[str, Any] | None:
    """The model card JSON beside a weights file, if any.

    Looks for ``<weights stem>.json`` (shipped weights: ``noiser.json``), then for
    ``model_card.json`` in the same folder (what the trainers write).
    """
    weights = Path(weights)
    for card in (weights.with_suffix(".json"), weights.with_name(CARD_FILE)):
        if card.is_file():
            return json.loads(card.read_text())
    return None
