"""`nightvid eval`: identical images score SSIM 1, baselines reproduce the published numbers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nightvid import nets
from nightvid.cli import app
from nightvid.nets.colour import luma
from nightvid.trainers.data import find_pairs, read_image
from nightvid.trainers.evaluate import evaluate_model, global_gain
from nightvid.trainers.metrics import psnr, ssim


@pytest.fixture
def same_pairs(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("low", "high"):
        (tmp_path / sub).mkdir()
    for i in range(2):
        img = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
        for sub in ("low", "high"):
            cv2.imwrite(str(tmp_path / sub / f"{i}.png"), img)
    return tmp_path


def test_identical_images_give_ssim_one(same_pairs: Path) -> None:
    report = evaluate_model(None, same_pairs)
    assert report.images == ["0.png", "1.png"]
    assert [s for _, s in report.scores["input"]] == [1.0, 1.0]
    assert report.mean("input")[0] == float("inf")
    assert set(report.scores) == {"input", "gamma", "global gain"}


def test_denoising_mode_is_seeded(same_pairs: Path) -> None:
    one = evaluate_model(None, same_pairs / "high", sigma=25)
    two = evaluate_model(None, same_pairs / "high", sigma=25)
    assert one.scores == two.scores and list(one.scores) == ["input"]
    assert 19.0 < one.mean("input")[0] < 23.0  # sigma 25 noise, clamped: about 20.5 dB


def test_cli_eval_json(same_pairs: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "noiser", "--data", str(same_pairs), "--json", "--limit", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "noiser" and len(report["methods"]["noiser"]["images"]) == 1
    assert report["methods"]["input"]["mean"]["ssim"] == 1.0
    table = CliRunner().invoke(app, ["eval", "noiser", "--data", str(same_pairs)])
    assert table.exit_code == 0 and "global gain" in table.stdout and "mean" in table.stdout


def test_eval_exposure_sets_the_models_brightness(same_pairs: Path) -> None:
    """--exposure 0.45 brings the model's result to the global gain's brightness; the
    report says which exposure ran, and a bad value is one error line."""
    dark = same_pairs / "dark"
    for sub in ("low", "high"):
        (dark / sub).mkdir(parents=True)
        for name in ("0.png", "1.png"):
            img = cv2.imread(str(same_pairs / sub / name))
            cv2.imwrite(str(dark / sub / name), img // 8 if sub == "low" else img)
    own = evaluate_model("noiser", dark, limit=1)
    matched = evaluate_model("noiser", dark, limit=1, exposure=0.45)
    assert own.exposure == "default" and matched.exposure == 0.45
    assert own.scores["noiser"] != matched.scores["noiser"]
    net = nets.build_enhancer("noiser", exposure="0.45")
    with torch.no_grad():
        assert abs(float(luma(net(read_image(dark / "low" / "0.png")[None])).mean()) - 0.45) < 0.03
    result = CliRunner().invoke(
        app, ["eval", "noiser", "--data", str(dark), "--json", "--limit", "1", "--exposure", "0.45"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["exposure"] == 0.45
    bad = CliRunner().invoke(app, ["eval", "noiser", "--data", str(dark), "--exposure", "2"])
    assert bad.exit_code == 1 and "error:" in bad.output and "Traceback" not in bad.output


def test_cli_eval_without_weights_fails_cleanly(same_pairs: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "noiser", "--data", str(same_pairs), "--weights", str(tmp_path / "x")])
    assert result.exit_code == 1 and "not found" in result.output


def test_global_gain_on_sice_eval_matches_the_published_baseline(shared_data: Path) -> None:
    """PSNR 18.44 as published; SSIM 0.7079 here against the 0.709 quoted in the issue."""
    scores = []
    for low, high in find_pairs(shared_data / "pairs" / "SICE" / "eval"):
        out, ref = global_gain(read_image(low)[None]), read_image(high)[None]
        scores.append((psnr(out, ref).item(), ssim(out, ref).item()))
    mean_psnr = sum(p for p, _ in scores) / len(scores)
    mean_ssim = sum(s for _, s in scores) / len(scores)
    assert len(scores) == 13
    assert mean_psnr == pytest.approx(18.44, abs=0.005)
    assert mean_ssim == pytest.approx(0.709, abs=0.0015)
    assert torch.isfinite(torch.tensor(mean_psnr))


def test_eval_reports_progress_per_image(same_pairs: Path) -> None:
    calls: list[tuple[int, int | None, str]] = []
    evaluate_model(None, same_pairs, on_progress=lambda *a: calls.append(a))
    assert calls == [(0, 2, ""), (1, 2, "0.png"), (2, 2, "1.png")]
    shown = CliRunner().invoke(app, ["eval", "noiser", "--data", str(same_pairs), "--limit", "1"])
    assert shown.exit_code == 0, shown.output
    assert "eval noiser: 0/1 image, " in shown.stderr and "eval noiser: 1/1 image, " in shown.stderr
