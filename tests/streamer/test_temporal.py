"""The temporal noise filter: less noise where the scene holds still, no ghosts where it moves, pts untouched,
fractions kept for the net."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from nightvid import native
from nightvid.cli import app
from nightvid.jobs.compare.figures import temporal_noise
from nightvid.streamer import temporal
from nightvid.streamer.temporal import (
    HISTORY,
    HISTORY_LEAD,
    CausalTemporalFilter,
    TemporalFilter,
    context_frames,
    fuse_deep,
    temporal_frames,
    temporal_items,
    to_8bit,
)
from tests.clips import make_clip

runner = CliRunner()


def _moving_square(frames: int, noise: float, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    clean, noisy = [], []
    y, x = np.mgrid[0:120, 0:200]
    background = (70 + 30 * np.sin(x / 9.0) * np.cos(y / 13.0))[..., None].repeat(3, axis=2)
    for t in range(frames):
        frame = background.copy()
        frame[40:80, 30 + 9 * t : 70 + 9 * t] = 210  # moves 9 px a frame
        clean.append(frame)
        noisy.append(np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8))
    return clean, noisy


def test_noise_falls_where_the_scene_holds_and_a_moving_square_keeps_its_edges() -> None:
    clean, noisy = _moving_square(10, noise=8.0)
    out = [to_8bit(f) for f, _ in temporal_frames(((f, i) for i, f in enumerate(noisy)), radius=1)]
    assert len(out) == 10
    for t in range(1, 9):
        still = (slice(90, 120), slice(0, 200))  # the square never passes here
        err_in = np.abs(noisy[t][still].astype(float) - clean[t][still]).mean()
        err_out = np.abs(out[t][still].astype(float) - clean[t][still]).mean()
        assert err_out < 0.75 * err_in, (t, err_in, err_out)
        # the square's leading and trailing edges: no ghost of where it was or will be
        lead = (slice(45, 75), slice(70 + 9 * t, 76 + 9 * t))
        trail = (slice(45, 75), slice(24 + 9 * t, 30 + 9 * t))
        for region in (lead, trail):
            ghost = np.abs(out[t][region].astype(float) - clean[t][region]).mean()
            assert ghost < 12, (t, ghost)
    assert temporal_noise(out) < temporal_noise(noisy)


def test_first_and_last_frames_use_the_neighbours_they_have_and_pts_are_untouched() -> None:
    _, noisy = _moving_square(5, noise=6.0)
    stamps = [0, 7, 9, 30, 31]  # variable frame rate
    fil = TemporalFilter(radius=2)
    out = []
    for frame, pts in zip(noisy, stamps, strict=True):
        ready = fil.push(frame, pts)
        out += ready
    assert len(out) == 3  # two held back
    out += fil.flush()
    assert [pts for _, pts in out] == stamps
    assert all(f.shape == noisy[0].shape and f.dtype == np.uint16 for f, _ in out)
    single = TemporalFilter(radius=1)
    assert single.push(noisy[0], 5) == [] and [p for _, p in single.flush()] == [5]  # a one-frame video


def test_fused_frames_keep_the_fractions_of_the_average() -> None:
    """Dark levels averaged over three frames are not rounded to 8 bits before the net."""
    frames = [np.full((48, 64, 3), level, np.uint8) for level in (10, 11, 11)]
    out = [f for f, _ in temporal_frames(((f, i) for i, f in enumerate(frames)), radius=1)]
    assert out[1].dtype == np.uint16
    level = out[1].mean() / 257
    assert 10.5 < level < 10.95  # between two 8-bit levels, not rounded to either
    deep = [f.astype(np.uint16) * 257 for f in frames]  # a 10-bit source decoded as 16-bit stays on its scale
    fused_deep = [f for f, _ in temporal_frames(((f, i) for i, f in enumerate(deep)), radius=1)][1]
    assert fused_deep.mean() / 257 == pytest.approx(level, abs=0.01)


@pytest.mark.parametrize("neighbours", [1, 2, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_the_native_fusion_matches_opencv(neighbours: int, dtype: type) -> None:
    """``kernels/temporal.cpp`` against the OpenCV reference: the same weights and mean,
    up to one 16-bit level of rounding, on frames that agree in places and not in others."""
    if temporal._kernel() is None:
        pytest.skip("no C++ compiler: the filter fuses with OpenCV")
    rng = np.random.default_rng(neighbours)
    top = 255 if dtype == np.uint8 else 65535
    centre = rng.integers(0, top, (37, 53, 3)).astype(dtype)
    aligned = []
    for k in range(neighbours):
        near = centre.astype(np.int64) + rng.integers(-top // 40, top // 40 + 1, centre.shape)
        near[:, : 10 * (k + 1)] = rng.integers(0, top, (37, 10 * (k + 1), 3))  # disagrees here
        aligned.append(np.clip(near, 0, top).astype(dtype))
    native_out = fuse_deep(centre, aligned)
    reference = fuse_deep(centre, aligned, native=False)
    assert native_out.dtype == reference.dtype == np.uint16
    assert np.abs(native_out.astype(np.int64) - reference).max() <= 1
    assert not np.array_equal(native_out, centre.astype(np.uint16) * (257 if dtype == np.uint8 else 1))
    # the previous output as a neighbour: 16-bit beside 8-bit frames, weighing more
    history = (reference.astype(np.int64) + rng.integers(-300, 301, reference.shape)).clip(0, 65535)
    mixed = [*aligned, history.astype(np.uint16)]
    strengths = [1.0] * neighbours + [4.0]
    native_mixed = fuse_deep(centre, mixed, strengths=strengths)
    reference_mixed = fuse_deep(centre, mixed, strengths=strengths, native=False)
    assert np.abs(native_mixed.astype(np.int64) - reference_mixed).max() <= 1
    assert np.abs(native_mixed.astype(np.int64) - native_out).max() > 10  # it did take part


def test_the_previous_output_takes_out_more_noise_and_the_square_still_keeps_its_edges() -> None:
    """The recursive filter (the default) against three raw frames (``history=0``): more
    noise removed where the scene holds, no trail behind the moving square."""
    clean, noisy = _moving_square(14, noise=8.0)
    still = (slice(90, 120), slice(0, 200))

    def run(history: float) -> list[np.ndarray]:
        fil: TemporalFilter[int] = TemporalFilter(1, history=history)
        out = [f for i, frame in enumerate(noisy) for f, _ in fil.push(frame, i)]
        return [to_8bit(f) for f in out + [f for f, _ in fil.flush()]]

    def still_error(frames: list[np.ndarray]) -> float:
        return float(
            np.mean([np.abs(f[still].astype(float) - c[still]).mean() for f, c in zip(frames, clean, strict=True)][4:])
        )

    recursive, raw = run(HISTORY), run(0.0)
    assert still_error(recursive) < 0.9 * still_error(raw)
    for t in range(4, 13):
        trail = (slice(45, 75), slice(24 + 9 * t, 30 + 9 * t))
        assert np.abs(recursive[t][trail].astype(float) - clean[t][trail]).mean() < 12, t


def test_context_frames_read_enough_before_a_cut_for_the_history() -> None:
    assert context_frames(0) == (0, 0)
    assert context_frames(1, history=0.0) == (1, 1) and context_frames(2, history=0.0) == (2, 2)
    assert context_frames(1) == (HISTORY_LEAD, 1)


def test_without_a_compiler_the_filter_fuses_with_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    _, noisy = _moving_square(5, noise=6.0)
    with_kernel = [f for f, _ in temporal_frames(((f, i) for i, f in enumerate(noisy)), radius=1)]
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    native.load_kernel.cache_clear()
    temporal._kernel.cache_clear()
    try:
        assert temporal._kernel() is None
        without = [f for f, _ in temporal_frames(((f, i) for i, f in enumerate(noisy)), radius=1)]
    finally:
        native.load_kernel.cache_clear()
        temporal._kernel.cache_clear()
    for a, b in zip(with_kernel, without, strict=True):
        assert np.abs(a.astype(np.int64) - b).max() <= 1


def test_temporal_items_pass_on_the_source_return_value() -> None:
    def source():  # type: ignore[no-untyped-def]
        for i in range(4):
            yield np.full((24, 24, 3), 50, np.uint8), i
        return True  # the decode stage's "truncated"

    items = temporal_items(source(), radius=2)
    seen = []
    while True:
        try:
            seen.append(next(items)[1])
        except StopIteration as end:
            assert end.value is True
            break
    assert seen == [0, 1, 2, 3]


def test_enhance_with_temporal_lowers_the_boiling_of_a_still_noisy_clip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    scene = np.clip(20 + 12 * rng.random((72, 128, 1)), 0, 255).repeat(3, axis=2)
    frames = [np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    src = tmp_path / "still.mkv"
    with av.open(str(src), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 72, "bgr0"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame[:, :, ::-1].copy(), format="bgr24")))
        container.mux(stream.encode(None))
    noise = {}
    for setting in ("1", "5"):
        out = tmp_path / f"out-{setting}.mkv"
        result = runner.invoke(
            app, ["enhance", str(src), str(out), "--backend", "eager", "--temporal", setting, "--quiet"]
        )
        assert result.exit_code == 0, result.output
        with av.open(str(out)) as container:
            noise[setting] = temporal_noise([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert noise["5"] < 0.7 * noise["1"], noise


def test_enhance_with_temporal_keeps_every_frame_and_its_time(tmp_path: Path) -> None:
    stamps = [0, 2, 3, 7, 8, 12, 20, 21, 22, 30]
    src = make_clip(tmp_path / "vfr.mp4", frames=len(stamps), size=(96, 64), pts=stamps, time_base=Fraction(1, 25))
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["enhance", str(src), str(out), "--backend", "eager", "--temporal", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["frames"] == len(stamps)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        times_in = [float(f.time) for f in a.decode(video=0)]
        times_out = [float(f.time) for f in b.decode(video=0)]
    assert times_out == pytest.approx(times_in, abs=1e-3)


@pytest.mark.parametrize("frames", ["2", "0", "11"])
def test_temporal_takes_an_odd_count(tmp_path: Path, frames: str) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=2)
    result = runner.invoke(app, ["enhance", str(src), str(tmp_path / "o.mp4"), "--temporal", frames])
    assert result.exit_code == 1 and "--temporal takes an odd number" in result.output


def test_the_live_filter_uses_only_earlier_frames_and_still_lowers_noise() -> None:
    clean, noisy = _moving_square(8, noise=8.0)
    live = CausalTemporalFilter(radius=1)
    out = [to_8bit(live(frame)) for frame in noisy]  # one frame out for each frame in: no latency
    assert np.array_equal(out[0], noisy[0])  # nothing before the first frame
    still = (slice(90, 120), slice(0, 200))
    for t in range(2, 8):
        err_in = np.abs(noisy[t][still].astype(float) - clean[t][still]).mean()
        err_out = np.abs(out[t][still].astype(float) - clean[t][still]).mean()
        assert err_out < 0.75 * err_in, (t, err_in, err_out)
        lead = (slice(45, 75), slice(70 + 9 * t, 76 + 9 * t))  # the moving square leaves no trail
        assert np.abs(out[t][lead].astype(float) - clean[t][lead]).mean() < 12
    live(np.zeros((30, 40, 3), np.uint8))  # a source that changes size starts afresh
