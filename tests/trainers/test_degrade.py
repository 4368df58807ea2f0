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


def test_colour_cast_scales_channels_and_random_casts_keep_grey_luma() -> None:
    x = torch.full((1, 3, 4, 4), 0.2)
    torch.testing.assert_close(D.colour_cast(x, (1.5, 1.0, 0.5))[0, :, 0, 0], torch.tensor([0.3, 0.2, 0.1]))
    weights = torch.tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)
    for seed in range(5):
        cast = D.random_colour_cast(x, gen(seed), warmth=(0.5, 0.7))
        assert cast[0, 0, 0, 0] > cast[0, 1, 0, 0] > cast[0, 2, 0, 0]  # orange: red up, blue down
        assert (cast * weights).sum(dim=1).mean().item() == pytest.approx(0.2, abs=1e-6)
    with pytest.raises(ValueError):
        D.colour_cast(torch.ones(1, 1, 2, 2), (1.0, 1.0, 1.0))


def test_per_channel_noise_follows_the_white_balance_gains() -> None:
    x = torch.full((1, 3, 192, 192), 0.1)
    y = D.poisson_gaussian_noise(x, gain=0.004, read_sigma=0.01, generator=gen(), channel_gains=(2.0, 1.0, 3.0))
    for channel, k in enumerate((2.0, 1.0, 3.0)):
        assert y[0, channel].mean().item() == pytest.approx(0.1, abs=3e-3)
        assert y[0, channel].var().item() == pytest.approx(k * 0.004 * 0.1 + (k * 0.01) ** 2, rel=0.08)
    same = D.random_poisson_gaussian_noise(x, gen(), channel_gain=(1.0, 1.0))
    assert torch.equal(same, D.random_poisson_gaussian_noise(x, gen()))  # (1, 1): no extra draws


def test_h264_round_trip_is_deterministic_on_the_byte_grid_and_subsamples_chroma() -> None:
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64).contiguous()
    out = D.h264(ramp, 18)
    assert out.shape == ramp.shape and out.dtype == ramp.dtype
    assert (out * 255 - (out * 255).round()).abs().max() < 1e-4
    assert torch.equal(out, D.h264(ramp, 18))
    assert (out - ramp).abs().mean() < 3 / 255  # a smooth ramp survives a fine quality
    # 4:2:0: a one-pixel red line on grey keeps its luma but loses most of its colour.
    line = torch.full((1, 3, 32, 32), 0.5)
    line[0, :, 16, :] = torch.tensor([1.0, 0.2, 0.2]).view(3, 1)
    coded = D.h264(line, 0)
    redness = lambda img: (img[0, 0, 16] - img[0, 1, 16]).mean().item()  # noqa: E731
    assert redness(coded) < 0.6 * redness(line)
    # Odd sizes are padded and cropped back; a 3-D image stays 3-D.
    odd = torch.rand(3, 21, 33, generator=gen())
    assert D.h264(odd, 30).shape == odd.shape
    with pytest.raises(ValueError):
        D.h264(odd, 60)


def test_h264_turns_dark_noise_into_flat_blocks_more_at_higher_crf() -> None:
    noisy = (0.04 + 0.02 * torch.randn(1, 3, 64, 64, generator=gen())).clamp(0, 1)
    fine, coarse = D.h264(noisy, 20), D.h264(noisy, 40)
    assert (coarse - noisy).abs().mean() > (fine - noisy).abs().mean()
    detail = lambda img: (img[..., :, 1:] - img[..., :, :-1]).abs().mean().item()  # noqa: E731
    assert detail(coarse) < 0.5 * detail(noisy)


def test_night_video_pipeline_is_dark_deterministic_and_uses_every_step() -> None:
    clean = torch.rand(1, 3, 48, 48, generator=gen(1)) * 0.5 + 0.4
    config = D.LowLightConfig.night_video(cast_prob=1.0, h264_prob=1.0, blur_prob=1.0)
    low = D.synthesize_low_light(clean, gen(), config)
    assert low.shape == clean.shape and 0 <= low.min() and low.max() <= 1
    assert low.mean() < 0.6 * clean.mean()
    assert torch.equal(low, D.synthesize_low_light(clean, gen(), config))
    assert (low * 255 - (low * 255).round()).abs().max() < 1e-4  # went through the codec
    assert config.cast_prob == 1.0 and config.channel_gain == (1.0, 2.5)
    basic = D.synthesize_low_light(clean, gen(), D.LowLightConfig())
    assert not torch.equal(low, basic)
