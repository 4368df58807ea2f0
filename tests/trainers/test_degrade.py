"""Degradations on known inputs."""

from __future__ import annotations

import pytest
import torch

from nightvid.trainers import degrade as D


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_srgb_linear_round_trip_and_known_values() -> None:
    x = torch.linspace(0, 1, 101)
    torch.testing.assert_close(D.linear_to_srgb(D.srgb_to_linear(x)), x, atol=1e-5, rtol=0)
    assert D.srgb_to_linear(torch.tensor(0.5)).item() == pytest.approx(0.21404, abs=1e-5)
    assert D.srgb_to_linear(torch.tensor(0.04)).item() == pytest.approx(0.04 / 12.92)


def test_exposure_scales_linear_light() -> None:
    srgb = torch.rand(2, 3, 8, 8, generator=gen())
    linear = D.srgb_to_linear(srgb)
    torch.testing.assert_close(D.reduce_exposure(linear, 0.1), linear * 0.1)
    per_image = D.reduce_exposure(linear, torch.tensor([0.5, 0.25]))
    torch.testing.assert_close(per_image[1], linear[1] * 0.25)
    darker = D.random_reduce_exposure(linear, gen(), factor=(0.1, 0.2))
    ratio = (darker / linear.clamp_min(1e-6))[linear > 1e-3]
    assert torch.allclose(ratio, ratio[0]) and 0.1 <= ratio[0].item() <= 0.2


def test_poisson_gaussian_statistics() -> None:
    x = torch.full((1, 3, 128, 128), 0.2)
    y = D.poisson_gaussian_noise(x, gain=0.01, read_sigma=0.02, generator=gen())
    assert y.mean().item() == pytest.approx(0.2, abs=2e-3)
    assert y.var().item() == pytest.approx(0.01 * 0.2 + 0.02**2, rel=0.05)
    again = D.poisson_gaussian_noise(x, gain=0.01, read_sigma=0.02, generator=gen())
    assert torch.equal(y, again)


def test_gaussian_noise_statistics() -> None:
    x = torch.full((1, 3, 128, 128), 0.5)
    y = D.add_gaussian_noise(x, 25 / 255, generator=gen())
    assert (y - x).mean().item() == pytest.approx(0.0, abs=2e-3)
    assert (y - x).std().item() == pytest.approx(25 / 255, rel=0.03)
    assert D.add_gaussian_noise(x, 2.0, generator=gen(), clip=True).max() <= 1.0


def test_blur_kernel_sums_to_one_and_shifts_like_frames() -> None:
    path = D.random_trajectory(gen(), length=(8.0, 8.0))
    assert path.shape == (32, 2)
    torch.testing.assert_close(path.mean(dim=0), torch.zeros(2), atol=1e-5, rtol=0)
    kernel = D.motion_blur_kernel(path)
    assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6) and kernel.min() >= 0
    # One integer shift (dy=1, dx=2) moves the content down 1 and right 2.
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 4, 4] = 1.0
    moved = D.blur_by_trajectory(img, torch.tensor([[1.0, 2.0]]))
    assert moved[0, 0, 5, 6] == 1.0 and moved.sum() == 1.0
    # Two shifts average the two shifted frames.
    both = D.blur_by_trajectory(img, torch.tensor([[0.0, -1.0], [0.0, 1.0]]))
    assert both[0, 0, 4, 3] == 0.5 and both[0, 0, 4, 5] == 0.5
    flat = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(D.random_motion_blur(flat, gen()), flat)  # blur keeps a flat image


def test_jpeg_round_trip() -> None:
    x = torch.rand(2, 3, 16, 24, generator=gen())
    y = D.jpeg(x, 90)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert (y * 255 - (y * 255).round()).abs().max() < 1e-4
    single = D.jpeg(x[0], 90)
    assert single.shape == x[0].shape and torch.equal(single, y[0])
    smooth = torch.full((1, 3, 16, 16), 0.5)
    assert (D.jpeg(smooth, 95) - smooth).abs().max() < 2 / 255


def test_synthetic_low_light_is_dark_deterministic_and_in_range() -> None:
    clean = torch.rand(1, 3, 32, 32, generator=gen(1)) * 0.5 + 0.4
    config = D.LowLightConfig(blur_prob=1.0, jpeg_prob=1.0)
    low = D.synthesize_low_light(clean, gen(), config)
    assert low.shape == clean.shape and 0 <= low.min() and low.max() <= 1
    assert low.mean() < 0.6 * clean.mean()
    assert torch.equal(low, D.synthesize_low_light(clean, gen(), config))
