"""Tiled inference matches whole-frame inference away from a narrow border."""

from __future__ import annotations

import pytest
import torch

from nightvid import nets
from nightvid.streamer.tiling import enhance_tiled, plan_tile, tile_starts


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
        tiled = enhance_tiled(net, x, tile=128, overlap=64)
    diff = (whole - tiled)[..., border:-border, border:-border].abs()
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
    whole = enhance_video(src, tmp_path / "whole.mkv", engine, tile=None)
    tiled = enhance_video(src, tmp_path / "tiled.mkv", engine, tile=96)
    assert whole.frames == tiled.frames == 3
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
    from nightvid.engines.base import Engine
    from nightvid.streamer.tiling import bytes_per_pixel

    calls = []

    def net(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return x

    engine = Engine(fn=net, backend="eager", device=torch.device("cpu"))
    first = bytes_per_pixel(engine)
    assert first > 0 and len(calls) == 2  # warm-up + measured call
    assert bytes_per_pixel(engine) == first and len(calls) == 2


def test_tiled_engine_shares_the_controls_and_is_measured_once() -> None:
    import numpy as np

    from nightvid.engines.base import Engine
    from nightvid.streamer.tiling import bytes_per_pixel, tiled_engine

    engine = Engine(fn=lambda x: x, backend="eager", device=torch.device("cpu"))
    first = bytes_per_pixel(engine)
    tiled = tiled_engine(engine, 100, 140, tile=64)
    assert tiled.details["tile"] == "64" and "tile" not in engine.details
    assert tiled.controls is engine.controls
    engine.controls.set_gain(2.0)
    frame = np.full((1, 100, 140, 3), 60, np.uint8)
    assert int(tiled.enhance_frames(frame)[0, 50, 70, 0]) == 120
    assert bytes_per_pixel(engine) == first  # remembered for the engine, not measured again
    assert tiled_engine(engine, 100, 140, tile=None) is engine
