"""The synthetic night video set: moving clean sequences, their dark versions, the noiseless ceiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nightvid.trainers.video_pairs import NightCamera, dark_sequence, moving_sequence, noiseless_sequence


@pytest.fixture(scope="module")
def clean() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    photo = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
    photo = np.ascontiguousarray(np.repeat(np.repeat(photo, 4, axis=0), 4, axis=1))  # texture 4 px across
    return moving_sequence(photo, frames=6, size=(96, 64), seed=3)


def test_moving_sequence_moves(clean: list[np.ndarray]) -> None:
    assert [f.shape for f in clean] == [(64, 96, 3)] * 6
    assert all(not np.array_equal(a, b) for a, b in zip(clean, clean[1:], strict=False))


def test_noiseless_sequence_is_the_dark_sequence_without_noise_and_codec(
    clean: list[np.ndarray], tmp_path: Path
) -> None:
    camera = NightCamera.like_real_clips()
    noisy = dark_sequence(clean, seed=5, work=tmp_path, camera=camera)
    ideal = noiseless_sequence(clean, seed=5, camera=camera)
    assert len(ideal) == len(noisy) == len(clean)
    assert all(f.dtype == np.uint8 and f.shape == c.shape for f, c in zip(ideal, clean, strict=True))
    # the same exposure and cast: the means agree within what noise (clipped at black) adds
    for f, n in zip(ideal, noisy, strict=True):
        assert abs(float(f.mean()) - float(n.mean())) < 3.0
        assert float(f.mean()) < 40.0  # dark
    # no noise: the frames differ only where the scene moved, and less than the noisy ones do
    assert (
        np.abs(np.diff(np.stack(ideal).astype(np.int16), axis=0)).mean()
        < np.abs(np.diff(np.stack(noisy).astype(np.int16), axis=0)).mean()
    )
    # deterministic (no codec, no random draws of noise)
    again = noiseless_sequence(clean, seed=5, camera=camera)
    assert all(np.array_equal(a, b) for a, b in zip(ideal, again, strict=True))


def test_another_seed_is_another_camera(clean: list[np.ndarray]) -> None:
    camera = NightCamera(exposure=(0.01, 0.5))
    means = {round(float(noiseless_sequence(clean, seed=s, camera=camera)[0].mean()), 1) for s in range(4)}
    assert len(means) > 1
