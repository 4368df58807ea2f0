"""The facts ``nightvid models`` shows, gathered from the net registry."""

from __future__ import annotations

from typing import Any

from nightvid import nets

__all__ = ["describe_models"]


def describe_models() -> list[dict[str, Any]]:
    """One row per registered net: size, contract and shipped weights."""
    rows = []
    for name in nets.list_nets():
        info = nets.get_info(name)
        net = nets.build(name)
        weights = nets.shipped_weights(name)
        rows.append(
            {
                "name": name,
                "params": nets.param_count(net),
                "input_range": list(nets.net_contract(net).input_range),
                "size_multiple": nets.net_contract(net).size_multiple,
                "weights": weights.name if weights else None,
                "summary": info.summary,
                "paper": info.paper,
            }
        )
    return rows
