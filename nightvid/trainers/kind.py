"""KinD recipe: decomposition, then illumination adjustment and reflectance restoration.

Zhang, Zhang and Guo, "Kindling the Darkness: A Practical Low-light Image Enhancer",
ACM MM 2019, https://arxiv.org/abs/1905.04161; losses as in the official TensorFlow
code (``train_decomposition.py``, ``train_restoration_net.py``,
``train_illumination_adjustment.py``).

Every stage trains on low/high pairs of one scene, each its own net and optimiser:

1. decomposition (``DecomNet``), on both images of a pair:
   ``|R_l L_l - I_l|_1 + |R_h L_h - I_h|_1`` (reconstruction)
   ``+ 0.01 |R_l - R_h|_1`` (reflectance similarity)
   ``+ 0.15 (S(L_l, I_l) + S(L_h, I_h))`` (illumination smoothness: illumination
   gradients divided by max(image gradient, 0.01), so L is smooth except at edges)
   ``+ 0.2 M(L_l, L_h)`` (mutual consistency: ``g exp(-10 g)`` of the summed
   illumination gradients, per direction).
2. adjustment (``IlluminationAdjustNet``, decomposition frozen): from one illumination
   of a pair to the other, picked at random (brighten or darken), with the ratio map
   ``mean(L_target) / mean(L_source)``; loss MSE + gradient loss.
3. restoration (``RestorationNet``, decomposition frozen): ``(R_l, L_l)`` -> ``R_h``;
   loss MSE + gradient loss + (1 - SSIM).

(The paper trains restoration second; it and adjustment depend only on the
decomposition, so adjustment goes first here and restoration's validation can score the
whole KinD pipeline on held-out pairs: PSNR/SSIM of the enhanced image against the
high image, which picks ``best.safetensors``.)

Each stage runs ``loop.fit`` in its own subfolder (``decom/``, ``adjust/``,
``restoration/``) with its own checkpoint, so a killed run resumes in the stage it was
in; finished stages are skipped on resume. The three stage weights are assembled into
one ``KinD`` state dict, ``best.safetensors`` (restoration at its best validation
step), loadable with ``nightvid eval kind --weights``.

Defaults follow the official code (Adam 1e-4; decomposition and adjustment: batch 10,
48 px patches; restoration: batch 4, 384 px patches; step counts about its epoch counts
on LOL). ``KinDRecipe.cpu_reduced()`` is the run that fits a 2-core CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nightvid import nets
from nightvid.errors import NightvidError
from nightvid.files import save_weights
from nightvid.nets.kind import KinD
from nightvid.trainers import distributed
from nightvid.trainers.common import hold_out, hold_out_scenes, recipe_dict, seeded_net, write_run_card
from nightvid.trainers.data import (
    Augment,
    PairedImages,
    find_pairs,
    held_out,
    jitter_inputs,
    mix_well_exposed,
    pair_batches,
    val_augment,
)
from nightvid.trainers.loop import BEST_FILE, FitResult, LoopConfig, cosine_schedule, fit
from nightvid.trainers.losses import at_reference_brightness, l1_loss, mse_loss
from nightvid.trainers.metrics import scored_as, ssim, validator

__all__ = [
    "KinDRecipe",
    "StageRecipe",
    "adjust_loss",
    "decom_loss",
    "gradient_loss",
    "image_gradient",
    "mutual_consistency",
    "output_loss",
    "restoration_loss",
    "smoothness",
    "train_kind",
]

log = logging.getLogger(__name__)

STAGES = ("decom", "adjust", "restoration")
#: ``KinDRecipe.objective``: what the restoration stage learns to match.
RESTORATION_OBJECTIVES = ("reflectance", "output")


@dataclass(frozen=True)
class StageRecipe:
    """One stage's optimisation."""

    iters: int
    batch: int
    patch: int
    lr: float = 1e-4
    #: Cosine decay to ``lr * lr_min_ratio``.
    lr_min_ratio: float = 0.1


@dataclass(frozen=True)
class KinDRecipe:
    """Everything that decides the trained KinD weights."""

    seed: int = 0
    decom: StageRecipe = StageRecipe(iters=100_000, batch=10, patch=48)
    adjust: StageRecipe = StageRecipe(iters=100_000, batch=10, patch=48)
    restoration: StageRecipe = StageRecipe(iters=120_000, batch=4, patch=384)
    #: Decomposition loss weights (the paper's / official code's).
    similarity_weight: float = 0.01
    smoothness_weight: float = 0.15
    mutual_weight: float = 0.2
    #: Pairs held out of the training folder for validation, cropped to this size.
    val_pairs: int = 4
    val_crop: int | None = 256
    validate_every: int = 2000
    threads: int | None = None
    #: Exponential moving average of the weights, decay per step (``LoopConfig.ema``; 0 = off):
    #: what is validated and exported, steadier than one step's weights.
    ema: float = 0.0
    #: bfloat16 autocast on a CPU with native bf16 (AVX512-BF16/AMX): the restoration
    #: step 1.3-1.55x faster on this project's Xeon (docs/BENCHMARKS.md); no effect elsewhere.
    cpu_bf16: bool = False
    #: Whole-KinD weights to start from (a next phase, e.g. the shipped file); with it, a
    #: decomposition or adjustment stage of 0 steps keeps the stage as loaded.
    init: str | None = None
    #: Share of items that are the training references dimmed at most to half their
    #: light (``data.WellExposed``), so well-exposed photos and skies keep their colour.
    bright_share: float = 0.0
    #: Random exposure, white balance and gamma of the pairs' inputs (``data.JitteredInput``;
    #: 0 = none), in the restoration stage, so other cameras than the dataset's are met.
    input_jitter: float = 0.0
    #: What the restoration stage is trained to match (``RESTORATION_OBJECTIVES``):
    #: ``reflectance`` (the paper's: the high image's decomposed reflectance) or ``output``
    #: (the whole pipeline as shipped, brought to the reference's mean luma, against the
    #: reference image itself).
    objective: str = "reflectance"
    #: Score validation as ``nightvid eval`` does (``nets.as_shipped``: colour share, default
    #: exposure) instead of the bare net at its own brightness.
    val_as_shipped: bool = False
    #: Hold out whole scenes (``common.hold_out_scenes``) instead of the last pairs alone.
    val_scenes: bool = False

    @classmethod
    def cpu_reduced(cls, **overrides: Any) -> KinDRecipe:
        """About 15 minutes of a 2-core CPU shared with other jobs: decomposition 250
        steps (batch 8, 48 px), adjustment 150 (batch 8, 48 px), restoration 500 (batch 4,
        64 px); learning rates raised to 1e-3 / 1e-3 / 5e-4 so that a few hundred steps go
        somewhere; validation on 4 held-out 128 px crops every 100 restoration steps."""
        base = cls(
            decom=StageRecipe(iters=250, batch=8, patch=48, lr=1e-3),
            adjust=StageRecipe(iters=150, batch=8, patch=48, lr=1e-3),
            restoration=StageRecipe(iters=500, batch=4, patch=64, lr=5e-4),
            val_crop=128,
            validate_every=100,
        )
        return replace(base, **overrides)


# --------------------------------------------------------------------------- losses


def image_gradient(x: Tensor, direction: str) -> Tensor:
    """Forward difference along ``"x"`` or ``"y"``, zero at the last column/row (same shape).

    The official code's ``gradient`` (a 2x2 [[0, 0], [-1, 1]] filter) without the abs.
    """
    if direction == "x":
        return F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
    if direction == "y":
        return F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    raise ValueError(f"direction must be 'x' or 'y', got {direction!r}")


def _gray(rgb: Tensor) -> Tensor:
    weights = rgb.new_tensor([0.2989, 0.5870, 0.1140]).view(1, 3, 1, 1)  # tf rgb_to_grayscale
    return (rgb * weights).sum(dim=1, keepdim=True)


def smoothness(illumination: Tensor, image: Tensor) -> Tensor:
    """Structure-aware illumination smoothness: ``mean(|dL| / max(|dI_gray|, 0.01))`` over x and y."""
    gray = _gray(image)
    dx, dy = (image_gradient(illumination, d).abs() / image_gradient(gray, d).abs().clamp_min(0.01) for d in "xy")
    return (dx + dy).mean()


def mutual_consistency(l_low: Tensor, l_high: Tensor) -> Tensor:
    """``mean(g exp(-10 g))`` with ``g = |dL_low| + |dL_high|``, summed over x and y."""
    gx, gy = (image_gradient(l_low, d).abs() + image_gradient(l_high, d).abs() for d in "xy")
    return (gx * torch.exp(-10.0 * gx) + gy * torch.exp(-10.0 * gy)).mean()


def gradient_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``mean((dx pred - dx target)^2 + (dy pred - dy target)^2)`` (the official ``grad_loss``)."""
    dx, dy = ((image_gradient(pred, d) - image_gradient(target, d)).pow(2) for d in "xy")
    return (dx + dy).mean()


def decom_loss(
    r_low: Tensor,
    l_low: Tensor,
    r_high: Tensor,
    l_high: Tensor,
    low: Tensor,
    high: Tensor,
    *,
    similarity: float = 0.01,
    smooth: float = 0.15,
    mutual: float = 0.2,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Decomposition loss of one pair (see the module doc); returns the total and its terms."""
    recon = l1_loss(r_low * l_low, low) + l1_loss(r_high * l_high, high)
    sim = l1_loss(r_low, r_high)
    smo = smoothness(l_low, low) + smoothness(l_high, high)
    mut = mutual_consistency(l_low, l_high)
    total = recon + similarity * sim + smooth * smo + mutual * mut
    return total, {"recon": recon.detach(), "similarity": sim.detach(), "smooth": smo.detach(), "mutual": mut.detach()}


def adjust_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Adjustment: MSE + gradient loss."""
    return mse_loss(pred, target) + gradient_loss(pred, target)


def restoration_loss(pred: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Restoration: MSE + gradient loss + (1 - SSIM) against the high image's reflectance."""
    mse, grad = mse_loss(pred, target), gradient_loss(pred, target)
    dssim = 1.0 - ssim(pred, target).mean().to(pred.dtype)
    return mse + grad + dssim, {"mse": mse.detach(), "grad": grad.detach(), "dssim": dssim.detach()}


def output_loss(pred: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """``objective="output"``: ``restoration_loss`` of the shipped pipeline's output, first
    brought to the reference's mean luma (``nets.exposure_curve``), against the reference.

    Why: the shipped KinD's brightness is set after the net (``--exposure``), so only the
    output's structure, tone shape and colour are the net's to learn; matching the
    decomposed reflectance instead chose weights 2 dB worse on SICE eval.
    """
    return restoration_loss(at_reference_brightness(pred, target), target)


def adjust_pair(l_low: Tensor, l_high: Tensor, brighten: Tensor, eps: float = 1e-4) -> tuple[Tensor, Tensor, Tensor]:
    """``(source, target, ratio)``: per image, low->high where ``brighten`` else high->low.

    ``ratio = mean(target) / mean(source)``, ``(B, 1, 1, 1)`` (the official
    ``1 / mean(source / target)`` is unstable where the target is near 0).
    """
    b = brighten.view(-1, 1, 1, 1)
    source, target = torch.where(b, l_low, l_high), torch.where(b, l_high, l_low)
    ratio = target.mean(dim=(1, 2, 3), keepdim=True) / source.mean(dim=(1, 2, 3), keepdim=True).clamp_min(eps)
    return source, target, ratio


# --------------------------------------------------------------------------- train


def _fit_stage(
    name: str,
    model: nn.Module,
    loss_fn: Callable,
    stage: StageRecipe,
    recipe: KinDRecipe,
    train_set: PairedImages,
    out_dir: Path,
    *,
    validate: Callable | None,
    device: str,
    resume: bool,
    on_log: Callable | None,
    checkpoint_every: int,
    log_every: int,
) -> FitResult:
    crop = Augment(crop=stage.patch)
    references = [high for _, high in train_set.pairs]
    pairs: Any = PairedImages(train_set.pairs, augment=crop)
    if name == "restoration":  # the decomposition's losses tie the low and high images' reflectance
        pairs = jitter_inputs(pairs, recipe.input_jitter)
    dataset = mix_well_exposed(pairs, references, recipe.bright_share, crop)
    config = LoopConfig.from_recipe(
        recipe,
        iters=stage.iters,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        validate_every=recipe.validate_every if validate else 0,
        device=device,
    )
    log.info("KinD stage %s: %s", name, stage)
    tagged = None if on_log is None else (lambda record: on_log({**record, "stage": name}))
    return fit(
        model,
        loss_fn,
        pair_batches(dataset, batch_size=stage.batch, seed=recipe.seed),
        config,
        out_dir=out_dir / name,
        model_name=f"kind.{name}",
        make_optimizer=lambda params: torch.optim.Adam(params, lr=stage.lr),
        make_scheduler=cosine_schedule(stage.iters, min_ratio=stage.lr_min_ratio),
        validate=validate,
        run={"stage": name, "recipe": recipe_dict(recipe)},
        resume=resume,
        on_log=tagged,
    )


class _RestoredBy(nn.Module):
    """``kind`` with its restoration stage taken from ``fit``'s model (a DDP replica under
    torchrun, so the gradients of ``objective="output"`` are averaged over ranks)."""

    def __init__(self, kind: KinD, restoration: nn.Module) -> None:
        super().__init__()
        self.kind, self.restoration = kind, restoration
        self.input_range, self.size_multiple = kind.input_range, kind.size_multiple

    def forward(self, x: Tensor) -> Tensor:
        return self.kind(x, restoration=self.restoration).result


def _check_phases(recipe: KinDRecipe) -> None:
    """Refuse a recipe that would leave a stage untrained, or names no known objective."""
    if recipe.objective not in RESTORATION_OBJECTIVES:
        raise NightvidError(f"objective must be one of {', '.join(RESTORATION_OBJECTIVES)}, got {recipe.objective!r}")
    if recipe.restoration.iters <= 0:
        raise NightvidError("restoration.iters must be positive: it is the stage that is validated")
    skipped = [name for name in ("decom", "adjust") if getattr(recipe, name).iters <= 0]
    if skipped and recipe.init is None:
        raise NightvidError(f"{', '.join(skipped)}.iters=0 needs --set init=KIND.safetensors to keep them from")


def train_kind(
    recipe: KinDRecipe,
    data: Path | str,
    out_dir: Path | str,
    *,
    split: str | None = None,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    device: str = "cpu",
    checkpoint_every: int = 100,
    log_every: int = 10,
) -> Path:
    """Train KinD's three stages on a paired folder; return ``out_dir/best.safetensors``.

    ``data`` is any layout ``find_pairs`` reads (``split`` picks one of several). Records
    passed to ``on_log`` carry a ``"stage"`` key. Under DDP each stage trains on every
    rank and rank 0 alone assembles and writes the weights and the card.
    """
    out_dir, data = Path(out_dir), Path(data)
    if distributed.is_writer():
        out_dir.mkdir(parents=True, exist_ok=True)
    pairs = find_pairs(data, split=split)  # sorted; the last ``val_pairs`` are held out
    split_pairs = hold_out_scenes if recipe.val_scenes else hold_out
    train_pairs, val_pairs = split_pairs(pairs, held=recipe.val_pairs, what=f"pair(s) under {data}")
    train_set = PairedImages(train_pairs)
    held = held_out(PairedImages(val_pairs, augment=val_augment(recipe.val_crop)), seed=recipe.seed)

    kind = cast(KinD, seeded_net("kind", recipe.seed))
    _check_phases(recipe)
    if recipe.init is not None:
        nets.load_weights(kind, recipe.init, name="kind")
    common: dict[str, Any] = {
        "device": device,
        "resume": resume,
        "on_log": on_log,
        "checkpoint_every": checkpoint_every,
        "log_every": log_every,
    }
    started = time.perf_counter()
    results: dict[str, FitResult] = {}

    # 1. decomposition
    def decom_step(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Mapping[str, Tensor]]:
        low, high = batch
        (r_low, r_high), (l_low, l_high) = (t.chunk(2) for t in net(torch.cat([low, high])))
        return decom_loss(
            r_low,
            l_low,
            r_high,
            l_high,
            low,
            high,
            similarity=recipe.similarity_weight,
            smooth=recipe.smoothness_weight,
            mutual=recipe.mutual_weight,
        )

    if recipe.decom.iters > 0:
        results["decom"] = _fit_stage(
            "decom", kind.decom, decom_step, recipe.decom, recipe, train_set, out_dir, validate=None, **common
        )
    kind.decom.requires_grad_(False).eval()

    def decompose(low: Tensor, high: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        with torch.no_grad():
            (r_low, r_high), (l_low, l_high) = (t.chunk(2) for t in kind.decom(torch.cat([low, high])))
        return r_low, l_low, r_high, l_high

    # 2. illumination adjustment (brighten or darken, one coin per image)
    def adjust_step(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Mapping[str, Tensor]]:
        low, high = batch
        _, l_low, _, l_high = decompose(low, high)
        # half brighten, half darken, by position in the global batch (the same on any world size)
        first = distributed.shard_offset(low.shape[0])
        coins = (torch.arange(low.shape[0], device=low.device) + first) % 2 == 0
        source, target, ratio = adjust_pair(l_low, l_high, coins)
        loss = adjust_loss(net(source, ratio), target)
        return loss, {}

    if recipe.adjust.iters > 0:
        results["adjust"] = _fit_stage(
            "adjust", kind.adjust, adjust_step, recipe.adjust, recipe, train_set, out_dir, validate=None, **common
        )
    kind.adjust.requires_grad_(False).eval()

    # 3. reflectance restoration, validated as the whole KinD pipeline
    def reflectance_step(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Mapping[str, Tensor]]:
        low, high = batch
        r_low, l_low, r_high, _ = decompose(low, high)
        return restoration_loss(net(r_low, l_low), r_high)

    def output_step(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Mapping[str, Tensor]]:
        low, high = batch
        return output_loss(nets.as_shipped(_RestoredBy(kind, net), "kind", exposure=None)(low), high)

    restoration_step = {"reflectance": reflectance_step, "output": output_step}[recipe.objective]
    score_kind = validator(held, device=device, wrap=scored_as("kind", shipped=recipe.val_as_shipped))
    results["restoration"] = _fit_stage(
        "restoration",
        kind.restoration,
        restoration_step,
        recipe.restoration,
        recipe,
        train_set,
        out_dir,
        validate=lambda restoration: score_kind(_RestoredBy(kind, restoration)),  # the average, with ema
        **common,
    )
    if not distributed.is_writer():
        return out_dir / BEST_FILE
    best_restoration = out_dir / "restoration" / BEST_FILE
    if best_restoration.exists():
        nets.load_weights(kind.restoration, best_restoration, name="kind.restoration")
    kind.requires_grad_(True)
    best = save_weights(kind, out_dir / BEST_FILE, model_name="kind")
    res = results["restoration"]
    write_run_card(
        out_dir,
        kind,
        model_name="kind",
        recipe=recipe,
        iterations={name: r.steps for name, r in results.items()},
        data={
            "folder": str(data),
            "split": split,
            "train_pairs": len(train_pairs),
            "val_pairs": [p.name for p, _ in val_pairs],
            "val_crop": recipe.val_crop,
        },
        metrics={
            "validation_best": {"psnr": res.best, "step": res.best_step},
            "validation_last": res.metrics,
            "scored_as": (
                "as shipped (nets.as_shipped: colour share, default exposure) on the held-out pairs"
                if recipe.val_as_shipped
                else "whole KinD (ratio=None, target illumination 0.5) on the held-out pairs"
            ),
        },
        final={name: r.final for name, r in results.items()},
        final_loss=res.final.get("loss"),  # the last stage's: restoration
        seconds=time.perf_counter() - started,
        device=device,
        extra={"stage_order": list(STAGES), **distributed.card_fields()},
    )
    log.info("KinD trained: best held-out PSNR %s -> %s", res.best, best)
    if not best.exists():
        raise NightvidError(f"KinD weights were not written to {best}")
    return best
