"""`nightvid train MODEL`: weights from scratch (or fine-tuned), resumable, for every model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nightvid.cli.common import ProgressLine, reported, setup_logging
from nightvid.trainers.recipes import PRESETS, RECIPES

__all__ = ["train"]


def _show_training(progress: ProgressLine, record: dict, step: int, total: int) -> None:
    """Feed the loop's log records (train/val/checkpoint events) to the progress display."""
    terms = {k: v for k, v in record.items() if k == "loss" or k.startswith(("l1", "tv", "mse", "psnr", "ssim"))}
    note = " ".join(f"{k} {v:.4f}" for k, v in terms.items() if isinstance(v, float))
    progress(step, total, note)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def train(
    model: Annotated[str, typer.Argument(help=f"model to train: {' | '.join(RECIPES)}")],
    out: Annotated[Path, typer.Option(help="run directory for checkpoints, weights and the model card")],
    data: Annotated[
        Path | None,
        typer.Option(help="training data: a paired folder (low/high, LOL, LOL-Blur) or clean photos (not for noiser)"),
    ] = None,
    iters: Annotated[int | None, typer.Option(min=1, help="optimiser steps (KinD: per stage)")] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="patches per step")] = None,
    patch: Annotated[int | None, typer.Option(min=8, help="patch size in pixels")] = None,
    sigma: Annotated[
        float | None, typer.Option(help="noise std: noiser in 0-1 units, the denoiser in 0-255 (default 25)")
    ] = None,
    task: Annotated[str | None, typer.Option(help="denoiser: joint training with classify | segment")] = None,
    lam: Annotated[float | None, typer.Option("--lambda", help="denoiser: task loss weight")] = None,
    vgg16: Annotated[Path | None, typer.Option(help="denoiser: torchvision VGG-16 weights (else: offline net)")] = None,
    vgg19: Annotated[
        Path | None,
        typer.Option(help="lednet: torchvision VGG-19 weights for the perceptual loss; without: an edge loss instead"),
    ] = None,
    init: Annotated[Path | None, typer.Option(help="denoiser: weights to start from")] = None,
    preset: Annotated[
        str, typer.Option(help=f"{' | '.join(PRESETS)}: cpu is reduced (what shipped weights used)")
    ] = "cpu",
    seed: Annotated[int | None, typer.Option(help="random seed (default 0)")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the last checkpoint in OUT")] = False,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N")] = "cpu",
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="any recipe field, KEY=VALUE, repeatable (lr=2e-4, restoration.iters=800); see the recipe dataclasses",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train MODEL's weights (NoiSER on noise alone; the others on --data); print the weights' path."""
    from nightvid.trainers import recipes

    setup_logging(quiet)
    with reported(interrupted="interrupted; resume with --resume"):
        trainer = recipes.trainer(model)
        recipe = recipes.apply_settings(
            trainer.make(
                preset,
                iters=iters,
                batch=batch,
                patch=patch,
                seed=seed,
                sigma=sigma,
                task=task,
                task_weight=lam,
                vgg16=_text(vgg16),
                vgg19=_text(vgg19),
                init=_text(init),
            ),
            settings or [],
        )
        total = trainer.total_iters(recipe)
        with ProgressLine(f"train {model}", quiet=quiet, unit="iterations") as progress:
            weights = trainer.run(
                recipe,
                data,
                out,
                resume=resume,
                device=device,
                on_log=lambda rec: _show_training(progress, rec, trainer.progress_step(recipe, rec), total),
            )
    print(weights)
