"""The net registry, the image-in/image-out wrapper and weight loading.

Every registered builder returns an ``nn.Module`` with two plain attributes:

- ``input_range``: ``(lo, hi)``, the value range its forward expects and returns
  ((0, 1) or (-1, 1));
- ``size_multiple``: H and W must be multiples of it (1 = any size).

Its ``forward(x)`` takes a float ``(B, 3, H, W)`` RGB batch in ``input_range`` and returns
either that image or a tuple/NamedTuple whose first element is the image. ``Enhancer``
turns any such net into the one contract engines and the streamer rely on: sRGB in
[0, 1], any H and W, same shape out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import Tensor, nn

from nightvid.errors import NightvidError
from nightvid.files import CARD_FILE
from nightvid.nets.colour import dim_to_mean_luma, luma, mix_input_colour, neutral_black
from nightvid.nets.deblock import deblock_dark

__all__ = [
    "CHAIN",
    "Chain",
    "Enhancer",
    "NetContract",
    "NetInfo",
    "PaddingMode",
    "WEIGHTS_DIR",
    "build",
    "build_enhancer",
    "chain_parts",
    "AUTO",
    "DEFAULT",
    "LIT",
    "AUTO_EXPOSURE",
    "SICE_BRIGHTEST_INPUT",
    "auto_exposure_target",
    "lamp_lit_share",
    "check_exposure",
    "exposure_curve",
    "flush_denormals",
    "get_info",
    "hold_lamp_lit",
    "list_nets",
    "load_weights",
    "net_contract",
    "param_count",
    "parse_exposure",
    "read_model_card",
    "read_weights",
    "register_net",
    "shipped_weights",
]

#: ``nn.Conv2d``'s border modes.
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]

#: ``exposure="auto"``: from the input's brightness (``AUTO_EXPOSURE``).
AUTO = "auto"
#: ``exposure="lit"``: the net's own brightness, held down in a lamp-lit scene as ``auto``
#: holds it (``LIT_SCENE``); elsewhere exactly the net's own.
LIT = "lit"
#: ``exposure="default"``: the registry's choice for the net (``NetInfo.default_exposure``).
DEFAULT = "default"
REC709_WEIGHTS = (0.2126, 0.7152, 0.0722)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


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


#: ``exposure="auto"``: the result's mean luma from the input's ``m`` as
#: ``max(min(GAIN * m ** POWER, CAP), m)``: a darker scene stays darker (a night dashcam
#: frame, m = 0.024, to 0.27; a phone at night, 0.016, to 0.23), an under-exposed day
#: scene goes to CAP (SICE's low images, m = 0.016-0.16, whose references average 0.47),
#: and a frame already brighter than CAP keeps its own mean. Chosen on 33 SICE *train*
#: pairs against a fixed target and the models' own brightness (docs/BENCHMARKS.md)
#: and by looking at the night clips: a fixed 0.38 turned the dashcam into grey fog.
#: The default for KinD and LEDNet (``NetInfo.default_exposure``); see docs/BENCHMARKS.md.
AUTO_EXPOSURE = (1.2, 0.4, 0.45)


#: ``exposure="auto"`` in a lamp-lit scene: ``(WHITE, START, FULL, GAIN, FLOOR)``. Where a
#: share of the input's pixels at luma >= WHITE (street lamps, headlights burnt to white)
#: grows from START to FULL, the target is held, more and more, to at most
#: ``max(GAIN * m, FLOOR)``. A camera that exposed for its lamps filmed a night scene:
#: lifting a moderately dark one (a highway CCTV frame, m = 0.13) to CAP turned its sky
#: into lavender-grey fog, and twice its mean (0.25) looks like night. None of the 13
#: SICE eval inputs and 4 of the 31 train inputs reach START; very dark clips (dashcam,
#: phone) keep their target, which is already under FLOOR.
LIT_SCENE = (0.95, 0.001, 0.004, 2.0, 0.25)


def _level_and_mean(image: Tensor) -> tuple[Tensor, Tensor]:
    """Luma ``(B, H, W)`` of ``image`` clamped to [0, 1], and its mean per image ``(B, 1, 1, 1)``."""
    level = luma(image.clamp(0.0, 1.0))[:, 0]
    return level, level.mean(dim=(1, 2)).view(-1, 1, 1, 1)


def _lamp_hold(level: Tensor, mean: Tensor) -> tuple[Tensor, Tensor]:
    """``lamp_lit_share`` from a luma and its (floored) mean, so ``auto`` computes them once."""
    white, start, full, lit_gain, floor = LIT_SCENE
    lit = ((level >= white).to(level.dtype).mean(dim=(1, 2)).view(-1, 1, 1, 1) - start) / (full - start)
    return lit.clamp(0.0, 1.0), torch.clamp(lit_gain * mean, min=floor)


def lamp_lit_share(source: Tensor) -> tuple[Tensor, Tensor]:
    """Per image, how lamp-lit (0-1, ``LIT_SCENE``) and the brightness a lamp-lit scene is held
    to, ``max(GAIN * m, FLOOR)``: both ``(B, 1, 1, 1)``."""
    level, mean = _level_and_mean(source)
    return _lamp_hold(level, mean.clamp(1e-4, 1.0))


def auto_exposure_target(source: Tensor) -> Tensor:
    """Per image, the mean luma ``exposure="auto"`` aims at (``AUTO_EXPOSURE``, ``LIT_SCENE``): ``(B, 1, 1, 1)``."""
    gain, power, cap = AUTO_EXPOSURE
    level, mean = _level_and_mean(source)
    mean = mean.clamp(1e-4, 1.0)
    target = torch.maximum(torch.minimum(gain * mean.pow(power), mean.new_tensor(cap)), mean)
    lit, held = _lamp_hold(level, mean)
    return torch.lerp(target, torch.minimum(target, held), lit)


def hold_lamp_lit(source: Tensor, image: Tensor) -> Tensor:
    """``exposure="lit"``: ``image`` as it is, except where ``source`` is a lamp-lit scene:
    there its mean luma is brought down toward the held brightness (``lamp_lit_share``),
    fully from ``LIT_SCENE``'s FULL share of burnt-white pixels. Never brightens. Why:
    NoiSER's own brightness scores best on SICE and suits dark clips, but lifted the
    highway CCTV clip (m = 0.13, about 1% lamps) to mean luma 0.42, a lavender fog."""
    lit, held = lamp_lit_share(source)
    own_mean = _level_and_mean(image)[1]
    target = torch.lerp(own_mean, torch.minimum(own_mean, held), lit)
    return torch.where(lit > 0, exposure_curve(image, target), image)


def exposure_curve(image: Tensor, target: float | Tensor, eps: float = 1e-3, steps: int = 3) -> Tensor:
    """Each image's Rec. 709 luma through ``Y ** p``, colour kept, ``p`` chosen so its mean luma becomes ``target``.

    A power curve keeps black at black and white at white and moves the mid-tones, as a
    camera's exposure-compensation dial seems to. It moves the luma ``Y`` only, and each
    pixel's R, G and B are scaled by the same ``Y ** p / Y``, as a gain would: a power
    curve per channel squeezes the channels together and greys the colour out (LEDNet's
    colourfulness on the bundled clip fell to 0.73x a gain's). On SICE, luma-only scored
    better for every model (31 train pairs, ``exposure="auto"``: KinD 19.14 / 0.709 ->
    19.67 / 0.714, LEDNet 19.80 / 0.690 -> 19.88 / 0.694; eval: KinD 19.22 / 0.763 ->
    19.96 / 0.772). ``p`` starts at ``log(target) / log(mean luma)`` (exact for a flat
    image) and is refined ``steps - 1`` times the same way on the curved luma, which brings
    a contrasty frame within a few hundredths; clamped to [1/8, 8]. Channels pushed past
    white clip there. Written without data-dependent control flow so it exports.

    Shape:
        ``(B, 3, H, W)`` in [0, 1] -> same.

    Example:
        >>> exposure_curve(torch.full((1, 3, 2, 2), 0.25), 0.5).flatten()[0]
        tensor(0.5000)
    """
    image = image.clamp(0.0, 1.0)
    weights = image.new_tensor(REC709_WEIGHTS).view(1, 3, 1, 1)
    level = (image * weights).sum(dim=1, keepdim=True).clamp(eps * eps, 1.0)
    power = torch.ones(image.shape[0], 1, 1, 1, dtype=image.dtype, device=image.device)
    log_target = torch.as_tensor(target, dtype=image.dtype, device=image.device).clamp(eps, 1 - eps).log()
    for _ in range(steps):
        mean = level.pow(power).mean(dim=(1, 2, 3)).clamp(eps, 1 - eps).view(-1, 1, 1, 1)
        power = (power * log_target / mean.log()).clamp(0.125, 8.0)
    return (image * level.pow(power - 1.0)).clamp(0.0, 1.0)


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


def parse_exposure(exposure: float | str | None) -> float | str | None:
    """``--exposure``: ``"default"`` (the model's registered choice), ``"auto"``
    (``AUTO_EXPOSURE``), ``"none"``/None (the net's own brightness) or a mean luma strictly
    between 0 and 1; anything else is a NightvidError."""
    if exposure is None or exposure in (AUTO, DEFAULT, LIT):
        return exposure
    given = exposure
    if isinstance(exposure, str):
        if exposure.strip().lower() in ("none", "own"):
            return None
        try:
            exposure = float(exposure)
        except ValueError:
            exposure = math.nan
    if not 0.0 < exposure < 1.0:
        raise NightvidError(
            f"--exposure is default, auto, lit, none, or the output's mean luma between 0 and 1 (e.g. 0.35), "
            f"got {given!r}"
        )
    return float(exposure)


def check_exposure(exposure: float | str | None) -> None:
    """A NightvidError unless ``parse_exposure`` accepts ``exposure``."""
    parse_exposure(exposure)


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
    if exposure == DEFAULT:
        exposure = get_info(name).default_exposure
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
    info = get_info(name)
    share = info.input_colour if input_colour is None else input_colour
    smooth = info.deblock_dark if deblock is None else deblock
    built = {
        **options,
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
    ).eval()


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
