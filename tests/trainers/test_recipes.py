"""KinD, LEDNet and denoiser recipes on tiny data: loss falls, files appear, resume is exact."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from nightvid import nets
from nightvid.errors import NightvidError
from nightvid.nets.vgg import TinyClassifier
from nightvid.trainers import recipes
from nightvid.trainers.denoiser import DenoiserRecipe, make_high_level, train_denoiser
from nightvid.trainers.kind import KinDRecipe, StageRecipe, decom_loss, output_loss, restoration_loss, train_kind
from nightvid.trainers.lednet import LEDNetRecipe, edge_loss, train_lednet
from nightvid.trainers.loop import save_weights
from nightvid.trainers.metrics import psnr, validator
from nightvid.trainers.perceptual import perceptual_loss


class Stop(Exception):
    pass


def _photo(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth colourful 8-bit BGR image (blurred noise plus a gradient)."""
    base = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 3)
    base = (base - base.min()) / (base.max() - base.min() + 1e-6)
    ramp = np.linspace(0, 1, size, dtype=np.float32)[None, :, None]
    return (255 * (0.6 * base + 0.4 * ramp)).astype(np.uint8)


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(0)
    for i in range(6):
        cv2.imwrite(str(folder / f"{i}.png"), _photo(rng, 48))
    return folder


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    (root / "low").mkdir()
    (root / "high").mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        high = _photo(rng, 40)
        cv2.imwrite(str(root / "high" / f"{i}.png"), high)
        cv2.imwrite(str(root / "low" / f"{i}.png"), (high * 0.15).astype(np.uint8))
    return root


def _train_losses(records: list[dict], stage: str | None = None) -> list[float]:
    return [r["loss"] for r in records if r["event"] == "train" and r.get("stage") == stage]


TINY_DENOISER = DenoiserRecipe.cpu_reduced(
    iters=12,
    batch=2,
    patch=24,
    warmup=0,
    val_images=1,
    val_crop=None,
    validate_every=6,
    threads=1,
    hl_classes=3,
    hl_patch=16,
    hl_iters=4,
    hl_batch=4,
)
#: A few steps on 32 px patches of the tiny folders, no validation until the end; tests vary it with replace().
TINY_LEDNET = LEDNetRecipe.cpu_reduced(
    iters=8, batch=1, patch=32, val_images=1, val_crop=None, validate_every=0, warmup=0, threads=1
)


def test_denoiser_loss_falls_and_writes_card(clean_dir: Path, tmp_path: Path) -> None:
    seen: list[dict] = []
    best = train_denoiser(TINY_DENOISER, clean_dir, tmp_path, on_log=seen.append, log_every=4)
    losses = _train_losses(seen)
    assert losses[-1] < losses[0]
    card = nets.read_model_card(best)
    assert card["iterations"] == 12 and card["seed"] == 0 and card["recipe"]["sigma"] == 25.0
    assert card["metrics"]["validation_best"]["psnr"] is not None and "ssim" in card["metrics"]["validation_last"]
    nets.build_enhancer("denoiser", weights=best)


def test_denoiser_resume_equals_uninterrupted(clean_dir: Path, tmp_path: Path) -> None:
    recipe = DenoiserRecipe.cpu_reduced(
        iters=6, batch=2, patch=16, val_images=1, val_crop=None, validate_every=3, threads=1
    )
    whole = train_denoiser(recipe, clean_dir, tmp_path / "whole", checkpoint_every=2, log_every=1)

    def kill(record: dict) -> None:
        if record["event"] == "train" and record["step"] == 5:
            raise Stop

    with pytest.raises(Stop):
        train_denoiser(recipe, clean_dir, tmp_path / "cut", checkpoint_every=2, log_every=1, on_log=kill)
    cut = train_denoiser(recipe, clean_dir, tmp_path / "cut", checkpoint_every=2, log_every=1, resume=True)
    assert (whole.parent / "final.safetensors").read_bytes() == (cut.parent / "final.safetensors").read_bytes()
    assert whole.read_bytes() == cut.read_bytes()


def test_joint_training_updates_only_the_denoiser(clean_dir: Path, tmp_path: Path) -> None:
    recipe = replace(TINY_DENOISER, iters=3, task="classify", validate_every=0)
    seen: list[dict] = []
    best = train_denoiser(recipe, clean_dir, tmp_path, on_log=seen.append, log_every=1)
    assert "classify" in next(r for r in seen if r["event"] == "train")
    high_level = tmp_path / "high_level.safetensors"
    before = high_level.read_bytes()
    card = nets.read_model_card(best)
    assert "TinyClassifier" in card["high_level"]["net"] and "clean image" in card["task_labels"]
    # the frozen net is reused, unchanged, on resume of a finished run
    train_denoiser(recipe, clean_dir, tmp_path, resume=True)
    assert high_level.read_bytes() == before


def test_offline_segmenter_is_frozen_and_per_pixel(clean_dir: Path, tmp_path: Path) -> None:
    net, what = make_high_level(replace(TINY_DENOISER, task="segment"), sorted(clean_dir.iterdir()), tmp_path)
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 3, 16, 16)
    assert not any(p.requires_grad for p in net.parameters()) and not net.train().training
    assert 0.0 <= what["accuracy_fresh_draws"] <= 1.0


def test_kind_stages_train_and_assemble(pairs_dir: Path, tmp_path: Path) -> None:
    stage = StageRecipe(iters=8, batch=2, patch=32, lr=1e-3)
    recipe = KinDRecipe(
        decom=stage,
        adjust=stage,
        restoration=StageRecipe(iters=2, batch=1, patch=32),
        val_pairs=1,
        val_crop=None,
        validate_every=0,
        threads=1,
    )
    seen: list[dict] = []
    best = train_kind(recipe, pairs_dir, tmp_path, on_log=seen.append, log_every=4)
    for name in ("decom", "adjust"):
        losses = _train_losses(seen, name)
        assert losses[-1] < losses[0], name
    assert [r["stage"] for r in seen if r["event"] == "val"] == ["restoration"]
    card = nets.read_model_card(best)
    assert card["iterations"] == {"decom": 8, "adjust": 8, "restoration": 2}
    net = nets.build_enhancer("kind", weights=best)
    assert net(torch.rand(1, 3, 33, 35)).shape == (1, 3, 33, 35)


def _random_kind(seed: int, folder: Path) -> tuple[torch.nn.Module, Path]:
    """A KinD with small random weights and its file, to start a next phase from."""
    start = nets.build("kind")
    torch.manual_seed(seed)
    for param in start.parameters():
        param.data.normal_(0.0, 0.05)
    return start, save_weights(start, folder / "start.safetensors", model_name="kind")


def _restoration_phase(init: Path, restoration: StageRecipe, **fields) -> KinDRecipe:
    """A next KinD phase on the tiny pairs: the loaded decomposition and adjustment kept
    (0 steps), ``restoration`` trained, one full-size pair held out."""
    return KinDRecipe(
        decom=StageRecipe(iters=0, batch=2, patch=32),
        adjust=StageRecipe(iters=0, batch=2, patch=32),
        restoration=restoration,
        val_pairs=1,
        val_crop=None,
        threads=1,
        init=str(init),
        **fields,
    )


def test_kind_next_phase_keeps_loaded_stages_and_mixes_well_exposed_pairs(pairs_dir: Path, tmp_path: Path) -> None:
    start, init = _random_kind(3, tmp_path)
    recipe = _restoration_phase(init, StageRecipe(iters=2, batch=2, patch=32), validate_every=0, bright_share=0.5)
    best = train_kind(recipe, pairs_dir, tmp_path / "run")
    tuned = nets.build("kind")
    nets.load_weights(tuned, best, name="kind")
    for stage in ("decom", "adjust"):  # 0 steps: exactly as loaded
        before, after = getattr(start, stage).state_dict(), getattr(tuned, stage).state_dict()
        assert all(torch.equal(before[key], after[key]) for key in before), stage
    before, after = start.restoration.state_dict(), tuned.restoration.state_dict()
    assert any(not torch.equal(before[key], after[key]) for key in before)
    card = nets.read_model_card(best)
    assert card["iterations"] == {"restoration": 2} and card["recipe"]["bright_share"] == 0.5
    with pytest.raises(NightvidError, match="init"):
        train_kind(replace(recipe, init=None), pairs_dir, tmp_path / "bad")
    with pytest.raises(NightvidError, match="bright_share"):
        train_kind(replace(recipe, bright_share=1.5), pairs_dir, tmp_path / "bad")


def test_kind_output_objective_trains_restoration_through_the_shipped_pipeline(pairs_dir: Path, tmp_path: Path) -> None:
    start, init = _random_kind(4, tmp_path)
    recipe = _restoration_phase(
        init,
        StageRecipe(iters=6, batch=2, patch=32, lr=1e-3),
        validate_every=3,
        objective="output",
        val_as_shipped=True,
    )
    seen: list[dict] = []
    best = train_kind(recipe, pairs_dir, tmp_path / "run", on_log=seen.append, log_every=1)
    losses = _train_losses(seen, "restoration")
    assert len(losses) == 6 and all(np.isfinite(losses))
    tuned = nets.build("kind")
    nets.load_weights(tuned, best, name="kind")
    before, after = start.restoration.state_dict(), tuned.restoration.state_dict()
    assert any(not torch.equal(before[key], after[key]) for key in before)
    assert all(torch.equal(start.decom.state_dict()[k], v) for k, v in tuned.decom.state_dict().items())
    assert [r["step"] for r in seen if r["event"] == "val"] == [3, 6]
    # validation as shipped scores what `nightvid eval` runs: the registry's steps around the net
    low = torch.rand(1, 3, 32, 32) * 0.2
    high = torch.rand(1, 3, 32, 32)
    as_eval = validator([(low, high)], wrap=lambda net: nets.as_shipped(net, "kind"))(start)
    shipped = nets.build_enhancer("kind", weights=init)
    with torch.no_grad():
        assert as_eval["psnr"] == pytest.approx(psnr(shipped(low), high).item(), abs=1e-6)
        assert as_eval["psnr"] != pytest.approx(psnr(nets.Enhancer(start)(low), high).item(), abs=1e-3)
    card = nets.read_model_card(best)
    assert card["recipe"]["objective"] == "output"
    with pytest.raises(NightvidError, match="objective"):
        train_kind(replace(recipe, objective="bogus"), pairs_dir, tmp_path / "bad")


def test_kind_validates_and_keeps_the_restorations_average(pairs_dir: Path, tmp_path: Path) -> None:
    _, init = _random_kind(5, tmp_path)
    recipe = _restoration_phase(init, StageRecipe(iters=4, batch=2, patch=32, lr=1e-3), validate_every=4, ema=0.5)
    seen: list[dict] = []
    best = train_kind(recipe, pairs_dir, tmp_path / "run", on_log=seen.append)
    (scored,) = [r["psnr"] for r in seen if r["event"] == "val"]
    low, high = (
        torch.from_numpy(cv2.imread(str(pairs_dir / side / "3.png"))[..., ::-1].copy()).permute(2, 0, 1)[None] / 255.0
        for side in ("low", "high")
    )
    held = validator([(low, high)])
    kept = nets.build("kind")
    nets.load_weights(kept, best, name="kind")
    assert held(kept)["psnr"] == pytest.approx(scored, abs=1e-4)  # the average was scored and kept
    last_step = nets.build("kind")
    nets.load_weights(last_step, best, name="kind")
    raw = torch.load(tmp_path / "run" / "restoration" / "checkpoint.pt", weights_only=True)["state"]["model"]
    last_step.restoration.load_state_dict(raw)
    assert held(last_step)["psnr"] != pytest.approx(scored, abs=1e-3)


def test_kind_output_loss_ignores_the_brightness_it_is_given() -> None:
    target = torch.rand(2, 3, 24, 24) * 0.8 + 0.1
    for scale in (0.4, 0.6):  # a dimmer copy: mostly forgiven, not a wrong picture
        copy = (target * scale).clamp(0, 1)
        assert output_loss(copy, target)[0].item() < 0.5 * restoration_loss(copy, target)[0].item()
    assert output_loss(torch.rand(2, 3, 24, 24), target)[0].item() > 3 * output_loss(target * 0.4, target)[0].item()


def test_decom_loss_terms_use_the_paper_weights() -> None:
    r, l_, x = torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 8), torch.rand(1, 3, 8, 8)
    total, terms = decom_loss(r, l_, r, l_, x, x)
    expected = terms["recon"] + 0.01 * terms["similarity"] + 0.15 * terms["smooth"] + 0.2 * terms["mutual"]
    assert torch.allclose(total, expected)
    assert terms["similarity"] == 0


def test_lednet_loss_falls_with_the_edge_substitute(clean_dir: Path, tmp_path: Path) -> None:
    recipe = replace(TINY_LEDNET, blur_prob=0.5)
    seen: list[dict] = []
    best = train_lednet(recipe, clean_dir, tmp_path, on_log=seen.append, log_every=4)
    losses = _train_losses(seen)
    assert losses[-1] < losses[0]
    assert "edge_side" in next(r for r in seen if r["event"] == "train")
    card = nets.read_model_card(best)
    assert "INSTEAD" in card["loss"] and card["data"]["kind"].startswith("synthetic")


def test_edge_and_perceptual_losses() -> None:
    x = torch.rand(2, 3, 16, 16)
    assert edge_loss(x, x + 0.25) < 1e-6 and edge_loss(x, x.flip(-1)) > 0
    vgg = TinyClassifier().eval()
    layers = {"conv1_1": 1.0, "conv2_1": 0.5}
    assert perceptual_loss(vgg, x, x, layers) == 0
    pred = x.clone().requires_grad_(True)
    loss = perceptual_loss(vgg, pred, x.flip(-1), layers)
    loss.backward()
    assert loss > 0 and pred.grad is not None


def test_make_recipe_maps_options_onto_fields() -> None:
    kind = recipes.trainer("kind").make("cpu", iters=7, patch=40)
    assert (kind.decom.iters, kind.adjust.iters, kind.restoration.iters) == (7, 7, 7)
    assert kind.restoration.patch == 40 and recipes.trainer("kind").total_iters(kind) == 21
    assert recipes.trainer("kind").progress_step(kind, {"step": 2, "stage": "restoration"}) == 16
    assert recipes.trainer("denoiser").make("paper").iters == DenoiserRecipe().iters
    assert recipes.trainer("lednet").make("cpu", vgg19=None, iters=5).iters == 5
    with pytest.raises(NightvidError, match="no field"):
        recipes.trainer("lednet").make("cpu", sigma=3)
    with pytest.raises(NightvidError, match="classify or segment"):
        recipes.trainer("denoiser").make("cpu", task="detect")


def test_one_registry_row_per_model_noiser_included(tmp_path: Path) -> None:
    assert tuple(recipes.trainers()) == recipes.RECIPES == ("noiser", "lednet", "kind", "denoiser")
    assert [name for name in recipes.RECIPES if not recipes.trainer(name).needs_data] == ["noiser"]
    noiser = recipes.trainer("noiser")
    recipe = noiser.make("cpu", iters=4, patch=16, sigma=2.0, batch=None)
    assert recipe == noiser.make("paper", iters=4, patch=16, sigma=2.0)  # the paper's recipe fits a CPU
    assert noiser.total_iters(recipe) == 4 and noiser.progress_step(recipe, {"step": 3}) == 3
    with pytest.raises(NightvidError, match="noiser recipe has no field"):
        noiser.make(vgg19="x.safetensors")
    with pytest.raises(NightvidError, match="without data"):
        noiser.run(recipe, tmp_path, tmp_path / "run")
    with pytest.raises(NightvidError, match="needs training data"):
        recipes.trainer("lednet").run(recipes.trainer("lednet").make(), None, tmp_path / "run")
    with pytest.raises(NightvidError, match="no recipe 'zero-dce'; available: noiser, lednet, kind, denoiser"):
        recipes.trainer("zero-dce")
    with pytest.raises(NightvidError, match="preset must be one of"):
        recipes.trainer("kind").make("gpu")
    seen: list[dict] = []
    weights = noiser.run(recipe, None, tmp_path / "run", on_log=seen.append)
    assert weights == tmp_path / "run" / "best.safetensors"
    assert [noiser.progress_step(recipe, r) for r in seen if r["event"] == "train"] == [4]
    assert nets.read_model_card(weights)["recipe"]["sigma"] == 2.0


def test_set_reaches_any_field_with_its_type() -> None:
    kind = recipes.apply_settings(
        recipes.trainer("kind").make("cpu", iters=7), ["restoration.lr=1e-4", "decom.iters=3", "similarity_weight=0.02"]
    )
    assert kind.restoration.lr == 1e-4 and kind.restoration.iters == 7  # --iters kept, lr set
    assert kind.decom.iters == 3 and kind.similarity_weight == 0.02
    led = recipes.apply_settings(recipes.trainer("lednet").make(), ["betas=0.9,0.999", "grad_clip=none", "seed=4"])
    assert led.betas == (0.9, 0.999) and led.grad_clip is None and led.seed == 4
    for bad, message in (
        (["nope=1"], "no field 'nope'"),
        (["lr"], "KEY=VALUE"),
        (["iters=1.5"], "as int"),
        (["x.iters=1"], "no stage"),
    ):
        with pytest.raises(NightvidError, match=message):
            recipes.apply_settings(recipes.trainer("lednet").make(), bad)


def test_cli_train_denoiser(clean_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nightvid.cli import app

    args = [
        "train",
        "denoiser",
        "--data",
        str(clean_dir),
        "--out",
        str(tmp_path),
        "--iters",
        "2",
        "--batch",
        "1",
        "--patch",
        "16",
        "--set",
        "lr=3e-4",
        "-q",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("best.safetensors")
    card = nets.read_model_card(tmp_path / "best.safetensors")
    assert card["recipe"]["patch"] == 16 and card["recipe"]["lr"] == 3e-4
    again = CliRunner().invoke(app, args)  # an existing run is not overwritten without --resume
    assert again.exit_code == 1 and "resume" in again.output


# The user-supplied torchvision files. Random weights in torchvision's key layout: what
# is tested is that the files load and the recipes train with them, not their quality.


def test_lednet_trains_with_a_vgg19_file(clean_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from nightvid.nets.vgg import VGG19Features

    torch.manual_seed(0)
    path = tmp_path / "vgg19-torchvision.safetensors"
    save_file(VGG19Features().state_dict(), str(path))
    recipe = replace(TINY_LEDNET, iters=3, patch=64, vgg19=str(path))
    with pytest.raises(NightvidError, match="at least 64 px"):
        train_lednet(replace(recipe, patch=32), clean_dir, tmp_path / "small")
    seen: list[dict] = []
    best = train_lednet(recipe, clean_dir, tmp_path / "run", on_log=seen.append, log_every=1)
    record = next(r for r in seen if r["event"] == "train")
    assert record["perceptual_out"] > 0 and record["perceptual_side"] > 0 and "edge_out" not in record
    card = nets.read_model_card(best)
    assert "VGG-19 perceptual" in card["loss"] and "INSTEAD" not in card["loss"]


def test_joint_denoiser_trains_with_a_vgg16_file(clean_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from nightvid.nets.vgg import VGG16

    torch.manual_seed(0)
    vgg = VGG16()
    path = tmp_path / "vgg16-torchvision.safetensors"
    save_file(vgg.state_dict(), str(path))
    del vgg
    recipe = replace(TINY_DENOISER, iters=2, patch=32, task="classify", validate_every=0, vgg16=str(path))
    seen: list[dict] = []
    best = train_denoiser(recipe, clean_dir, tmp_path / "run", on_log=seen.append, log_every=1)
    assert "classify" in next(r for r in seen if r["event"] == "train")
    card = nets.read_model_card(best)
    assert "VGG-16" in json.dumps(card)


def test_lednet_fine_tunes_from_init_weights(clean_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(123)
    start = nets.build("lednet")
    path = tmp_path / "start.safetensors"
    save_file(start.state_dict(), str(path), metadata={"model": "lednet"})
    recipe = replace(TINY_LEDNET, iters=2, lr=0.0, init=str(path))
    best = train_lednet(recipe, clean_dir, tmp_path / "run")
    tuned = nets.build("lednet")
    nets.load_weights(tuned, best, name="lednet")
    for (name, a), b in zip(start.state_dict().items(), tuned.state_dict().values(), strict=False):
        assert torch.equal(a, b), name  # lr 0: the run ends where it started, not at a random init


def test_lednet_mixes_real_pairs_with_night_video_synthesis_and_colour_loss(
    pairs_dir: Path, clean_dir: Path, tmp_path: Path
) -> None:
    recipe = replace(
        TINY_LEDNET,
        iters=4,
        batch=2,
        synthetic=str(clean_dir),
        synthetic_share=0.5,
        degradation="night_video",
        colour_weight=0.5,
        cpu_bf16=True,
    )
    seen: list[dict] = []
    best = train_lednet(recipe, pairs_dir, tmp_path, on_log=seen.append, log_every=2)
    train = [r for r in seen if r["event"] == "train"]
    assert all(r["colour_out"] > 0 for r in train)
    card = nets.read_model_card(best)
    assert card["data"]["kind"] == "real pairs mixed with synthetic low light"
    assert card["data"]["synthetic_share"] == 0.5 and "h264_prob=0.6" in card["data"]["degradation"]
    with pytest.raises(NightvidError, match="degradation"):
        train_lednet(LEDNetRecipe.cpu_reduced(degradation="snow"), pairs_dir, tmp_path / "bad")


def test_lednet_bright_share_mixes_in_the_references_as_well_exposed_inputs(pairs_dir: Path, tmp_path: Path) -> None:
    from nightvid.trainers.data import MixedPairs, WellExposed
    from nightvid.trainers.lednet import lednet_datasets

    plain, _, _ = lednet_datasets(replace(TINY_LEDNET, bright_share=0.0), pairs_dir)
    train, _, described = lednet_datasets(replace(TINY_LEDNET, bright_share=0.25), pairs_dir)
    assert isinstance(train, MixedPairs) and isinstance(train.synthetic, WellExposed)
    assert len(train) == len(plain) + round(len(plain) / 3) and described["bright_share"] == 0.25
    with pytest.raises(NightvidError, match="bright_share"):
        lednet_datasets(replace(TINY_LEDNET, bright_share=1.0), pairs_dir)


def test_denoiser_trains_on_brightened_night_frames(clean_dir: Path, tmp_path: Path) -> None:
    from nightvid.trainers.data import Augment, BrightenedNight

    pairs = BrightenedNight(sorted(clean_dir.iterdir()), augment=Augment(crop=32))
    noisy, clean = pairs.sample(0, torch.Generator().manual_seed(0))
    assert noisy.shape == clean.shape == (3, 32, 32)
    assert noisy.mean().item() == pytest.approx(clean.mean().item(), abs=0.03)  # brightness matched
    assert (noisy - clean).abs().mean() > 0.01  # the damage is left to remove
    recipe = DenoiserRecipe.cpu_reduced(
        iters=6, batch=2, patch=32, val_images=1, val_crop=None, validate_every=0, threads=1, noise="night_video"
    )
    best = train_denoiser(recipe, clean_dir, tmp_path, log_every=3)
    assert "brightened" in nets.read_model_card(best)["data"]["pairs"]
    with pytest.raises(NightvidError, match="noise must be"):
        train_denoiser(DenoiserRecipe.cpu_reduced(noise="pink"), clean_dir, tmp_path / "bad")


def test_lednet_ssim_weight_adds_a_one_minus_ssim_term() -> None:
    from nightvid.nets.lednet import LEDNet
    from nightvid.trainers.lednet import lednet_loss

    torch.manual_seed(0)
    net = LEDNet()
    batch = (torch.rand(1, 3, 32, 32) * 0.2, torch.rand(1, 3, 32, 32))
    plain, terms = lednet_loss(net, batch, recipe=replace(TINY_LEDNET, ssim_weight=0.0), perceptual=None)
    with_ssim, ssim_terms = lednet_loss(net, batch, recipe=replace(TINY_LEDNET, ssim_weight=0.5), perceptual=None)
    assert "dssim_out" not in terms and 0 < float(ssim_terms["dssim_out"]) <= 2
    assert float(with_ssim) == pytest.approx(float(plain) + 0.5 * float(ssim_terms["dssim_out"]), rel=1e-4)


def test_denoiser_mixed_noise_is_half_gaussian_half_night_video(clean_dir: Path) -> None:
    from nightvid.trainers.data import Augment, MixedPairs
    from nightvid.trainers.denoiser import NOISES

    files = sorted(clean_dir.iterdir())
    mixed = NOISES["mixed"](files, 25 / 255, Augment(crop=32))
    assert isinstance(mixed, MixedPairs) and len(mixed) == 2 * len(files)


def test_lednet_output_objective_scores_the_shipped_pipeline_at_the_references_brightness(
    pairs_dir: Path, tmp_path: Path
) -> None:
    from nightvid.trainers.lednet import lednet_loss

    torch.manual_seed(5)
    net = nets.build("lednet")
    low = torch.rand(2, 3, 32, 32) * 0.15
    high = torch.rand(2, 3, 32, 32) * 0.6 + 0.2
    recipe = replace(TINY_LEDNET, objective="output")
    total, terms = lednet_loss(net, (low, high), recipe=recipe, perceptual=None)
    total.backward()
    assert torch.isfinite(total) and set(terms) >= {"l1_out", "l1_side", "edge_out"}
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    # the same net scored as an image: another figure (the shipped steps and the brightness differ)
    plain, _ = lednet_loss(net, (low, high), recipe=replace(recipe, objective="image"), perceptual=None)
    assert abs(plain.item() - total.item()) > 1e-3
    seen: list[dict] = []
    run = replace(recipe, iters=2, val_images=1, validate_every=2, val_crop=None, val_as_shipped=True, val_scenes=True)
    best = train_lednet(run, pairs_dir, tmp_path / "run", on_log=seen.append, log_every=1)
    assert nets.read_model_card(best)["recipe"]["objective"] == "output"
    assert [r["event"] for r in seen].count("val") == 1
    with pytest.raises(NightvidError, match="objective"):
        train_lednet(replace(recipe, objective="bogus"), pairs_dir, tmp_path / "bad")
