"""The image-in/image-out wrapper around a registered net, and chains of them.

``Enhancer`` turns any registered net (the contract in ``nets.registry``) into the one
contract engines and the streamer rely on: sRGB in [0, 1], any H and W, same shape out.
``build_enhancer`` makes one by name, with its weights and exposure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from nightvid.errors import NightvidError
from nightvid.nets.colour import dim_to_mean_luma, mix_input_colour, neutral_black
from nightvid.nets.deblock import deblock_dark
from nightvid.nets.exposure import (
    AUTO,
    DEFAULT,
    LIT,
    auto_exposure_target,
    exposure_curve,
    hold_lamp_lit,
    parse_exposure,
)
from nightvid.nets.registry import CHAIN, build, chain_parts, get_info, net_contract
from nightvid.nets.weights import load_weights, shipped_weights

__all__ = ["Chain", "Enhancer", "as_shipped", "build_enhancer"]


class Enhancer(nn.Module):
    """Any registered net as ``(B, 3, H, W)`` sRGB in [0, 1] -> same shape, any H and W.

    Pads H and W up to the net's ``size_multiple`` (replicate) and crops back, maps
    [0, 1] to the net's input range and back, keeps the first output of nets that return
    several, and clamps to [0, 1]. ``input_colour`` (0-1) takes that share of the
    result's colour from the input (``nets.colour.mix_input_colour``); ``exposure`` (a
    mean luma in (0, 1)) then passes it through :func:`exposure_curve`. ``brightest_input``
    (a mean luma) dims brighter inputs to it before the net (``nets.colour.dim_to_mean_luma``);
    the colour mix and the exposure target still look at the input as it came.
    ``neutral_black`` first takes the camera's magenta black floor off the input
    (``nets.colour.neutral_black``), and ``deblock_dark`` then smooths the codec's blocks
    out of its dark parts (``nets.deblock.deblock_dark``), for the net and the colour mix
    alike. Written without
    data-dependent control flow so that it exports with dynamic batch, height and width.

    Shape:
        input ``(B, 3, H, W)`` float; output ``(B, 3, H, W)`` same dtype.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        exposure: float | str | None = None,
        input_colour: float = 0.0,
        brightest_input: float | None = None,
        neutral_black: bool = False,
        deblock_dark: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.input_colour = float(input_colour)
        self.brightest_input = brightest_input
        self.neutral_black = neutral_black
        self.deblock_dark = deblock_dark
        contract = net_contract(net)
        self.lo, self.hi = contract.input_range
        self.multiple = contract.size_multiple
        self.exposure = exposure
        #: How it was built (builder options, exposure): part of an engine's cache key.
        self.options = dict(options or {})

    def forward(self, x: Tensor) -> Tensor:
        if self.neutral_black:
            x = neutral_black(x)
        if self.deblock_dark:
            x = deblock_dark(x)
        source = x
        height, width = x.shape[-2], x.shape[-1]
        if self.brightest_input is not None:
            x = dim_to_mean_luma(x, self.brightest_input)
        if self.multiple > 1:
            # Pad to m * ceil(size / m) and crop back with a negative pad: written so, an
            # exporter sees padded sizes that are visibly multiples of m and a crop that
            # is exactly (H, W). `(m - h % m) % m` and `y[..., :h, :w]` make it guard on
            # the example's H and W, and dynamic-shape export fails.
            m = self.multiple
            pad_h = (height + m - 1) // m * m - height
            pad_w = (width + m - 1) // m * m - width
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        if (self.lo, self.hi) != (0.0, 1.0):
            x = x * (self.hi - self.lo) + self.lo
        y = self.net(x)
        if isinstance(y, (tuple, list)):
            y = y[0]
        if (self.lo, self.hi) != (0.0, 1.0):
            y = (y - self.lo) / (self.hi - self.lo)
        if self.multiple > 1:
            y = F.pad(y, (0, -pad_w, 0, -pad_h))
        return self.finish(source, y.clamp(0.0, 1.0))

    def finish(self, source: Tensor, y: Tensor) -> Tensor:
        """What follows the net: the input-colour mix, then the exposure curve. Shared with
        engines that run the net another way (``engines.fused``), so the two cannot drift."""
        if self.input_colour:
            y = mix_input_colour(source, y, self.input_colour)
        if self.exposure == AUTO:
            y = exposure_curve(y, auto_exposure_target(source))
        elif self.exposure == LIT:
            y = hold_lamp_lit(source, y)
        elif self.exposure is not None:
            y = exposure_curve(y, float(self.exposure))
        return y


class Chain(nn.Module):
    """Enhancers run in turn as one module, so one engine and one pass hold them all.

    ``nets.build_enhancer("kind+denoiser")`` is ``Chain([KinD, denoiser])``: the
    denoiser sees KinD's brightened output, whose noise it was made for. Each stage is
    an :class:`Enhancer` (sRGB [0, 1] in and out), so any two registered nets chain.
    """

    def __init__(self, stages: list[Enhancer]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.options = {f"{i}:{type(stage.net).__name__}": stage.options for i, stage in enumerate(stages)}

    def forward(self, x: Tensor) -> Tensor:
        for stage in self.stages:
            x = stage(x)
        return x


def build_enhancer(
    name: str,
    *,
    weights: Path | str | None = "default",
    exposure: float | str | None = DEFAULT,
    input_colour: float | None = None,
    deblock: bool | None = None,
    **options: Any,
) -> Enhancer | Chain:
    """A net in eval mode, wrapped as an ``Enhancer`` (a ``Chain`` of them for ``a+b``).

    ``weights="default"`` loads the shipped file and fails if there is none; ``None``
    keeps the random initialisation (tests, benchmarks of speed only). ``exposure``
    (``parse_exposure``: "default" is the registry's choice for the net, ``NetInfo.default_exposure``;
    "auto" picks the result's mean luma from the input's, see ``AUTO_EXPOSURE``; a number
    in (0, 1) is that mean luma; None is what the net makes of it) sets the Enhancer's
    tone curve; in a chain, its first model's. A chain takes its models'
    shipped weights (or random ones with ``weights=None``), not one file.
    ``input_colour``: the share of colour taken from the input (None = the registry's
    measured default for the net, ``NetInfo.input_colour``). ``deblock``: smooth the codec's
    blocks out of the input's dark parts first (None = the registry's ``NetInfo.deblock_dark``;
    False is faster, and lets the fused NoiSER kernel read 8-bit frames directly).
    """
    exposure = parse_exposure(exposure)
    if CHAIN in name:
        parts = chain_parts(name)
        if weights not in ("default", None):
            raise NightvidError(f"--weights takes one model's file; the chain {name} uses each model's shipped weights")
        if options:
            raise NightvidError(f"options {sorted(options)} apply to one model, not to the chain {name}")
        return Chain(
            [
                _build_one(
                    part, weights=weights, exposure=exposure if i == 0 else None, deblock=deblock if i == 0 else False
                )
                for i, part in enumerate(parts)
            ]
        ).eval()
    return _build_one(name, weights=weights, exposure=exposure, input_colour=input_colour, deblock=deblock, **options)


def _build_one(
    name: str,
    *,
    weights: Path | str | None,
    exposure: float | str | None,
    input_colour: float | None = None,
    deblock: bool | None = None,
    **options: Any,
) -> Enhancer:
    net = build(name, **options)
    if weights == "default":
        path = shipped_weights(name)
        if path is None:
            raise NightvidError(
                f"model {name!r} has no shipped weights; train some with "
                f"`nightvid train {name}` and pass --weights FILE"
            )
        weights = path
    if weights is not None:
        load_weights(net, weights, name=name)
    return as_shipped(net, name, exposure=exposure, input_colour=input_colour, deblock=deblock, options=options).eval()


def as_shipped(
    net: nn.Module,
    name: str,
    *,
    exposure: float | str | None = DEFAULT,
    input_colour: float | None = None,
    deblock: bool | None = None,
    options: dict[str, Any] | None = None,
) -> Enhancer:
    """``net`` (a registered net of model ``name``) inside the steps the registry gives the
    model by default: colour share, brightest input, black floor, dark deblocking, exposure.

    Why: a trainer that scores or trains through this sees what ``nightvid eval`` and
    ``enhance`` run, not the bare net (KinD's restoration scored bare picked weights
    that lost 2 dB on SICE eval). Keeps ``net``'s train/eval mode and gradients.
    """
    exposure = parse_exposure(exposure)
    if exposure == DEFAULT:
        exposure = get_info(name).default_exposure
    info = get_info(name)
    share = info.input_colour if input_colour is None else input_colour
    smooth = info.deblock_dark if deblock is None else deblock
    built = {
        **(options or {}),
        "exposure": exposure,
        "input_colour": share,
        "brightest_input": info.brightest_input,
        "neutral_black": info.neutral_black,
        "deblock_dark": smooth,
    }
    return Enhancer(
        net,
        exposure=exposure,
        input_colour=share,
        brightest_input=info.brightest_input,
        neutral_black=info.neutral_black,
        deblock_dark=smooth,
        options=built,
    )
