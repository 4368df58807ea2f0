"""NoiSER recipe: noise self-regression, no images needed.

Zhang et al., "Noise Self-Regression: A New Learning Paradigm to Enhance Low-light
Images Without Task-related Data" (2023), https://arxiv.org/abs/2211.04700.

Input and target are the same patch of Gaussian noise N(0, sigma), clamped to the net's
range [-1, 1]; the loss is L1(net(n), n) + tv_weight * TV(net(n)) with the squared,
element-normalised TV of :func:`nightvid.trainers.losses.tv_loss`. Adam, lr 2e-4,
betas (0.5, 0.999), batch 1, 104x104 patches, 2000 iterations; sigma = 3 as in the
reference implementation (most samples hit the clamp, so the target is close to
binary +-1 noise).

Reproducibility: the net is initialised from ``torch.manual_seed(seed)`` and noise
batch ``i`` is drawn from ``step_generator(seed, i)``, so a run is a pure function of the
recipe. On CPU it is bit-identical across runs, across a kill + ``resume=True``, and
whatever ``torch.get_num_threads()`` is: training pins torch to ``recipe.threads`` CPU
threads (1), because oneDNN's convolution backward splits its weight-gradient reduction
over threads and so rounds differently with 1 and 2 threads. The net is so small that
one thread costs little. Results are bit-identical for the same torch build and CPU
instruction set; another torch version or CPU kernel path may differ in the last bits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nightvid import nets
from nightvid.trainers.data import noise_batch
from nightvid.trainers.loop import (
    LoopConfig,
    SeededBatches,
    fit,
    save_weights,
    write_model_card,
)
from nightvid.trainers.losses import l1_loss, tv_loss

__all__ = ["NoiserRecipe", "noise_batch", "noiser_loss", "train_noiser"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "noiser.safetensors"
CARD_FILE = "model_card.json"


@dataclass(frozen=True)
class NoiserRecipe:
    """Everything that decides the trained NoiSER weights."""

    seed: int = 0
    iters: int = 2000
    patch: int = 104
    batch: int = 1
    #: Standard deviation of the training noise, before the clamp.
    sigma: float = 3.0
    #: Noise is clamped to [-clamp, clamp] (the net's input/output range).
    clamp: float = 1.0
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    tv_weight: float = 1.0
    hidden: int = 32
    #: Padding mode of the convolutions ("replicate": no bright frame border; "zeros": the reference code's).
    padding: str = "replicate"
    #: CPU threads during training; pinned so results do not depend on the machine's count.
    threads: int | None = 1


def noiser_loss(model: nn.Module, noise: Tensor, *, tv_weight: float = 1.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Noise self-regression loss: L1(model(n), n) + tv_weight * TV(model(n))."""
    out = model(noise)
    l1, tv = l1_loss(out, noise), tv_loss(out)
    return l1 + tv_weight * tv, {"l1": l1.detach(), "tv": tv.detach()}


def train_noiser(
    recipe: NoiserRecipe,
    out_dir: Path | str,
    *,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    device: str = "cpu",
    checkpoint_every: int = 500,
    log_every: int = 10,
) -> Path:
    """Train NoiSER; write ``out_dir/noiser.safetensors`` and ``out_dir/model_card.json``.

    Checkpoints go to ``out_dir/checkpoint.pt`` every ``checkpoint_every`` steps;
    ``resume=True`` continues a killed run (and refuses a checkpoint made with another
    recipe). ``on_log`` receives the loop's records (see ``nightvid.trainers.loop``).
    Returns the weights path.
    """
    out_dir = Path(out_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        model = nets.build("noiser", hidden=recipe.hidden, padding=recipe.padding, colour=0.0)

    def draw(index: int, generator: torch.Generator) -> Tensor:
        return noise_batch(generator, batch=recipe.batch, patch=recipe.patch, sigma=recipe.sigma, clamp=recipe.clamp)

    def loss_fn(net: nn.Module, noise: Tensor) -> tuple[Tensor, Mapping[str, Tensor]]:
        return noiser_loss(net, noise, tv_weight=recipe.tv_weight)

    config = LoopConfig(
        iters=recipe.iters,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        device=device,
        threads=recipe.threads,
    )
    started = time.perf_counter()
    result = fit(
        model,
        loss_fn,
        SeededBatches(draw, recipe.seed),
        config,
        out_dir=out_dir,
        model_name="noiser",
        make_optimizer=lambda params: torch.optim.Adam(params, lr=recipe.lr, betas=recipe.betas),
        run=asdict(recipe),
        resume=resume,
        on_log=on_log,
    )
    weights = save_weights(model, out_dir / WEIGHTS_FILE, model_name="noiser")
    write_model_card(
        out_dir / CARD_FILE,
        {
            "model": "noiser",
            "weights": WEIGHTS_FILE,
            "recipe": asdict(recipe),
            "seed": recipe.seed,
            "iterations": result.steps,
            "data": f"Gaussian noise N(0, {recipe.sigma}) clamped to [-{recipe.clamp}, {recipe.clamp}]; no images",
            "final_loss": result.final.get("loss"),
            "final": result.final,
            "metrics": {},
            "params": nets.param_count(model),
            "train_seconds": round(time.perf_counter() - started, 2),
            "device": device,
        },
    )
    log.info("NoiSER trained for %d steps, final loss %s: %s", result.steps, result.final.get("loss"), weights)
    return weights
