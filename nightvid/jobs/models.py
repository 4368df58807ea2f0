"""The facts ``nightvid models`` shows, gathered from the net registry."""

from __future__ import annotations

from typing import Any

import torch

from nightvid import nets

__all__ = ["DEFAULT_MODEL", "SPEED_CLASSES", "count_macs_per_pixel", "describe_models", "speed_class"]

#: The model every command runs unless ``--model`` names another.
DEFAULT_MODEL = "noiser"

#: Speed class by multiply-adds per pixel (``count_macs_per_pixel``): the upper bound of
#: each class, in order. CPU time follows the count (eager, 640x360, 2 cores, docs/BENCHMARKS.md
#: "CPU backends per net": NoiSER 1.7k MAC/px 51 ms, denoiser 221k 836 ms, KinD 265k 1130 ms,
#: LEDNet 525k 2019 ms).
SPEED_CLASSES: tuple[tuple[str, float], ...] = (("fast", 1e4), ("medium", 4e5), ("slow", float("inf")))

#: The frame side the multiply-adds are counted on (every registered net takes it).
_SIDE = 64


def count_macs_per_pixel(name: str) -> float | None:
    """Multiply-adds per output pixel of the net ``name``, counted by torch's ``FlopCounterMode``
    on a 64x64 frame with the net built on the meta device (nothing is computed); None
    when the net cannot run there."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.device("meta"):
            net = nets.build(name).eval()
            frame = torch.empty(1, 3, _SIDE, _SIDE)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(frame)
    except Exception:  # noqa: BLE001  (a net that needs real data: no figure rather than no listing)
        return None
    return counter.get_total_flops() / 2 / (_SIDE * _SIDE)


def speed_class(macs_per_pixel: float | None) -> str | None:
    """``fast``, ``medium`` or ``slow`` (``SPEED_CLASSES``); None without a count.

    Example:
        >>> speed_class(1728.0), speed_class(265024.0), speed_class(525414.5)
        ('fast', 'medium', 'slow')
    """
    if macs_per_pixel is None:
        return None
    return next(name for name, bound in SPEED_CLASSES if macs_per_pixel < bound)


def describe_models() -> list[dict[str, Any]]:
    """One row per registered net: size, speed class, contract, shipped weights, whether it is the default."""
    rows = []
    for name in nets.list_nets():
        info = nets.get_info(name)
        net = nets.build(name)
        weights = nets.shipped_weights(name)
        macs = count_macs_per_pixel(name)
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_MODEL,
                "params": nets.param_count(net),
                "macs_per_pixel": None if macs is None else round(macs),
                "speed": speed_class(macs),
                "input_range": list(nets.net_contract(net).input_range),
                "size_multiple": nets.net_contract(net).size_multiple,
                "weights": weights.name if weights else None,
                "weights_bytes": weights.stat().st_size if weights else None,
                "summary": info.summary,
                "paper": info.paper,
            }
        )
    return rows
