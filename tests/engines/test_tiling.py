"""Tiled inference matches whole-frame inference away from a narrow border; the tiled
wrapper is applied where the engine is built and keeps or drops the 8-bit shortcut as it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightvid import nets
from nightvid.engines import create_engine, tiling
from nightvid.engines.base import Engine
from nightvid.engines.tiling import bytes_per_pixel, enhance_tiled, plan_tile, tile_starts
from nightvid.engines.wrappers import tiled


def test_tile_starts_cover_the_frame_with_equal_tiles() -> None:
    starts = tile_starts(1000, 256, 64)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert all(b - a <= 256 - 64 for a, b in zip(starts, starts[1:], strict=False))
    assert tile_starts(200, 256, 64) == [0]


def test_identity_net_is_reproduced_exactly() -> None:
    x = torch.rand(2, 3, 150, 230)
    torch.testing.assert_close(enhance_tiled(lambda t: t, x, tile=64, overlap=32), x)


def test_tiled_local_net_matches_untiled_away_from_border() -> None:
    # The denoiser is purely local (batch norm in eval is an affine map), so tiles blended
    # past its receptive radius must reproduce the whole-frame result.
    torch.manual_seed(0)
    net = nets.build_enhancer("denoiser", weights=None)
    x = torch.rand(1, 3, 180, 260)
    border = 8
    with torch.no_grad():
        whole = net(x)
        tiled_out = enhance_tiled(net, x, tile=128, overlap=64)
    diff = (whole - tiled_out)[..., border:-border, border:-border].abs()
    # stated tolerance: 1e-5 max abs (measured: 2.7e-7, float rounding only)
    assert diff.max() < 1e-5, diff.max()


def test_plan_tile() -> None:
    assert plan_tile(720, 1280, bytes_per_pixel=1000, budget_bytes=2e9) is None
    side = plan_tile(2160, 3840, bytes_per_pixel=1000, budget_bytes=1e9)
    assert side is not None and side % 8 == 0 and side * side * 1000 <= 1e9
    assert plan_tile(1080, 1920, bytes_per_pixel=1, budget_bytes=1e12, max_side=1088) == 1088


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dtype_is_kept(dtype: torch.dtype) -> None:
    x = torch.rand(1, 3, 100, 140, dtype=dtype)
    assert enhance_tiled(lambda t: t * 0.5, x, tile=64, overlap=16).dtype == dtype


def test_pipeline_with_fixed_tiles_matches_untiled_for_a_local_net(tmp_path) -> None:
    from nightvid.engines.eager import build_eager
    from nightvid.streamer.pipeline import enhance_video
    from tests.clips import make_clip, read_video

    torch.manual_seed(0)
    engine = build_eager(nets.build_enhancer("denoiser", weights=None), device=torch.device("cpu"))
    src = make_clip(tmp_path / "in.mp4", frames=3, size=(200, 120), audio=False)
    whole = enhance_video(src, tmp_path / "whole.mkv", engine)
    in_tiles = enhance_video(src, tmp_path / "tiled.mkv", tiled(engine, 96))
    assert whole.frames == in_tiles.frames == 3
    a, b = read_video(tmp_path / "whole.mkv"), read_video(tmp_path / "tiled.mkv")
    assert abs(a["luma"] - b["luma"]) < 0.05


def test_cli_rejects_a_bad_tile(tmp_path) -> None:
    from typer.testing import CliRunner

    from nightvid.cli import app
    from tests.clips import make_clip

    src = make_clip(tmp_path / "in.mp4", frames=2)
    result = CliRunner().invoke(app, ["enhance", str(src), str(tmp_path / "o.mp4"), "--tile", "big"])
    assert result.exit_code == 1 and "--tile takes" in result.output


def test_memory_probe_runs_once_per_engine() -> None:
    calls = []

    def net(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return x

    engine = Engine(fn=net, backend="eager", device=torch.device("cpu"))
    first = bytes_per_pixel(engine)
    assert first > 0 and len(calls) == 2  # warm-up + measured call
    assert bytes_per_pixel(engine) == first and len(calls) == 2


def test_a_compiled_engine_is_probed_inside_its_shape_range() -> None:
    from nightvid.engines.shapes import ShapeRange

    calls = []

    def net(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape[-2:]))
        return x

    small = ShapeRange.parse("1x32x32", "1x48x64", "2x64x96")
    bytes_per_pixel(Engine(fn=net, backend="onnx", device=torch.device("cpu"), shape_range=small))
    assert calls == [(64, 96), (64, 96)]  # the nearest to 256 x 256 that the guard lets through


def test_tiled_engine_shares_the_controls_and_is_measured_once() -> None:
    engine = Engine(fn=lambda x: x, backend="eager", device=torch.device("cpu"))
    first = bytes_per_pixel(engine)
    copy = tiled(engine, 64)
    assert copy.details["tile"] == "64" and "tile" not in engine.details
    assert copy.controls is engine.controls
    engine.controls.set_gain(2.0)
    frame = np.full((1, 100, 140, 3), 60, np.uint8)
    assert int(copy.enhance_frames(frame)[0, 50, 70, 0]) == 120
    assert bytes_per_pixel(engine) == first  # remembered for the engine, not measured again
    assert tiled(engine, None) is engine and tiled(engine, 0) is engine


def _shortcut_engine(seen: list[str]) -> Engine:
    """An identity engine whose 8-bit shortcut adds 1 and says which path ran."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(f"fn {tuple(x.shape[-2:])}")
        return x

    def frames_fn(batch: np.ndarray, gain: float) -> np.ndarray:
        seen.append("frames_fn")
        return batch + 1

    return Engine(fn=fn, backend="fused", device=torch.device("cpu"), frames_fn=frames_fn)


def test_with_fn_makes_the_caller_say_what_becomes_of_the_8bit_shortcut() -> None:
    engine = _shortcut_engine([])
    with pytest.raises(TypeError):
        engine.with_fn(engine.fn)  # type: ignore[call-arg]  # no silent drop: frames_fn must be named
    assert engine.with_fn(engine.fn, frames_fn=engine.frames_fn).frames_fn is engine.frames_fn
    assert engine.with_fn(engine.fn, frames_fn=None).frames_fn is None


def test_fixed_tiles_drop_the_8bit_shortcut_and_auto_keeps_it_where_it_does_not_tile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    engine = _shortcut_engine(seen)
    frame = np.full((1, 100, 140, 3), 60, np.uint8)
    # a fixed side: every batch reaches fn as floats, tile by tile (the shortcut runs whole frames)
    fixed = tiled(engine, 64)
    assert fixed.frames_fn is None and int(fixed.enhance_frames(frame).max()) == 60
    assert len(seen) > 1 and set(seen) == {"fn (64, 64)"}
    # auto, with plenty of memory: the engine itself, shortcut included
    auto = tiled(engine, "auto")
    assert auto.for_size is not None and auto.frames_fn is engine.frames_fn
    seen.clear()
    assert int(auto.enhance_frames(frame).max()) == 61 and seen[-1] == "frames_fn"
    # auto, with memory short for a larger size: that size runs a tiled copy, without it
    per_pixel = bytes_per_pixel(auto.sized(100, 140))  # measured once, on the engine untiled
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 2 * 128 * 128 * per_pixel)
    large = np.full((1, 300, 400, 3), 60, np.uint8)
    seen.clear()
    assert int(auto.enhance_frames(large).max()) == 60 and "frames_fn" not in seen
    assert auto.sized(300, 400).details["tile"] == "128" and auto.sized(300, 400).frames_fn is None
    whole = auto.sized(100, 140)  # the size decided first keeps its decision: the engine untiled
    assert whole.for_size is None and whole.frames_fn is engine.frames_fn and whole.controls is engine.controls


def test_auto_decides_once_per_size_and_routes_float_batches_too(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(tiling, "plan_tile", lambda height, width, **kw: asked.append((height, width)) or 64)
    seen: list[str] = []
    auto = tiled(_shortcut_engine(seen), "auto")
    assert auto(torch.zeros(1, 3, 100, 140)).shape == (1, 3, 100, 140)  # decided here, probe and all
    assert asked == [(100, 140)] and seen[-1] == "fn (64, 64)"
    seen.clear()
    auto.enhance_frames(np.zeros((1, 100, 140, 3), np.uint8))
    assert asked == [(100, 140)] and set(seen) == {"fn (64, 64)"}
    halved = auto.with_fn(lambda x: x * 0.5, frames_fn=None)  # a wrapper under the tiles: sized anew
    assert int(halved.enhance_frames(np.full((1, 100, 140, 3), 60, np.uint8)).max()) == 30
    assert halved.sized(100, 140).details["tile"] == "64" and asked == [(100, 140)] * 2


def test_create_engine_applies_the_specs_tile() -> None:
    plain = create_engine("noiser", backend="eager", tile=0)
    assert plain.for_size is None and "tile" not in plain.details
    assert create_engine("noiser", weights=None, backend="eager", tile=96).details["tile"] == "96"
    auto = create_engine("noiser", backend="eager")  # the spec's default: auto
    assert auto.for_size is not None and dict(auto.details) == dict(plain.details)
    frame = np.full((1, 40, 60, 3), 30, np.uint8)
    np.testing.assert_array_equal(auto.enhance_frames(frame), plain.enhance_frames(frame))
