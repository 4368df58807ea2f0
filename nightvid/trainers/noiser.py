"""NoiSER recipe: noise self-regression, no images needed.

Zhang et al., "Noise Self-Regression: A New Learning Paradigm to Enhance Low-light
Images Without Task-related Data" (2023), https://arxiv.org/abs/2211.04700.

Input and target are the same patch of Gaussian noise N(0, sigma), clamped to the net's
range [-1, 1]; the loss is L1(net(n), n) + tv_weight * TV(net(n)) with the squared,
element-normalised TV of :func:`nightvid.trainers.losses.tv_loss`. Adam, lr 2e-4,
betas (0.5, 0.999), batch 1, 104x104 patches, 2000 iterations, as in the reference
implementation. Two knobs differ from it, chosen on 33 SICE *train* pairs (every 4th;
docs/BENCHMARKS.md, "NoiSER's noise and smoothness") and checked on the dark synthetic
video set: sigma 1.5 (the reference's 3 sends most samples to the clamp, a target close
to binary +-1 noise) and the TV weight 0.75 (1 before). The smoothness term flattened
dark detail: SSIM 0.668 -> 0.673 on those pairs, 0.729 -> 0.735 on SICE eval, dark SSIM
up on both. A TV weight of 0.5 gains twice that on photos but costs 0.4 dB on the dark
video set, where the noise it lets through shows. No image is used in training.

The run writes what every recipe writes (``nightvid.trainers.common``):
``best.safetensors`` (there is no validation, so these are the final weights),
``final.safetensors``, ``model_card.json``, ``checkpoint.pt`` and ``metrics.jsonl``.

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

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nightvid.trainers.common import fit_and_finish, seeded_net
from nightvid.trainers.data import noise_batch
from nightvid.trainers.loop import LoopConfig, SeededBatches
from nightvid.trainers.losses import l1_loss, tv_loss

__all__ = ["NoiserRecipe", "noise_batch", "noiser_loss", "train_noiser"]


@dataclass(frozen=True)
class NoiserRecipe:
    """Everything that decides the trained NoiSER weights."""

    seed: int = 0
    iters: int = 2000
    patch: int = 104
    batch: int = 1
    #: Standard deviation of the training noise, before the clamp.
    sigma: float = 1.5
    #: Noise is clamped to [-clamp, clamp] (the net's input/output range).
    clamp: float = 1.0
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    tv_weight: float = 0.75
    hidden: int = 32
    #: Padding mode of the convolutions ("replicate": no bright frame border; "zeros": the reference code's).
    padding: str = "replicate"
    #: CPU threads during training; pinned so results do not depend on the machine's count.
    threads: int | None = 1

    @classmethod
    def cpu_reduced(cls, **overrides: Any) -> NoiserRecipe:
        """The paper's recipe itself: it already fits a CPU (about 30 s on 2 cores), and it
        is what the shipped weights were trained with."""
        return replace(cls(), **overrides)


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
    """Train NoiSER (no data: noise alone); return ``out_dir/best.safetensors``.

    Checkpoints go to ``out_dir/checkpoint.pt`` every ``checkpoint_every`` steps;
    ``resume=True`` continues a killed run (and refuses a checkpoint made with another
    recipe). ``on_log`` receives the loop's records (see ``nightvid.trainers.loop``).
    """
    out_dir = Path(out_dir)
    model = seeded_net("noiser", recipe.seed, hidden=recipe.hidden, padding=recipe.padding, colour=0.0)

    def draw(index: int, generator: torch.Generator) -> Tensor:
        return noise_batch(generator, batch=recipe.batch, patch=recipe.patch, sigma=recipe.sigma, clamp=recipe.clamp)

    def loss_fn(net: nn.Module, noise: Tensor) -> tuple[Tensor, Mapping[str, Tensor]]:
        return noiser_loss(net, noise, tv_weight=recipe.tv_weight)

    return fit_and_finish(
        model,
        loss_fn,
        SeededBatches(draw, recipe.seed),
        LoopConfig.from_recipe(recipe, checkpoint_every=checkpoint_every, log_every=log_every, device=device),
        out_dir=out_dir,
        model_name="noiser",
        recipe=recipe,
        run=asdict(recipe),
        data=f"Gaussian noise N(0, {recipe.sigma}) clamped to [-{recipe.clamp}, {recipe.clamp}]; no images",
        make_optimizer=lambda params: torch.optim.Adam(params, lr=recipe.lr, betas=recipe.betas),
        resume=resume,
        on_log=on_log,
    )
