"""The exposure after the net: what ``--exposure`` accepts and the tone curve that meets it.

``auto`` aims the result's mean luma at one chosen from the input's (``AUTO_EXPOSURE``),
held down in a lamp-lit scene (``LIT_SCENE``); ``lit`` keeps the net's own brightness
except in such a scene; a number is the mean luma itself. :func:`exposure_curve` brings
an image to a target; ``nets.Enhancer`` runs it after the net.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nightvid.errors import NightvidError
from nightvid.nets.colour import luma

__all__ = [
    "AUTO",
    "AUTO_EXPOSURE",
    "DEFAULT",
    "LIT",
    "LIT_SCENE",
    "auto_exposure_target",
    "check_exposure",
    "exposure_curve",
    "hold_lamp_lit",
    "lamp_lit_share",
    "parse_exposure",
]

#: ``exposure="auto"``: from the input's brightness (``AUTO_EXPOSURE``).
AUTO = "auto"
#: ``exposure="lit"``: the net's own brightness, held down in a lamp-lit scene as ``auto``
#: holds it (``LIT_SCENE``); elsewhere exactly the net's own.
LIT = "lit"
#: ``exposure="default"``: the registry's choice for the net (``NetInfo.default_exposure``).
DEFAULT = "default"
REC709_WEIGHTS = (0.2126, 0.7152, 0.0722)


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


def exposure_curve(image: Tensor, target: float | Tensor, eps: float = 1e-3, steps: int = 4) -> Tensor:
    """Each image's Rec. 709 luma through ``Y ** p``, colour kept, ``p`` chosen so its mean luma becomes ``target``.

    A power curve keeps black at black and white at white and moves the mid-tones, as a
    camera's exposure-compensation dial seems to. It moves the luma ``Y`` only, and each
    pixel's R, G and B are scaled by the same ``Y ** p / Y``, as a gain would: a power
    curve per channel squeezes the channels together and greys the colour out (LEDNet's
    colourfulness on the bundled clip fell to 0.73x a gain's). On SICE, luma-only scored
    better for every model (31 train pairs, ``exposure="auto"``: KinD 19.14 / 0.709 ->
    19.67 / 0.714, LEDNet 19.80 / 0.690 -> 19.88 / 0.694; eval: KinD 19.22 / 0.763 ->
    19.96 / 0.772). ``p`` starts at ``log(target) / log(mean luma)`` (exact for a flat
    image) and takes ``steps - 1`` Newton steps on ``log(mean(Y ** p)) = log(target)``;
    clamped to [1/8, 8]. The earlier fixed-point refinement (``p *= log(target) /
    log(mean)``, 3 steps) converged slowly where the target is far below a contrasty
    frame's own mean (a lamp-lit scene held down by ``auto``): the highway CCTV clip landed
    3.4 levels of 255 above its target through LEDNet, 11 through a more contrasty LEDNet.
    Channels pushed past white clip there. Written without data-dependent control flow so
    it exports.

    Shape:
        ``(B, 3, H, W)`` in [0, 1] -> same.

    Example:
        >>> exposure_curve(torch.full((1, 3, 2, 2), 0.25), 0.5).flatten()[0]
        tensor(0.5000)
    """
    image = image.clamp(0.0, 1.0)
    weights = image.new_tensor(REC709_WEIGHTS).view(1, 3, 1, 1)
    level = (image * weights).sum(dim=1, keepdim=True).clamp(eps * eps, 1.0)
    log_level = level.log()
    log_target = torch.as_tensor(target, dtype=image.dtype, device=image.device).clamp(eps, 1 - eps).log()
    mean = level.mean(dim=(1, 2, 3), keepdim=True).clamp(eps, 1 - eps)
    power = (log_target / mean.log()).clamp(0.125, 8.0)  # exact for a flat image
    for _ in range(steps - 1):  # Newton on log(mean(Y ** p)) = log(target), convex in p
        curved = (power * log_level).exp()
        mean = curved.mean(dim=(1, 2, 3), keepdim=True).clamp_min(eps * eps)
        slope = (curved * log_level).mean(dim=(1, 2, 3), keepdim=True) / mean  # < 0: brighter as p falls
        power = (power - (mean.log() - log_target) / slope.clamp_max(-1e-4)).clamp(0.125, 8.0)
    return (image * level.pow(power - 1.0)).clamp(0.0, 1.0)


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
