"""The fused NoiSER kernel against the eager Enhancer: same pixels at odd, tiny and 4K sizes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nightvid import engines, nets
from nightvid import native as native_module
from nightvid.engines import Engine, create_engine
from nightvid.engines.fused import FusedNoiser, build_fused
from nightvid.engines.noiser_fold import NoiserWeights, fold
from nightvid.engines.wrappers import tiled
from nightvid.errors import NightvidError


@pytest.fixture(scope="module")
def enhancer() -> nets.Enhancer:
    return nets.build_enhancer("noiser")


@pytest.fixture(scope="module")
def fused(enhancer: nets.Enhancer) -> FusedNoiser:
    return FusedNoiser(enhancer, threads=2)


def dark(shape: tuple[int, ...], seed: int = 0, top: float = 0.12) -> torch.Tensor:
    """A night-like batch: mostly dark, some bright pixels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g) * top
    return torch.where(torch.rand(*shape, generator=g) > 0.98, torch.rand(*shape, generator=g), x)


@pytest.mark.parametrize("size", [(2, 2), (1, 2), (2, 1), (3, 1), (1, 17), (5, 33), (37, 53), (64, 31), (97, 130)])
def test_float_path_matches_eager(enhancer: nets.Enhancer, fused: FusedNoiser, size: tuple[int, int]) -> None:
    x = dark((2, 3, *size), seed=size[0] * 1000 + size[1])
    with torch.inference_mode():
        expected = enhancer(x)
    torch.testing.assert_close(fused(x), expected, atol=2e-5, rtol=0)


def test_any_strides_and_a_bright_frame(enhancer: nets.Enhancer, fused: FusedNoiser) -> None:
    x = torch.rand(1, 45, 70, 3).permute(0, 3, 1, 2)  # channels-last memory, as engines.transfer makes it
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), enhancer(x), atol=2e-5, rtol=0)


def test_one_pixel_is_a_flat_frame(enhancer: nets.Enhancer, fused: FusedNoiser) -> None:
    """Instance norm of one pixel: variance 0, so every hidden channel is 0, as for any flat
    frame; eager refuses 1x1, so a flat 2x2 frame of that colour is the reference."""
    pixel = torch.tensor([0.02, 0.05, 0.01]).view(1, 3, 1, 1)
    with torch.inference_mode():
        flat = enhancer(pixel.expand(1, 3, 2, 2).contiguous())
    torch.testing.assert_close(fused(pixel), flat[..., :1, :1], atol=2e-5, rtol=0)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 5), (16, 16), (37, 53), (180, 320)])
def test_frames_path_matches_the_eager_engine(size: tuple[int, int]) -> None:
    fast, eager = (
        create_engine("noiser", backend="fused", deblock=False),
        create_engine("noiser", backend="eager", deblock=False),
    )
    frames = (dark((2, *size, 3), seed=size[1]) * 255).round().to(torch.uint8).numpy()
    got, want = fast.enhance_frames(frames).astype(int), eager.enhance_frames(frames).astype(int)
    assert np.abs(got - want).max() <= 1 and np.abs(got - want).mean() < 0.01


def test_4k_frame_matches_eager() -> None:
    fast, eager = (
        create_engine("noiser", backend="fused", deblock=False),
        create_engine("noiser", backend="eager", deblock=False),
    )
    frame = (dark((1, 2160, 3840, 3), seed=4) * 255).round().to(torch.uint8).numpy()
    got, want = fast.enhance_frames(frame).astype(np.int16), eager.enhance_frames(frame).astype(np.int16)
    diff = np.abs(got - want)
    assert diff.max() <= 1 and diff.mean() < 0.01


def magenta_floor(frames: torch.Tensor) -> torch.Tensor:
    """8-bit frames with a camera's magenta black floor: red and blue lifted 3 and 4 levels."""
    return (frames.float() + torch.tensor([3.0, 0.0, 4.0])).clamp(0, 255).to(torch.uint8)


def test_a_magenta_black_floor_is_taken_off_as_the_eager_engine_does() -> None:
    frames = magenta_floor((dark((2, 48, 64, 3), seed=9, top=0.03) * 255).round().to(torch.uint8))
    fast, eager = (
        create_engine("noiser", backend="fused", deblock=False),
        create_engine("noiser", backend="eager", deblock=False),
    )
    got, want = fast.enhance_frames(frames.numpy()).astype(int), eager.enhance_frames(frames.numpy()).astype(int)
    assert np.abs(got - want).max() <= 1 and np.abs(got - want).mean() < 0.01
    x = frames.permute(0, 3, 1, 2).float() / 255
    enhancer = nets.build_enhancer("noiser", deblock=False)
    with torch.inference_mode():
        torch.testing.assert_close(FusedNoiser(enhancer)(x), enhancer(x), atol=2e-5, rtol=0)
    read = FusedNoiser(enhancer)._read_u8(frames[0])
    assert float(read[3]) < -0.005 and float(read[4]) == 0.0 and float(read[5]) < -0.005  # red, blue lowered
    enhancer.neutral_black = False
    kept = FusedNoiser(enhancer)
    assert torch.equal(kept._read_u8(frames[0])[3:], torch.zeros(3))
    assert np.abs(kept.frames(frames.numpy(), 1.0).astype(int) - got).max() > 3


def test_lit_exposure_keeps_unlit_frames_on_the_8bit_path_and_matches_eager_on_lit_ones() -> None:
    fast, eager = (
        create_engine("noiser", backend="fused", deblock=False),
        create_engine("noiser", backend="eager", deblock=False),
    )
    assert fast.frames_fn is not None
    night = (dark((2, 40, 60, 3), seed=11, top=0.1) * 255).round().to(torch.uint8).numpy()
    night[..., 1] = np.minimum(night[..., 1], 200)  # no green near white: cannot be lamp-lit
    lit = night.copy()
    lit[:, :2, :, :] = 255  # 5% of the pixels burnt to white: lamp-lit
    assert fast.frames_fn(night, 1.0) is not None and fast.frames_fn(lit, 1.0) is None
    for frames in (night, lit):
        diff = np.abs(fast.enhance_frames(frames).astype(int) - eager.enhance_frames(frames).astype(int))
        assert diff.max() <= 1
    plain = create_engine("noiser", backend="eager", exposure="none", deblock=False)
    assert np.array_equal(eager.enhance_frames(night), plain.enhance_frames(night))
    assert eager.enhance_frames(lit).mean() < plain.enhance_frames(lit).mean() - 5


def test_gain_exposure_and_colour_keep_the_enhancer_meaning() -> None:
    frames = (dark((1, 40, 60, 3), seed=7) * 255).round().to(torch.uint8).numpy()
    for options in ({"exposure": 0.3}, {"exposure": "auto"}):
        fast = create_engine("noiser", backend="fused", deblock=False, **options)
        eager = create_engine("noiser", backend="eager", deblock=False, **options)
        assert fast.frames_fn is not None and fast.frames_fn(frames, 1.0) is None  # the float path runs the tail
        diff = np.abs(fast.enhance_frames(frames).astype(int) - eager.enhance_frames(frames).astype(int))
        assert diff.max() <= 1
    fast, eager = (
        create_engine("noiser", backend="fused", deblock=False),
        create_engine("noiser", backend="eager", deblock=False),
    )
    fast.controls.set_gain(1.7)
    eager.controls.set_gain(1.7)
    diff = np.abs(fast.enhance_frames(frames).astype(int) - eager.enhance_frames(frames).astype(int))
    assert diff.max() <= 1
    mixed = nets.build_enhancer("noiser", input_colour=0.5)
    x = dark((1, 3, 20, 30))
    with torch.inference_mode():
        torch.testing.assert_close(FusedNoiser(mixed)(x), mixed(x), atol=2e-5, rtol=0)


def test_fold_is_instance_norm_of_conv1_even_for_a_dark_frame(enhancer: nets.Enhancer) -> None:
    """The identity the kernel rests on, computed here in float64 without the kernel."""
    net = enhancer.net
    conv1, norm = net.body[0], net.body[1]
    weights = NoiserWeights.of(conv1, net.body[3], norm.eps)
    x = (dark((1, 3, 31, 47), seed=3, top=0.03)).double()
    patches = F.unfold(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3)[0].T  # (pixels, 27)
    centre = x.mean(dim=(0, 2, 3))
    centred = patches - centre.repeat_interleave(9)
    folded = fold(weights, centre, centred.sum(dim=0), centred.T @ centred, patches.shape[0])
    got = patches.float() @ folded.w1.T + folded.b1
    conv = F.conv2d(F.pad(x * 2 - 1, (1, 1, 1, 1), mode="replicate"), conv1.weight.double(), conv1.bias.double())
    want = F.instance_norm(conv, eps=norm.eps)[0].flatten(1).T
    torch.testing.assert_close(got.double(), want, atol=2e-4, rtol=0)


def test_the_backend_row_auto_and_its_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert "fused" in engines.BACKENDS and engines.BACKEND_SPECS["fused"].multi_worker
    assert engines.auto_backend("noiser", "cpu") == "fused"
    engine = create_engine("noiser", backend="fused", workers=2)
    assert engine.backend == "fused" and engine.workers == 2 and engine.frames_fn is not None
    assert engine.with_details(x="1").frames_fn is not None  # same computation
    assert tiled(engine.sized(64, 64), 64).frames_fn is None  # tiles must reach fn as float batches
    assert engine.sized(64, 64).frames_fn is not None  # auto tiles (the default) keep it where they do not tile
    with pytest.raises(NightvidError, match="NoiSER only"):
        create_engine("denoiser", weights=None, backend="fused")
    with pytest.raises(NightvidError, match="fp32 only"):
        create_engine("noiser", backend="fused", precision="bf16")
    with pytest.raises(NightvidError, match="32 hidden channels"):
        build_fused(nets.build_enhancer("noiser", weights=None, hidden=8), device=cpu, dtype=torch.float32)
    dimming = nets.build_enhancer("noiser", weights=None)
    dimming.brightest_input = 0.16
    with pytest.raises(NightvidError, match="does not dim bright inputs"):
        build_fused(dimming, device=cpu, dtype=torch.float32)

    def refuse(enhancer: torch.nn.Module, **kwargs: object) -> Engine:
        raise NightvidError("refused")

    monkeypatch.setitem(engines.BACKEND_SPECS, "fused", replace(engines.BACKEND_SPECS["fused"], build=refuse))
    # picked, failed to build: the next backend in NoiSER's order, as for artifacts
    monkeypatch.setenv(engines.trial.TRIAL_ENV, "0")  # the order, not a timed trial (test_trial.py)
    assert create_engine("noiser", backend="auto").backend == engines.AUTO_CPU["noiser"][1]
    monkeypatch.setattr(native_module, "compiler", lambda: (_ for _ in ()).throw(NightvidError("no compiler")))
    native_module.load_kernel.cache_clear()
    try:
        assert engines.auto_backend("noiser", "cpu") != "fused"  # no compiler: auto moves on
    finally:
        native_module.load_kernel.cache_clear()


def test_no_compiler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "")
    monkeypatch.setattr(native_module.shutil, "which", lambda name: None)
    with pytest.raises(NightvidError, match="needs a C\\+\\+ compiler"):
        native_module.compiler()


def test_dark_deblocking_runs_on_the_float_path_as_the_eager_engine_does() -> None:
    """NoiSER's default smooths dark blocks in torch first, so 8-bit frames take the float path."""
    cells = (dark((2, 6, 8, 3), seed=13, top=0.03) * 255).round().to(torch.uint8).numpy()
    frames = cells.repeat(8, axis=1).repeat(8, axis=2)  # 8x8 codec blocks of near-black colours
    frames[:, :24, :32] = (dark((2, 24, 32, 3), seed=14, top=0.03) * 255).round().to(torch.uint8).numpy()  # texture
    fast, eager = create_engine("noiser", backend="fused"), create_engine("noiser", backend="eager")
    assert fast.frames_fn is not None and fast.frames_fn(frames, 1.0) is None
    got = fast.enhance_frames(frames).astype(int)
    assert np.abs(got - eager.enhance_frames(frames).astype(int)).max() <= 1
    plain = create_engine("noiser", backend="fused", deblock=False)
    assert plain.frames_fn is not None and plain.frames_fn(frames, 1.0) is not None
    assert np.abs(plain.enhance_frames(frames).astype(int) - got).max() > 3


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 9), (17, 31), (37, 53), (180, 320)])
def test_the_deblocking_kernel_is_the_torch_step(size: tuple[int, int]) -> None:
    """``kernels/deblock.cpp`` against ``nets.deblock.deblock_dark``, sizes that are and are
    not multiples of its cells, dark and bright pixels, strided input; with the black floor
    taken off as it reads (``neutral_black`` first)."""
    from nightvid.nets.colour import black_floor_tint, neutral_black
    from nightvid.nets.deblock import deblock_dark

    x = dark((2, 3, size[0], size[1] + 1), seed=size[0] + size[1], top=0.08)[..., 1:]  # not contiguous
    fused = FusedNoiser(nets.build_enhancer("noiser"), threads=2)
    torch.testing.assert_close(fused._deblock(x), deblock_dark(x), atol=1e-6, rtol=0)
    faint = x * 0.1 + 0.01  # noise of about a level: smoothed partly for noise, partly for blocks
    torch.testing.assert_close(fused._deblock(faint), deblock_dark(faint), atol=1e-6, rtol=0)
    magenta = x.clone()
    magenta[0] *= 0.1  # near black
    magenta[0, 0] += 0.01  # image 0: a magenta floor (green under red and blue)
    magenta[0, 2] += 0.012
    tints = black_floor_tint(magenta)
    assert tints[0].max() > 0.002
    expected = deblock_dark(neutral_black(magenta))
    torch.testing.assert_close(fused._deblock(magenta, tints), expected, atol=1e-6, rtol=0)
