"""`nightvid train MODEL`: weights from scratch (or fine-tuned), resumable, for every model.

On several devices the same command runs in every process that torchrun starts
(``torchrun ... -m nightvid train ...``); ``--devices N`` starts N of them on this machine
through torchrun's launcher. Rank 0 alone shows progress and prints the weights' path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperOption

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


def _relaunch_args(ctx: typer.Context) -> list[str]:
    """This command line as parsed, without ``--devices``: what each torchrun process runs."""
    args = [ctx.info_name or "train"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name == "devices" or value is None:
            continue
        if not isinstance(param, TyperOption):
            args.append(str(value))
        elif param.is_flag:
            args += [param.opts[0]] if value else param.secondary_opts[:1]
        elif param.multiple:
            args += [part for item in value for part in (param.opts[0], str(item))]
        else:
            args += [param.opts[0], str(value)]
    return args


def train(
    ctx: typer.Context,
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
    resume: Annotated[
        bool,
        typer.Option(
            help="continue from the last checkpoint in OUT; a finished NoiSER run (no learning-rate schedule) "
            "also goes on to a larger --iters"
        ),
    ] = False,
    device: Annotated[
        str, typer.Option(help="cpu | cuda | cuda:N (several devices: cuda, one GPU per process)")
    ] = "cpu",
    devices: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="processes on this machine, one per device (DDP through torchrun); --batch is the global batch",
        ),
    ] = None,
    dist_timeout: Annotated[
        float | None,
        typer.Option(min=1, help="several devices: seconds a process waits for the others before failing [300]"),
    ] = None,
    sync_bn: Annotated[
        bool, typer.Option("--sync-bn", help="several CUDA devices: BatchNorm statistics over the global batch")
    ] = False,
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
    from nightvid.trainers import distributed, recipes

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
        if devices is not None and devices > 1:  # rank 0 of the processes prints the path
            return distributed.launch_local(devices, _relaunch_args(ctx), device=device)
        total = trainer.total_iters(recipe)
        with distributed.session(device, timeout_s=dist_timeout, sync_batchnorm=sync_bn) as world:
            leader = world is None or world.rank == 0
            if not leader:
                setup_logging(quiet=True)  # one voice: rank 0's
            with ProgressLine(f"train {model}", quiet=quiet or not leader, unit="iterations") as progress:
                weights = trainer.run(
                    recipe,
                    data,
                    out,
                    resume=resume,
                    device=world.device if world else device,
                    on_log=lambda rec: _show_training(progress, rec, trainer.progress_step(recipe, rec), total),
                )
    if leader:
        print(weights)
