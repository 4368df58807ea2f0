"""PSNR, SSIM, L1 and TV on known values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nightvid.trainers.losses import L1Loss, TVLoss, l1_loss, tv_loss
from nightvid.trainers.metrics import evaluate, psnr, ssim, validator


def test_identical_images() -> None:
    x = torch.rand(2, 3, 24, 20)
    assert torch.equal(ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.isinf(psnr(x, x)).all()  # not capped


def test_psnr_known_value() -> None:
    x = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    assert psnr(x, x + 0.1).item() == pytest.approx(20.0)
    assert psnr(x, x + 25.5, data_range=255.0).item() == pytest.approx(20.0)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    a, b = torch.full((1, 3, 16, 16), 0.2), torch.full((1, 3, 16, 16), 0.5)
    c1 = 0.01**2
    assert ssim(a, b).item() == pytest.approx((2 * 0.2 * 0.5 + c1) / (0.2**2 + 0.5**2 + c1))


def test_ssim_falls_with_noise_and_is_symmetric() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=g)
    light = (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    heavy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert 1 > ssim(x, light).item() > ssim(x, heavy).item() > 0
    assert ssim(x, heavy).item() == pytest.approx(ssim(heavy, x).item())


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_evaluate_and_validator() -> None:
    pairs = [(torch.full((1, 3, 16, 16), 0.5), torch.full((1, 3, 16, 16), 0.6))] * 2
    scores = evaluate(lambda low: low, pairs)
    assert scores["psnr"] == pytest.approx(20.0, abs=1e-4)
    net = nn.Identity()
    net.input_range, net.size_multiple = (0.0, 1.0), 1
    assert validator(pairs)(net)["psnr"] == pytest.approx(20.0, abs=1e-4)


def test_losses() -> None:
    x = torch.zeros(2, 3, 4, 4)
    assert l1_loss(x, x + 0.5).item() == 0.5
    assert L1Loss(loss_weight=2.0)(x, x + 0.5).item() == 1.0
    assert tv_loss(x).item() == 0.0
    ramp = torch.arange(4.0).expand(1, 1, 4, 4)  # horizontal steps of 1: 4 rows x 3 diffs
    assert tv_loss(ramp).item() == pytest.approx(12 / 16)
    assert TVLoss(0.5)(ramp).item() == pytest.approx(6 / 16)
    with pytest.raises(ValueError, match="reduction"):
        L1Loss(reduction="avg")
    assert math.isfinite(tv_loss(torch.rand(1, 3, 5, 7)).item())


def test_colour_angle_loss_ignores_brightness_and_sees_lost_colour() -> None:
    from nightvid.trainers.losses import colour_angle_loss

    colour = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) + 0.1
    assert colour_angle_loss(colour * 0.3, colour).item() < 1e-6
    grey = colour.mean(dim=1, keepdim=True).expand_as(colour)
    assert colour_angle_loss(grey, colour).item() > 0.01
    black = torch.zeros_like(colour)
    assert torch.isfinite(colour_angle_loss(black, colour))


def test_dark_third_ssim_sees_noise_only_where_the_reference_is_dark() -> None:
    from nightvid.trainers.metrics import ssim

    torch.manual_seed(0)
    ramp = torch.linspace(0.05, 0.95, 96).view(1, 1, 1, 96).expand(1, 3, 64, 96).contiguous()
    target = (ramp + 0.05 * torch.sin(torch.arange(64.0)).view(1, 1, 64, 1)).clamp(0, 1)
    noisy_dark, noisy_bright = target.clone(), target.clone()
    noisy_dark[..., :32] += 0.08 * torch.randn_like(target[..., :32])  # the darkest third of the ramp
    noisy_bright[..., 64:] += 0.08 * torch.randn_like(target[..., 64:])
    dark_a = ssim(noisy_dark.clamp(0, 1), target, dark_third=True).item()
    dark_b = ssim(noisy_bright.clamp(0, 1), target, dark_third=True).item()
    assert dark_a < 0.6 < 0.99 < dark_b  # noise in the bright part does not touch the dark figure
    assert ssim(target, target, dark_third=True).item() == pytest.approx(1.0)
