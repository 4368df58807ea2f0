"""Brightness stabilisation: less flicker, no lag at a scene cut."""

from __future__ import annotations

import numpy as np

from nightvid.streamer.stabilise import BrightnessStabiliser, flicker, mean_luma


def frame(level: float, seed: int = 0, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(level, 10, size=(*size, 3)), 0, 255)
    return img.astype(np.uint8)


def test_flicker_of_steady_and_alternating_sequences() -> None:
    assert flicker([100.0] * 10) == 0.0
    assert flicker([100, 110] * 10) > 9.0


def test_stabilizer_reduces_flicker_of_a_jittery_net() -> None:
    rng = np.random.default_rng(1)
    source = frame(20, seed=2)
    stabilize = BrightnessStabiliser()
    raw, smooth = [], []
    for i in range(60):
        out = frame(120 + rng.normal(0, 8), seed=i)  # the "net" output jitters
        raw.append(mean_luma(out))
        smooth.append(mean_luma(stabilize(source, out)))
    assert flicker(smooth) < 0.5 * flicker(raw)


def test_scene_cut_is_followed_at_once() -> None:
    stabilize = BrightnessStabiliser()
    dark_src, bright_src = frame(10, seed=3), frame(200, seed=4)
    for i in range(20):
        stabilize(dark_src, frame(60, seed=i))
    after_cut = stabilize(bright_src, frame(180, seed=99))
    assert abs(mean_luma(after_cut) - 180) < 3  # no fade from the old scene's level
    assert stabilize.is_cut(dark_src)  # and a cut back is detected too


def test_sixteen_bit_frames_are_measured_and_scaled_on_their_own_scale() -> None:
    """Deep video and the temporal filter's frames are uint16: brightness on the 0-255 scale
    all the same, the correction kept in 16 bits (it clipped them to 255 before)."""
    grey = np.full((16, 16, 3), 100 * 257, np.uint16)
    assert mean_luma(grey) == mean_luma(np.full((16, 16, 3), 100, np.uint8))
    stab = BrightnessStabiliser(strength=0.8)
    source = np.full((16, 16, 3), 10 * 257, np.uint16)
    stab(source, grey)
    out = stab(source, (grey * 1.2).astype(np.uint16))  # a brighter frame: pulled back towards 100
    assert out.dtype == np.uint16 and 100 * 257 < int(out.mean()) < 120 * 257
