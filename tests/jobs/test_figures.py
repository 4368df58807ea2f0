"""No-reference figures on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from nightvid.jobs.compare import figures as F


def test_mean_luma_and_clipped_on_flat_frames() -> None:
    frame = np.zeros((10, 10, 3), np.uint8)
    frame[:, :, 1] = 100
    assert F.mean_luma(frame) == pytest.approx(71.52)
    frame[:5] = 255
    assert F.clipped(frame) == 0.5


def test_colourfulness_is_zero_for_grey_and_grows_with_saturation() -> None:
    grey = np.full((8, 8, 3), 90, np.uint8)
    assert F.colourfulness(grey) == 0.0
    pale = grey.copy()
    pale[:, :4] = (120, 80, 70)
    vivid = grey.copy()
    vivid[:, :4] = (200, 40, 20)
    assert 0 < F.colourfulness(pale) < F.colourfulness(vivid)


def test_colour_vs_gain_is_one_for_a_plain_gain_and_low_for_a_washed_out_output() -> None:
    rng = np.random.default_rng(0)
    source = (rng.random((32, 32, 3)) * 40).astype(np.uint8)
    gained = np.clip(source.astype(np.float32) * 3, 0, 255).round().astype(np.uint8)
    assert F.colour_vs_gain(gained, source) == pytest.approx(1.0, abs=0.02)
    washed = np.repeat(F.luma(gained)[..., None], 3, axis=-1).round().astype(np.uint8)
    assert F.colour_vs_gain(washed, source) < 0.1


def test_noise_sigma_reads_gaussian_noise_and_ignores_black() -> None:
    rng = np.random.default_rng(1)
    noisy = np.clip(120 + rng.normal(0, 6, (160, 160, 1)), 0, 255).repeat(3, axis=-1).astype(np.uint8)
    assert F.noise_sigma(noisy) == pytest.approx(6.0, rel=0.15)
    clean = np.full((160, 160, 3), 120, np.uint8)
    assert F.noise_sigma(clean) == 0.0
    black = np.zeros((160, 160, 3), np.uint8)
    assert F.noise_sigma(black) == 0.0


def test_border_excess_sees_a_bright_ring_and_not_content() -> None:
    frame = np.full((40, 60, 3), 40, np.uint8)
    assert F.border_excess(frame) == 0.0
    ringed = frame.copy()
    ringed[0, :] = ringed[-1, :] = ringed[:, 0] = ringed[:, -1] = 80
    assert F.border_excess(ringed) == pytest.approx(40 / F.mean_luma(ringed), rel=1e-3)  # ring 40 levels up
    assert F.border_excess(np.zeros((4, 4, 3), np.uint8)) == 0.0


def test_flicker_is_zero_for_steady_change_and_positive_for_pulsing() -> None:
    steady = [np.full((4, 4, 3), v, np.uint8) for v in (10, 20, 30, 40)]
    pulsing = [np.full((4, 4, 3), v, np.uint8) for v in (10, 40, 10, 40)]
    assert F.flicker(steady) == 0.0
    assert F.flicker(pulsing) == pytest.approx(float(np.std([30, -30, 30])))
    assert F.flicker(steady[:2]) is None


def test_temporal_noise_rises_with_boiling_and_stays_for_a_gain() -> None:
    rng = np.random.default_rng(0)
    scene = np.full((40, 60, 3), 30.0)
    noisy = [np.clip(scene + rng.normal(0, 4, scene.shape), 0, 255).astype(np.uint8) for _ in range(6)]
    boiling = [np.clip(scene + rng.normal(0, 12, scene.shape), 0, 255).astype(np.uint8) for _ in range(6)]
    gained = [np.clip(f.astype(np.float32) * 3, 0, 255).astype(np.uint8) for f in noisy]
    assert F.temporal_noise(noisy[:1]) is None
    assert F.temporal_noise(boiling) > 2 * F.temporal_noise(noisy)
    assert F.temporal_noise(gained) == pytest.approx(F.temporal_noise(noisy), rel=0.05)


def test_dark_detail_falls_when_the_dark_third_is_painted_flat() -> None:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:64, 0:64]
    dark = (12 + 8 * ((x // 4 + y // 4) % 2))[..., None].repeat(3, axis=2).astype(np.uint8)
    dark[:, 32:] += rng.integers(40, 60, dtype=np.uint8)  # a brighter half, not clipped when gained
    gained = np.clip(dark.astype(np.float32) * 3, 0, 255).astype(np.uint8)
    painted = gained.copy()
    painted[:, :32] = gained[:, :32].mean()
    assert F.dark_detail(gained, dark) == pytest.approx(1.0, abs=0.05)
    assert F.dark_detail(painted, dark) < 0.3  # what is left is the edge against the bright half
