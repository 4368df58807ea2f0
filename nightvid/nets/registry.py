"""The net registry: names, builders and what each net declares.

Every registered builder returns an ``nn.Module`` with two plain attributes:

- ``input_range``: ``(lo, hi)``, the value range its forward expects and returns
  ((0, 1) or (-1, 1));
- ``size_multiple``: H and W must be multiples of it (1 = any size).

Its ``forward(x)`` takes a float ``(B, 3, H, W)`` RGB batch in ``input_range`` and returns
either that image or a tuple/NamedTuple whose first element is the image. ``Enhancer``
(``nets.enhancer``) turns any such net into the one contract engines and the streamer
rely on: sRGB in [0, 1], any H and W, same shape out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from nightvid.errors import NightvidError
from nightvid.nets.exposure import AUTO

__all__ = [
    "CHAIN",
    "NetContract",
    "NetInfo",
    "PaddingMode",
    "SICE_BRIGHTEST_INPUT",
    "build",
    "chain_parts",
    "get_info",
    "list_nets",
    "net_contract",
    "param_count",
    "register_net",
]

#: ``nn.Conv2d``'s border modes.
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


@dataclass(frozen=True)
class NetContract:
    """The two class attributes every registered net declares (see the module docstring)."""

    input_range: tuple[float, float]
    size_multiple: int


def net_contract(net: nn.Module) -> NetContract:
    """``net``'s declared ``input_range`` and ``size_multiple``, typed (``nn.Module`` types its attributes loosely)."""
    declared: Any = net
    lo, hi = declared.input_range
    return NetContract((float(lo), float(hi)), int(declared.size_multiple))


@dataclass(frozen=True)
class NetInfo:
    """What the registry knows about a net without building it."""

    name: str
    builder: Callable[..., nn.Module]
    summary: str
    paper: str
    #: File name inside ``nightvid/weights`` that ``--weights`` defaults to, if shipped.
    default_weights: str | None = None
    #: Share of the output whose colour the Enhancer takes from the input
    #: (``nets.colour.mix_input_colour``); 0 = the net's colour as it is.
    input_colour: float = 0.0
    #: What ``exposure="default"`` means for this net: ``AUTO`` or None (its own brightness).
    default_exposure: float | str | None = AUTO
    #: Inputs brighter than this mean luma are dimmed to it before the net
    #: (``nets.colour.dim_to_mean_luma``); None = every input as it is.
    brightest_input: float | None = None
    #: Take the camera's magenta black floor off the input first (``nets.colour.neutral_black``).
    neutral_black: bool = False
    #: Smooth the codec's blocks out of the input's dark parts next (``nets.deblock.deblock_dark``).
    deblock_dark: bool = False
    #: ``precision="auto"`` runs it in bf16 on a CPU with native bf16 (AVX512-BF16/AMX):
    #: set where that was measured faster than fp32 at a SICE eval cost under 0.05 dB.
    cpu_bf16: bool = False


#: The brightest mean luma among the SICE train pairs' low images (0.016-0.158), the
#: inputs LEDNet and KinD learned from: their ``brightest_input``.
SICE_BRIGHTEST_INPUT = 0.16


_REGISTRY: dict[str, NetInfo] = {}


def register_net(
    name: str,
    *,
    summary: str,
    paper: str,
    default_weights: str | None = None,
    input_colour: float = 0.0,
    default_exposure: float | str | None = AUTO,
    brightest_input: float | None = None,
    neutral_black: bool = False,
    deblock_dark: bool = False,
    cpu_bf16: bool = False,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a builder under ``name``; a duplicate name is a bug."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"net {name!r} is already registered")
        _REGISTRY[name] = NetInfo(
            name,
            builder,
            summary,
            paper,
            default_weights,
            input_colour,
            default_exposure,
            brightest_input,
            neutral_black,
            deblock_dark,
            cpu_bf16,
        )
        return builder

    return decorate


def list_nets() -> list[str]:
    """Registered net names, in registration order."""
    return list(_REGISTRY)


def get_info(name: str) -> NetInfo:
    """The registry entry for ``name``; the error lists the names that exist."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NightvidError(f"unknown model {name!r}; available: {', '.join(list_nets())}") from None


def build(name: str, **options: Any) -> nn.Module:
    """A freshly initialised net (no weights loaded)."""
    return get_info(name).builder(**options)


def param_count(net: nn.Module) -> int:
    """Number of parameters (buffers such as fixed filters are not counted)."""
    return sum(p.numel() for p in net.parameters())


#: Joins the models of a chain: ``kind+denoiser`` runs KinD, then the denoiser on its output.
CHAIN = "+"


def chain_parts(name: str) -> list[str]:
    """The registered models of ``name`` (one for a plain name); unknown parts are an error.

    Example:
        >>> chain_parts("kind+denoiser")
        ['kind', 'denoiser']
    """
    parts = [part.strip() for part in name.split(CHAIN)]
    if any(not part for part in parts):
        raise NightvidError(f"a chain names models joined by '{CHAIN}' (kind+denoiser), got {name!r}")
    for part in parts:
        get_info(part)
    return parts
