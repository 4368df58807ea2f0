"""LEDNet recipe: L1 + perceptual on the output, plus 0.8 x the same on the 1/8 side output.

Zhou, Li, Loy, "LEDNet: Joint Low-light Enhancement and Deblurring in the Dark",
ECCV 2022, https://arxiv.org/abs/2202.03373; options of the official
``options/train_LEDNet.yml``: L1 weight 1, VGG-19 perceptual loss (``conv1_2``,
``conv2_2``, ``conv3_4``, ``conv4_4``, L1 criterion) weight 0.01, side-output loss
weight 0.8 against the ground truth downsampled by 8 (bilinear, antialiased), Adam
1e-4 betas (0.9, 0.99), batch 8, 256 px patches, 500k steps (cosine decay here).

The perceptual loss needs VGG-19 weights, which are not shipped and cannot be
downloaded here: pass a torchvision-layout file as ``vgg19``. **Without one the
recipe uses no perceptual loss.** A randomly initialised VGG would not be perceptual,
so it is not faked; the stand-in is an *edge loss*, L1 between the horizontal and
vertical image gradients of prediction and target (weight ``edge_weight``), on the
output and the side output alike. Like the perceptual term it penalises blurred or
missing structure that per-pixel L1 forgives, which matters for a deblurring net, and
it costs almost nothing on a CPU. The substitute is logged and written into the model
card (``loss``).

Data: a paired folder (``find_pairs`` layouts: low/high, LOL, LOL-Blur), or a folder
of clean photos turned into synthetic dark, noisy, optionally blurred inputs
(``SyntheticLowLight``; ``blur_prob`` sets how often motion blur is added). With
``synthetic`` set as well, real pairs and synthetic pairs from that photo folder are
mixed (``synthetic_share`` of the items synthetic), so the net learns real exposures
and tone from the pairs and night video's noise, lamp casts and codec blocks from the
synthesis (``degradation="night_video"``: ``LowLightConfig.night_video``).

Structure: ``ssim_weight`` adds ``1 - SSIM`` of the output (as KinD's restoration loss
does), which scores what a pixel loss averages away: local contrast and noise.

Colour: ``colour_weight`` adds ``colour_angle_loss`` (1 - cos of the RGB angle) on the
output, which pushes against the grey, desaturated output that L1 alone settles on.
``cpu_bf16`` trains under bfloat16 autocast on CPUs with native bf16 (1.75x per step on
an AVX512-BF16/AMX Xeon; docs/BENCHMARKS.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nightvid import nets
from nightvid.errors import NightvidError
from nightvid.trainers.common import fit_and_finish, hold_out, hold_out_scenes, recipe_dict, seeded_net, split_files
from nightvid.trainers.data import (
    Augment,
    MixedPairs,
    PairedImages,
    SyntheticLowLight,
    detect_layout,
    find_pairs,
    held_out,
    jitter_inputs,
    list_images,
    mix_well_exposed,
    pair_batches,
    val_augment,
)
from nightvid.trainers.degrade import LowLightConfig
from nightvid.trainers.loop import LoopConfig, cosine_schedule
from nightvid.trainers.losses import at_reference_brightness, colour_angle_loss, l1_loss
from nightvid.trainers.metrics import ssim
from nightvid.trainers.perceptual import LEDNET_LAYERS, PerceptualLoss

__all__ = ["LEDNetRecipe", "edge_loss", "lednet_datasets", "lednet_loss", "train_lednet"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LEDNetRecipe:
    """Everything that decides the trained LEDNet weights."""

    seed: int = 0
    iters: int = 500_000
    batch: int = 8
    patch: int = 256
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    lr_min_ratio: float = 0.01
    warmup: int = 0
    l1_weight: float = 1.0
    perceptual_weight: float = 0.01
    side_weight: float = 0.8
    #: torchvision-layout VGG-19 weights for the perceptual loss; None = edge loss instead.
    vgg19: str | None = None
    #: Weight of the edge loss that stands in for the perceptual loss without ``vgg19``.
    edge_weight: float = 0.5
    #: Synthetic pairs (clean-photo folders): chance of motion blur per image.
    blur_prob: float = 0.5
    #: Held-out pairs/photos (last in sorted order), cropped to this size, and how often to score them.
    val_images: int = 4
    val_crop: int | None = 256
    validate_every: int = 5000
    grad_clip: float | None = None
    threads: int | None = None
    #: Exponential moving average of the weights, decay per step (``LoopConfig.ema``; 0 = off):
    #: what is validated and exported, steadier than one step's weights.
    ema: float = 0.0
    #: LEDNet weights to start from (fine-tuning: a second phase, or your own data); None = random init.
    init: str | None = None
    #: Weight of the colour-angle loss on the output (0 = none, as in the paper).
    colour_weight: float = 0.0
    #: Weight of ``1 - SSIM`` on the output (0 = none, as in the paper; KinD's restoration loss has it).
    ssim_weight: float = 0.0
    #: A folder of clean photos whose synthetic pairs are mixed into paired ``data``; None = real pairs only.
    synthetic: str | None = None
    #: Share of synthetic items in an epoch when ``synthetic`` is set.
    synthetic_share: float = 0.5
    #: Degradations of synthetic pairs: "night_video" (casts, per-channel noise, H.264) or "basic".
    degradation: str = "basic"
    #: bfloat16 autocast on a CPU with native bf16 (AVX512-BF16/AMX); no effect elsewhere.
    cpu_bf16: bool = False
    #: Paired data: share of items that are the training references themselves, dimmed
    #: at most to half their linear light (``data.WellExposed``), so the net leaves
    #: well-exposed pictures and regions (a sky) alone; 0 = under-exposed pairs only.
    bright_share: float = 0.0
    #: Paired data: random exposure, white balance and gamma of the real pairs' inputs
    #: (``data.JitteredInput``; 0 = none), so other cameras than the dataset's are met.
    input_jitter: float = 0.0
    #: What the full-size output is scored as (``OBJECTIVES``): ``image`` (the paper's: the
    #: net's output against the reference) or ``output`` (the whole pipeline as shipped,
    #: colour share and dark deblocking included, brought to the reference's mean luma,
    #: since the shipped brightness is set after the net by ``--exposure``).
    objective: str = "image"
    #: Score validation as ``nightvid eval`` does (``nets.as_shipped``) instead of the bare net.
    val_as_shipped: bool = False
    #: Paired data: hold out whole scenes (``common.hold_out_scenes``), not the last pairs alone.
    val_scenes: bool = False

    @classmethod
    def cpu_reduced(cls, **overrides: Any) -> LEDNetRecipe:
        """Phase 1 of the shipped weights, 91 minutes on a 2-core CPU (partly shared with
        other jobs): 96 px patches, batch 4, 1800 steps, Adam 4e-4 with 50 warm-up steps
        and cosine decay, gradient clipping at 1, validation on the 4 held-out pairs at
        full size every 100 steps. Phase 2 fine-tunes from it (``init``); docs/MODELS.md
        ("Reproducing the shipped weights") and ``weights/lednet.json`` give both commands."""
        base = cls(iters=1800, batch=4, patch=96, lr=4e-4, warmup=50, val_crop=None, validate_every=100, grad_clip=1.0)
        return replace(base, **overrides)


def edge_loss(pred: Tensor, target: Tensor) -> Tensor:
    """L1 between the forward differences of ``pred`` and ``target`` along x and y.

    Shape:
        ``(B, C, H, W)`` both, H and W >= 2; output a scalar.

    Example:
        >>> edge_loss(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8))  # same edges, other level
        tensor(0.)
    """
    dx = l1_loss(pred[..., :, 1:] - pred[..., :, :-1], target[..., :, 1:] - target[..., :, :-1])
    dy = l1_loss(pred[..., 1:, :] - pred[..., :-1, :], target[..., 1:, :] - target[..., :-1, :])
    return dx + dy


def _down8(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=0.125, mode="bilinear", align_corners=False, antialias=True)


#: ``LEDNetRecipe.objective``: what the full-size output is scored as.
OBJECTIVES = ("image", "output")


class _KeepSide(nn.Module):
    """LEDNet as the ``Enhancer`` calls it (one image out), keeping the 1/8 side output of
    the last call for the loss (``objective="output"``)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.input_range, self.size_multiple = net.input_range, net.size_multiple
        self.side = torch.empty(0)

    def forward(self, x: Tensor) -> Tensor:
        image, self.side = self.net(x, side_output=True)
        return image


def lednet_loss(
    model: nn.Module,
    batch: tuple[Tensor, Tensor],
    *,
    recipe: LEDNetRecipe,
    perceptual: Callable[[Tensor, Tensor], Tensor] | None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``term(out, gt) + side_weight * term(side, down8(gt))``, ``term = l1 + perceptual`` (or edge).

    The net works in ``model.input_range``; pairs arrive in [0, 1] and are mapped.
    """
    low, high = batch
    lo, hi = cast(tuple[float, float], model.input_range)
    if recipe.objective == "output":
        with_side = _KeepSide(model)
        image = nets.as_shipped(with_side, "lednet", exposure=None)(low)
        image = at_reference_brightness(image, high)
        side = (with_side.side - lo) / (hi - lo)
    else:
        image, side = model(low * (hi - lo) + lo, side_output=True)
        image, side = (image - lo) / (hi - lo), (side - lo) / (hi - lo)
    small = _down8(high)
    terms: dict[str, Tensor] = {}
    total: Tensor | float = 0.0
    for name, pred, target, weight in (("out", image, high, 1.0), ("side", side, small, recipe.side_weight)):
        l1 = l1_loss(pred, target)
        if perceptual is not None:
            extra = recipe.perceptual_weight * perceptual(pred.clamp(0, 1), target)
            terms[f"perceptual_{name}"] = extra.detach()
        else:
            extra = recipe.edge_weight * edge_loss(pred, target)
            terms[f"edge_{name}"] = extra.detach()
        terms[f"l1_{name}"] = l1.detach()
        total = total + weight * (recipe.l1_weight * l1 + extra)
    if recipe.colour_weight:
        colour = colour_angle_loss(image, high)
        terms["colour_out"] = colour.detach()
        total = total + recipe.colour_weight * colour
    if recipe.ssim_weight:
        dssim = 1.0 - ssim(image.clamp(0, 1), high).mean().to(image.dtype)
        terms["dssim_out"] = dssim.detach()
        total = total + recipe.ssim_weight * dssim
    return cast(Tensor, total), terms


DEGRADATIONS: dict[str, Callable[..., LowLightConfig]] = {
    "basic": LowLightConfig,
    "night_video": LowLightConfig.night_video,
}


def _low_light_config(recipe: LEDNetRecipe) -> LowLightConfig:
    if recipe.degradation not in DEGRADATIONS:
        raise NightvidError(f"degradation must be one of {', '.join(DEGRADATIONS)}, got {recipe.degradation!r}")
    return DEGRADATIONS[recipe.degradation](blur_prob=recipe.blur_prob)


def lednet_datasets(recipe: LEDNetRecipe, data: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The recipe's training set, validation set and their description for the card, from ``data``."""
    crop, val_crop = Augment(crop=recipe.patch), val_augment(recipe.val_crop)
    config = _low_light_config(recipe)
    try:
        detect_layout(data, split="train")
        paired = True
    except NightvidError:
        paired = False
    if paired:
        # a split folder itself, or its train split
        split_pairs = hold_out_scenes if recipe.val_scenes else hold_out
        train_pairs, val_pairs = split_pairs(find_pairs(data, split="train"), held=recipe.val_images, what="pair(s)")
        real = jitter_inputs(PairedImages(train_pairs, augment=crop), recipe.input_jitter)
        described = {
            "folder": str(data),
            "kind": "real pairs",
            "train_pairs": len(train_pairs),
            "val": [p.name for p, _ in val_pairs],
        }
        train_set: Any = real
        if recipe.synthetic is not None:
            photos = list_images(recipe.synthetic)
            train_set = MixedPairs(
                real, SyntheticLowLight(photos, config=config, augment=crop), synthetic_share=recipe.synthetic_share
            )
            described.update(
                kind="real pairs mixed with synthetic low light",
                synthetic=str(recipe.synthetic),
                synthetic_images=len(photos),
                synthetic_share=recipe.synthetic_share,
                degradation=repr(config),
            )
        train_set = mix_well_exposed(train_set, [high for _, high in train_pairs], recipe.bright_share, crop)
        if recipe.bright_share > 0:
            described.update(bright_share=recipe.bright_share, bright="the train references, dimmed x0.5-1")
        if recipe.input_jitter > 0:
            described.update(input_jitter=recipe.input_jitter)
        return train_set, PairedImages(val_pairs, augment=val_crop), described
    train_files, val_files = split_files(list_images(data), held=recipe.val_images)
    return (
        SyntheticLowLight(train_files, config=config, augment=crop),
        SyntheticLowLight(val_files, config=config, augment=val_crop),
        {
            "folder": str(data),
            "kind": "synthetic low light from clean photos",
            "degradation": repr(config),
            "train_images": len(train_files),
            "val": [p.name for p in val_files],
        },
    )


def train_lednet(
    recipe: LEDNetRecipe,
    data: Path | str,
    out_dir: Path | str,
    *,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    device: str = "cpu",
    checkpoint_every: int = 50,
    log_every: int = 10,
) -> Path:
    """Train LEDNet (input range [0, 1]) on ``data``; return ``out_dir/best.safetensors``."""
    from nightvid.trainers.metrics import scored_as, validator

    out_dir, data = Path(out_dir), Path(data)
    if recipe.patch % 8:
        raise NightvidError(f"LEDNet patches must be multiples of 8, got {recipe.patch}")
    if recipe.vgg19 is not None and recipe.patch < 64:
        # conv4_4 sits after three 2x poolings: the 1/8 side output needs at least 8 px.
        raise NightvidError(
            f"with --vgg19 the patch must be at least 64 px (the 1/8 side output goes "
            f"through VGG-19 up to conv4_4), got {recipe.patch}"
        )
    if recipe.objective not in OBJECTIVES:
        raise NightvidError(f"objective must be one of {', '.join(OBJECTIVES)}, got {recipe.objective!r}")
    train_set, val_set, described = lednet_datasets(recipe, data)
    wrap = scored_as("lednet", shipped=recipe.val_as_shipped)
    validate = validator(held_out(val_set, seed=recipe.seed), device=device, wrap=wrap)
    if recipe.vgg19 is not None:
        perceptual: Callable | None = PerceptualLoss(recipe.vgg19).to(device)
        loss_note = (
            f"L1 + {recipe.perceptual_weight} x VGG-19 perceptual ({', '.join(LEDNET_LAYERS)}; "
            f"weights {recipe.vgg19}), + {recipe.side_weight} x the same on the 1/8 side output"
        )
    else:
        perceptual = None
        loss_note = (
            f"L1 + {recipe.edge_weight} x edge loss (L1 of image gradients) INSTEAD of the paper's "
            f"VGG-19 perceptual loss (no --vgg19 weights given; a random VGG is not perceptual), "
            f"+ {recipe.side_weight} x the same on the 1/8 side output"
        )
        log.warning(
            "LEDNet: no VGG-19 weights given, so no perceptual loss; using an edge loss "
            "(L1 of image gradients, weight %s) in its place",
            recipe.edge_weight,
        )

    model = seeded_net("lednet", recipe.seed, init=recipe.init)

    def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Mapping[str, Tensor]]:
        return lednet_loss(net, batch, recipe=recipe, perceptual=perceptual)

    return fit_and_finish(
        model,
        loss_fn,
        pair_batches(train_set, batch_size=recipe.batch, seed=recipe.seed),
        LoopConfig.from_recipe(recipe, checkpoint_every=checkpoint_every, log_every=log_every, device=device),
        out_dir=out_dir,
        model_name="lednet",
        recipe=recipe,
        run={"recipe": recipe_dict(recipe), "data": str(data)},
        data=described,
        make_optimizer=lambda params: torch.optim.Adam(params, lr=recipe.lr, betas=recipe.betas),
        make_scheduler=cosine_schedule(recipe.iters, warmup=recipe.warmup, min_ratio=recipe.lr_min_ratio),
        validate=validate,
        resume=resume,
        on_log=on_log,
        extra={"loss": loss_note},
    )
