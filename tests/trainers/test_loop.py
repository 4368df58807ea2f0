"""The shared loop: loss falls, resume is bit-identical, files are written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from nightvid.errors import NightvidError
from nightvid.nets import load_weights
from nightvid.trainers.loop import (
    LoopConfig,
    SeededBatches,
    cosine_schedule,
    fit,
    step_generator,
    step_schedule,
)


class Stop(Exception):
    """Raised from on_log to simulate a run killed mid-way."""


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Dropout(0.1), nn.GELU(), nn.Conv2d(8, 3, 3, padding=1))


def draw(index: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.rand(2, 3, 12, 12, generator=generator)
    return target * 0.3, target  # learn to brighten x3.3


def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
    low, high = batch
    l1 = (model(low) - high).abs().mean()
    return l1, {"l1": l1.detach()}


def run_fit(out: Path, *, iters: int = 24, resume: bool = False, on_log=None, validate=None, **config):
    model = tiny_net()
    result = fit(
        model,
        loss_fn,
        SeededBatches(draw, seed=3),
        LoopConfig(iters=iters, log_every=4, threads=1, **config),
        out_dir=out,
        model_name="tiny",
        make_optimizer=lambda p: torch.optim.Adam(p, lr=3e-3),
        make_scheduler=cosine_schedule(iters, warmup=2),
        validate=validate,
        run={"iters": iters},
        resume=resume,
        on_log=on_log,
    )
    return model, result


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_loss_falls(tmp_path: Path) -> None:
    _, result = run_fit(tmp_path, iters=40)
    train = [r for r in records(tmp_path) if r["event"] == "train"]
    assert train[-1]["loss"] < 0.6 * train[0]["loss"]
    assert result.steps == 40 and result.final["loss"] == train[-1]["loss"]
    assert {"loss", "l1", "lr", "it_per_s", "eta_s", "elapsed_s"} <= set(train[0])


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_is_bit_identical(tmp_path: Path, ema: float) -> None:
    whole, whole_result = run_fit(tmp_path / "whole", checkpoint_every=8, ema=ema)

    def kill_after_checkpoint(record: dict) -> None:
        if record["event"] == "train" and record["step"] == 20:  # checkpoint at 16, killed at 20
            raise Stop

    with pytest.raises(Stop):
        run_fit(tmp_path / "cut", checkpoint_every=8, on_log=kill_after_checkpoint, ema=ema)
    resumed, resumed_result = run_fit(tmp_path / "cut", checkpoint_every=8, resume=True, ema=ema)

    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=False):
        assert torch.equal(a, b), name
    assert resumed_result.final == whole_result.final

    def strip(rs):
        return [
            {k: v for k, v in r.items() if k not in ("it_per_s", "eta_s", "elapsed_s", "path")}
            for r in rs
            if r["event"] in ("train", "val")
        ]

    assert strip(records(tmp_path / "cut")) == strip(records(tmp_path / "whole"))


def test_existing_run_is_not_overwritten_and_other_runs_are_refused(tmp_path: Path) -> None:
    run_fit(tmp_path, iters=4)
    with pytest.raises(NightvidError, match="already holds a training run"):
        run_fit(tmp_path, iters=4)
    with pytest.raises(NightvidError, match="different run"):
        run_fit(tmp_path, iters=8, resume=True)
    _, result = run_fit(tmp_path, iters=4, resume=True)  # finished: nothing left to do
    assert result.steps == 4


def test_validation_keeps_best_and_grad_clip(tmp_path: Path) -> None:
    scores = iter([1.0, 3.0, 2.0])
    seen: list[dict] = []
    _, result = run_fit(
        tmp_path,
        iters=12,
        validate=lambda m: {"psnr": next(scores)},
        validate_every=4,
        grad_clip=0.5,
        on_log=seen.append,
    )
    vals = [r for r in seen if r["event"] == "val"]
    assert [v["best"] for v in vals] == [True, True, False]
    assert result.best == 3.0 and result.best_step == 8 and result.metrics == {"psnr": 2.0}
    net = tiny_net()
    load_weights(net, tmp_path / "best.safetensors", name="tiny")


def _trajectory(tmp_path: Path, ema: float) -> tuple[nn.Module, list[dict[str, torch.Tensor]], list[dict]]:
    """A 6-step fit: the model after it, the raw weights after every step, and what was validated."""
    model = tiny_net()
    raw: list[dict[str, torch.Tensor]] = []
    validated: list[dict] = []

    def keep_raw(record: dict) -> None:
        if record["event"] == "checkpoint":  # after every step: the optimiser's weights
            raw.append({k: v.clone() for k, v in model.state_dict().items()})

    def validate(net: nn.Module) -> dict[str, float]:
        validated.append({k: v.clone() for k, v in net.state_dict().items()})
        return {"psnr": float(len(validated))}  # each better than the last

    fit(
        model,
        loss_fn,
        SeededBatches(draw, seed=3),
        LoopConfig(iters=6, log_every=1, checkpoint_every=1, validate_every=3, threads=1, ema=ema),
        out_dir=tmp_path,
        model_name="tiny",
        make_optimizer=lambda p: torch.optim.Adam(p, lr=3e-3),
        validate=validate,
        on_log=keep_raw,
    )
    return model, raw, validated


def test_ema_is_what_is_validated_kept_and_left_in_the_model(tmp_path: Path) -> None:
    model, raw, validated = _trajectory(tmp_path / "ema", ema=0.8)
    _, plain_raw, _ = _trajectory(tmp_path / "plain", ema=0.0)
    for a, b in zip(raw, plain_raw, strict=True):  # averaging does not change the optimiser's path
        assert all(torch.equal(a[k], b[k]) for k in a)
    average = dict(raw[0])
    for step, weights in enumerate(raw[1:], start=2):  # torch's EMA: the first step copied, then lerped
        average = {k: 0.8 * average[k] + 0.2 * weights[k] for k in weights}
        if step == 3:
            assert all(torch.allclose(validated[0][k], average[k], atol=1e-6) for k in average)
    assert all(torch.allclose(validated[-1][k], average[k], atol=1e-6) for k in average)
    assert not all(torch.allclose(average[k], raw[-1][k], atol=1e-4) for k in average)
    assert all(torch.equal(model.state_dict()[k], validated[-1][k]) for k in average)
    best = tiny_net()
    load_weights(best, tmp_path / "ema" / "best.safetensors", name="tiny")
    assert all(torch.equal(best.state_dict()[k], validated[-1][k]) for k in average)
    with pytest.raises(NightvidError, match="ema"):
        LoopConfig(iters=1, ema=1.0)


def test_checkpoints_leave_no_temp_files(tmp_path: Path) -> None:
    run_fit(tmp_path, iters=8, checkpoint_every=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]


def test_loop_config_takes_the_loop_fields_a_recipe_carries() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Recipe:
        iters: int = 7
        threads: int | None = 1
        grad_clip: float | None = 0.5
        lr: float = 1e-3  # not a loop field

    config = LoopConfig.from_recipe(Recipe(), log_every=3, device="cpu")
    assert (config.iters, config.threads, config.grad_clip, config.log_every) == (7, 1, 0.5, 3)
    assert LoopConfig.from_recipe(Recipe(), iters=2).iters == 2  # settings win over the recipe


def test_seeded_batches_workers_match_in_process() -> None:
    plain = SeededBatches(draw, seed=1).iterate(5)
    first = [next(plain) for _ in range(3)]
    pooled = SeededBatches(draw, seed=1, workers=2).iterate(6)
    again = [next(pooled) for _ in range(2)]
    pooled.close()
    for a, b in zip(first[1:], again, strict=False):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=False))
    assert not torch.equal(torch.rand(3, generator=step_generator(1, 0)), torch.rand(3, generator=step_generator(1, 1)))


def test_schedules() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = cosine_schedule(10, warmup=2)(opt)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.5 and lrs[1] == 1.0 and lrs[-1] < 0.05
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = step_schedule([2, 4], gamma=0.1)(opt)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
