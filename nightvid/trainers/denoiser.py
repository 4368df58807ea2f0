"""Denoiser recipe: MSE on Gaussian-noise pairs, then joint training with a frozen recogniser.

Liu, Wen, Liu, Wang and Huang, "When Image Denoising Meets High-Level Vision Tasks: A
Deep Learning Approach", IJCAI 2018, https://arxiv.org/abs/1706.04284.

Stage 1 (``task=None``): ``(clean + N(0, sigma), clean)`` patches from a folder of clean
photos, loss ``MSE(denoiser(noisy), clean)``. The noisy input is not clipped.

Stage 2 (``task="classify"`` or ``"segment"``): the denoiser (usually started from a
stage-1 file, ``init``) is followed by a *frozen* high-level net and trained with
``MSE + task_weight * task_loss``; only the denoiser's parameters are in the optimiser
and the high-level net has ``requires_grad=False``, so it stays exactly as it was.

The high-level net:

- ``vgg16=FILE``: torchvision's VGG-16 (ImageNet weights in torchvision's key layout).
  ``classify`` uses its 1000-way output; ``segment`` puts a 1x1 convolution on its
  ``relu3_3`` features (1/4 scale, upsampled back) and trains only that head, on the
  mosaic task below, before freezing it.
- no file (offline): a ``TinyClassifier`` that this trainer first trains itself, on
  tasks built from the training photos: ``classify`` = "which of the first
  ``hl_classes`` photos does this 64x64 patch come from" (colour and texture make it
  learnable in a few hundred steps); ``segment`` = the same per pixel, on mosaics of
  four patches from random photos split at a random point (a 1x1 head on its last
  features, upsampled). Its weights and held-out accuracy go to ``high_level.safetensors``
  and the model card; a resumed run reuses them.

The task loss needs labels for arbitrary training photos, which neither set of
weights has for our data (the paper used the high-level dataset's ground truth). We
use the frozen net's own prediction on the *clean* image as the label (per image for
``classify``, per pixel for ``segment``): the denoised image must be recognised as the
clean one is. That is a deviation from the paper, stated in the model card.

Defaults are paper-scale (patch 128, batch 16, Adam 1e-4 with cosine decay, 100k steps,
task weight 0.25); ``DenoiserRecipe.cpu_reduced()`` is the run that fits a 2-core CPU.
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
from nightvid.files import save_weights
from nightvid.nets import vgg
from nightvid.trainers import distributed
from nightvid.trainers.common import fit_and_finish, recipe_dict, seeded_net, split_files
from nightvid.trainers.data import (
    Augment,
    BrightenedNight,
    MixedPairs,
    NoisyImages,
    augment,
    held_out,
    list_images,
    pair_batches,
    read_image,
    val_augment,
)
from nightvid.trainers.loop import LoopConfig, cosine_schedule, step_generator
from nightvid.trainers.losses import mse_loss
from nightvid.trainers.metrics import validator

__all__ = [
    "DenoiserRecipe",
    "FeatureSegmenter",
    "denoiser_loss",
    "joint_loss",
    "make_high_level",
    "train_denoiser",
]

log = logging.getLogger(__name__)

TASKS = (None, "classify", "segment")
HIGH_LEVEL_FILE = "high_level.safetensors"


#: Training pairs by the recipe's ``noise``: (files, sigma in [0, 1], augment) -> dataset.
NOISES: dict[str, Callable[..., Any]] = {
    "gaussian": lambda files, sigma, crop: NoisyImages(files, sigma=sigma, augment=crop),
    "night_video": lambda files, sigma, crop: BrightenedNight(files, augment=crop),
    # Half each: the chain's night noise without forgetting the Gaussian noise of the paper.
    "mixed": lambda files, sigma, crop: MixedPairs(
        NoisyImages(files, sigma=sigma, augment=crop), BrightenedNight(files, augment=crop), synthetic_share=0.5
    ),
}


@dataclass(frozen=True)
class DenoiserRecipe:
    """Everything that decides the trained denoiser (``sigma`` in 0-255 units)."""

    seed: int = 0
    iters: int = 100_000
    batch: int = 16
    patch: int = 128
    sigma: float = 25.0
    lr: float = 1e-4
    #: Cosine decay to ``lr * lr_min_ratio``; ``warmup`` linear steps first.
    lr_min_ratio: float = 0.01
    warmup: int = 0
    #: Photos held out of the folder (last in sorted order) and the validation crop size.
    val_images: int = 8
    val_crop: int | None = 256
    validate_every: int = 2000
    #: None = stage 1 (MSE only); "classify" / "segment" = joint training.
    task: str | None = None
    #: lambda in ``MSE + lambda * task loss``.
    task_weight: float = 0.25
    #: torchvision-layout VGG-16 weights for the high-level net (None = offline TinyClassifier).
    vgg16: str | None = None
    #: Denoiser weights to start from (joint training starts from stage 1).
    init: str | None = None
    #: Offline high-level net: classes (source photos), patch size, steps, batch, lr.
    hl_classes: int = 8
    hl_patch: int = 64
    hl_iters: int = 600
    hl_batch: int = 32
    hl_lr: float = 1e-3
    #: CPU threads while training (None = torch's default). Resume equals uninterrupted
    #: for the same thread count.
    threads: int | None = None
    #: Training noise: "gaussian" (N(0, sigma), the paper's), "night_video" (brightened
    #: synthetic night frames, ``data.BrightenedNight``: what it meets after an enhancer in
    #: a chain such as ``kind+denoiser``) or "mixed" (half each).
    noise: str = "gaussian"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise NightvidError(f"task must be classify or segment (or none), got {self.task!r}")

    @classmethod
    def cpu_reduced(cls, **overrides: Any) -> DenoiserRecipe:
        """What fits ~15 minutes of a 2-core CPU shared with other jobs: 48 px patches,
        batch 8, 400 steps, Adam 1e-3 (a higher rate than the paper-scale default, to
        converge in few steps), validation on 4 held-out 128 px crops every 100 steps."""
        base = cls(
            iters=400,
            batch=8,
            patch=48,
            lr=1e-3,
            warmup=20,
            val_images=4,
            val_crop=128,
            validate_every=100,
            hl_iters=300,
        )
        return replace(base, **overrides)


# --------------------------------------------------------------------------- losses


def denoiser_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """Stage 1: ``MSE(model(noisy), clean)``."""
    noisy, clean = batch
    mse = mse_loss(model(noisy), clean)
    return mse, {"mse": mse.detach()}


def joint_loss(
    model: nn.Module, batch: tuple[Tensor, Tensor], high_level: nn.Module, *, task: str, weight: float
) -> tuple[Tensor, dict[str, Tensor]]:
    """Stage 2: ``MSE + weight * CE(high_level(denoised), argmax high_level(clean))``.

    ``high_level`` is frozen; gradients pass through it to the denoiser only. For
    ``segment`` its logits are ``(B, K, H, W)`` and the cross-entropy is per pixel.
    """
    noisy, clean = batch
    denoised = model(noisy)
    mse = mse_loss(denoised, clean)
    with torch.no_grad():
        target = high_level(clean).argmax(dim=1)
    logits = high_level(denoised.clamp(0.0, 1.0))
    task_loss = F.cross_entropy(logits, target)
    agree = (logits.argmax(dim=1) == target).float().mean()
    return mse + weight * task_loss, {"mse": mse.detach(), task: task_loss.detach(), "agree": agree.detach()}


# --------------------------------------------------------------------------- high-level net


class FeatureSegmenter(nn.Module):
    """A recogniser's features at ``layer`` -> 1x1 conv to ``classes`` -> bilinear upsample.

    Shape:
        input ``(B, 3, H, W)`` RGB in [0, 1]; output logits ``(B, classes, H, W)``.
    """

    def __init__(self, backbone: nn.Module, layer: str, channels: int, classes: int) -> None:
        super().__init__()
        self.backbone, self.layer = backbone, layer
        self.head = nn.Conv2d(channels, classes, 1)
        self.frozen = False

    def train(self, mode: bool = True) -> FeatureSegmenter:
        """Like ``nn.Module.train``, except that a frozen segmenter stays in eval mode."""
        return super().train(mode and not self.frozen)

    def forward(self, x01: Tensor) -> Tensor:
        feat = cast(Any, self.backbone).features_at(x01, [self.layer])[self.layer]
        return F.interpolate(self.head(feat), size=x01.shape[-2:], mode="bilinear", align_corners=False)


def _source_patches(images: list[Tensor], generator: torch.Generator, count: int, patch: int) -> tuple[Tensor, Tensor]:
    """``count`` random patches and the index of the photo each comes from."""
    labels = torch.randint(0, len(images), (count,), generator=generator)
    crop = Augment(crop=patch)
    patches = [augment([images[int(k)]], generator, crop)[0] for k in labels]
    return torch.stack(patches), labels


def _mosaics(images: list[Tensor], generator: torch.Generator, count: int, patch: int) -> tuple[Tensor, Tensor]:
    """``count`` mosaics of four source patches split at a random point, per-pixel source labels."""
    quads, labels = _source_patches(images, generator, 4 * count, patch)
    quads, labels = quads.view(count, 4, 3, patch, patch), labels.view(count, 4)
    out = torch.empty(count, 3, patch, patch)
    mask = torch.empty(count, patch, patch, dtype=torch.long)
    for i in range(count):
        y, x = (int(v) for v in torch.randint(patch // 4, 3 * patch // 4, (2,), generator=generator))
        for q, (rows, cols) in enumerate(
            [
                (slice(0, y), slice(0, x)),
                (slice(0, y), slice(x, None)),
                (slice(y, None), slice(0, x)),
                (slice(y, None), slice(x, None)),
            ]
        ):
            out[i, :, rows, cols] = quads[i, q, :, rows, cols]
            mask[i, rows, cols] = labels[i, q]
    return out, mask


def make_high_level(recipe: DenoiserRecipe, files: list[Path], out_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The frozen high-level net of joint training, and a description for the model card.

    Loads the user's VGG-16 file, or trains the offline net (and for ``segment`` the
    head) on the tasks described in the module doc, seeded by ``recipe.seed`` (the
    global RNG is left as it was). The trained weights are kept in
    ``out_dir/high_level.safetensors`` and reused. Under DDP every rank trains (or
    reads) it, rank 0 alone writes it, and every rank then takes rank 0's weights.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        return _make_high_level(recipe, files, out_dir)


def _make_high_level(recipe: DenoiserRecipe, files: list[Path], out_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    task = recipe.task
    if recipe.vgg16 is not None:
        backbone: nn.Module = vgg.freeze(vgg.vgg16(weights=recipe.vgg16))
        if task == "classify":
            return backbone, {
                "net": "VGG-16 (torchvision layout)",
                "weights": recipe.vgg16,
                "labels": "its own ImageNet prediction on the clean image",
            }
        net: nn.Module = FeatureSegmenter(backbone, "relu3_3", 256, recipe.hl_classes)
        what: dict[str, Any] = {"net": "VGG-16 relu3_3 + 1x1 head trained here", "weights": recipe.vgg16}
    else:
        classes = recipe.hl_classes
        tiny = vgg.TinyClassifier(num_classes=classes)
        net = tiny if task == "classify" else FeatureSegmenter(tiny, "relu3_1", 128, classes)
        what = {"net": f"TinyClassifier ({classes} classes) trained here", "weights": None}
    if len(files) < recipe.hl_classes:
        raise NightvidError(f"the offline {task} task needs {recipe.hl_classes} photos, got {len(files)}")
    sources = files[: recipe.hl_classes]
    what["task"] = f"which of {len(sources)} photos ({sources[0].name} ...) a {recipe.hl_patch}px " + (
        "patch comes from" if task == "classify" else "mosaic region comes from, per pixel"
    )
    images = [read_image(p) for p in sources]
    draw = _source_patches if task == "classify" else _mosaics
    saved = out_dir / HIGH_LEVEL_FILE
    trained = cast(nn.Module, net.head) if recipe.vgg16 is not None else net  # never re-save VGG-16 itself
    if saved.exists():
        nets.load_weights(trained, saved, name=f"high_level_{task}")
        log.info("reusing the trained high-level net %s", saved)
    else:
        params = [p for p in net.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=recipe.hl_lr)
        net.train()
        for step in range(recipe.hl_iters):
            x, y = draw(images, step_generator(recipe.seed, 7, step), recipe.hl_batch, recipe.hl_patch)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % 50 == 0:
                log.info("high-level %s step %d: loss %.4f", task, step, loss.item())
        if distributed.is_writer():
            save_weights(trained, saved, model_name=f"high_level_{task}")
    distributed.broadcast_module(trained)  # one frozen net on every rank
    net.eval()
    with torch.no_grad():  # fresh draws the net was not trained on
        x, y = draw(images, step_generator(recipe.seed, 8), 64, recipe.hl_patch)
        what["accuracy_fresh_draws"] = float((net(x).argmax(dim=1) == y).float().mean())
    log.info("high-level net for %s: %s", task, what)
    net = vgg.freeze(net)
    if isinstance(net, FeatureSegmenter):
        net.frozen = True
    return net, what


# --------------------------------------------------------------------------- train


def train_denoiser(
    recipe: DenoiserRecipe,
    data: Path | str,
    out_dir: Path | str,
    *,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    device: str = "cpu",
    checkpoint_every: int = 100,
    log_every: int = 10,
) -> Path:
    """Train the denoiser on a folder of clean photos; return ``out_dir/best.safetensors``.

    Writes ``checkpoint.pt`` (resumable with ``resume=True``), ``metrics.jsonl``,
    ``best.safetensors`` (best held-out PSNR), ``final.safetensors`` and
    ``model_card.json``.
    """
    out_dir, data = Path(out_dir), Path(data)
    if distributed.is_writer():
        out_dir.mkdir(parents=True, exist_ok=True)
    train_files, val_files = split_files(list_images(data), held=recipe.val_images)
    sigma = recipe.sigma / 255.0
    crop = Augment(crop=recipe.patch)
    val_crop = val_augment(recipe.val_crop)
    if recipe.noise not in NOISES:
        raise NightvidError(f"noise must be one of {', '.join(NOISES)}, got {recipe.noise!r}")
    train_set, val_set = (
        NOISES[recipe.noise](train_files, sigma, crop),
        NOISES[recipe.noise](val_files, sigma, val_crop),
    )
    validate = validator(held_out(val_set, seed=recipe.seed), device=device)

    model = seeded_net("denoiser", recipe.seed, init=recipe.init)

    extra: dict[str, Any] = {}
    if recipe.task is None:
        loss_fn: Callable = denoiser_loss
    else:
        high_level, extra["high_level"] = make_high_level(recipe, train_files, out_dir)
        high_level.to(device)
        extra["task_labels"] = "the frozen net's prediction on the clean image (paper: dataset labels)"
        task = recipe.task

        def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Mapping[str, Tensor]]:
            return joint_loss(net, batch, high_level, task=task, weight=recipe.task_weight)

    return fit_and_finish(
        model,
        loss_fn,
        pair_batches(train_set, batch_size=recipe.batch, seed=recipe.seed),
        LoopConfig.from_recipe(recipe, checkpoint_every=checkpoint_every, log_every=log_every, device=device),
        out_dir=out_dir,
        model_name="denoiser",
        recipe=recipe,
        run={"recipe": recipe_dict(recipe), "data": str(data)},
        make_optimizer=lambda params: torch.optim.Adam(params, lr=recipe.lr),
        make_scheduler=cosine_schedule(recipe.iters, warmup=recipe.warmup, min_ratio=recipe.lr_min_ratio),
        validate=validate,
        resume=resume,
        on_log=on_log,
        extra=extra,
        data={
            "folder": str(data),
            "train_images": len(train_files),
            "val_images": [p.name for p in val_files],
            "pairs": (
                f"clean + N(0, {recipe.sigma}/255), not clipped"
                if recipe.noise == "gaussian"
                else "synthetic night frames (no casts) brightened by one gain to the clean mean"
            )
            + f"; {recipe.patch}px crops, flips, 90-degree turns",
        },
    )
