"""--exposure (a tone curve, or KinD's own illumination target) and NoiSER's two fixes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nightvid import nets
from nightvid.cli import app
from nightvid.engines import create_engine
from nightvid.errors import NightvidError
from nightvid.nets.colour import luma, neutral_black
from nightvid.nets.deblock import deblock_dark
from nightvid.nets.noiser import NoiSER, keep_input_colour

REC709 = torch.tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)


def mean_luma(x: torch.Tensor) -> float:
    return (x * REC709).sum(dim=1).mean().item()


def dark_scene(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 1, 12, 16, generator=g).repeat_interleave(4, -1).repeat_interleave(4, -2)
    tint = torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)
    return (0.08 * base * tint + 0.01 * torch.rand(1, 3, 48, 64, generator=g)).clamp(0, 1)


def test_exposure_curve_hits_the_target_keeps_black_and_white() -> None:
    x = dark_scene()
    for target in (0.2, 0.35, 0.5):
        assert mean_luma(nets.exposure_curve(x, target)) == pytest.approx(target, abs=0.06)
    ends = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    out = nets.exposure_curve(torch.cat([ends, torch.full((1, 3, 1, 2), 0.1)], dim=2), 0.4)
    assert out[0, :, 0, 0].max() < 0.5 / 255 and out[0, :, 0, 1].min() == 1.0  # black rounds to 0


def test_exposure_curve_lands_on_a_far_target_for_a_lamp_lit_frame() -> None:
    """A bright, contrasty net output held far down (a lamp-lit scene: the net at mean 0.55-0.6,
    ``auto`` aiming at 0.26) must land on the target: with 3 refinements the curve stopped
    3-12 levels of 255 above it on the highway CCTV clip."""
    g = torch.Generator().manual_seed(1)
    sky = 0.3 * torch.rand(1, 3, 40, 64, generator=g)
    road = (0.6 + 0.4 * torch.rand(1, 3, 24, 64, generator=g)).clamp(0, 1)
    frame = torch.cat([sky, road, torch.ones(1, 3, 8, 64)], dim=2)  # lamps burnt to white
    assert mean_luma(frame) > 0.45
    for target in (0.26, 0.2):
        assert mean_luma(nets.exposure_curve(frame, target)) == pytest.approx(target, abs=1.0 / 255)


def test_exposure_curve_keeps_each_pixels_colour() -> None:
    """The curve scales a pixel's R, G and B by one factor (a gain would), so hue and
    saturation stay; a per-channel power curve would pull the channels together (grey)."""
    x = dark_scene()
    for target in (0.15, 0.4):  # darker and brighter than the scene's own
        out = nets.exposure_curve(x, target)
        unclipped = (out < 1.0).all(dim=1, keepdim=True) & (x > 1e-3).all(dim=1, keepdim=True)
        ratio = out / x.clamp_min(1e-6)
        spread = (ratio.amax(dim=1, keepdim=True) - ratio.amin(dim=1, keepdim=True)) / ratio.amin(dim=1, keepdim=True)
        assert float(spread[unclipped].max()) < 1e-3


def test_exposure_goes_to_the_tone_curve_of_every_model() -> None:
    for name in ("kind", "noiser"):
        built = nets.build_enhancer(name, exposure=0.3)
        assert built.exposure == 0.3 and built.options["exposure"] == 0.3


@pytest.mark.parametrize("name", ["noiser", "lednet", "kind"])
def test_exposure_moves_every_shipped_models_brightness(name) -> None:
    """The user's --exposure must change the result (KinD's own ratio did not, with its shipped weights)."""
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        dark, bright = (mean_luma(nets.build_enhancer(name, exposure=e)(x)) for e in (0.2, 0.5))
    assert dark == pytest.approx(0.2, abs=0.06) and bright == pytest.approx(0.5, abs=0.06)


def test_engines_with_other_exposures_are_other_artifacts(tmp_path) -> None:
    plain = create_engine("noiser", backend="onnx", cache_dir=tmp_path)
    darker = create_engine("noiser", backend="onnx", cache_dir=tmp_path, exposure=0.2)
    assert plain.artifact != darker.artifact and darker.details["exposure"] == "0.2"
    frame = (dark_scene() * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert darker.enhance_frames(frame).mean() < plain.enhance_frames(frame).mean()


def test_enhance_refuses_an_exposure_outside_zero_to_one(tmp_path) -> None:
    from tests.clips import make_clip

    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    result = CliRunner().invoke(app, ["enhance", str(clip), str(tmp_path / "out.mp4"), "--exposure", "1.5"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "exposure" in result.output


def test_noiser_pads_by_replication_so_a_dark_frame_gets_no_bright_border() -> None:
    net = nets.build_enhancer("noiser")
    with torch.no_grad():
        out = (net(dark_scene()) * 255).round().numpy()[0].transpose(1, 2, 0).astype(np.uint8)
    from nightvid.jobs.compare.figures import border_excess

    assert border_excess(out) < 0.10
    zero_padded = NoiSER(padding="zeros", colour=0.7)
    zero_padded.load_state_dict(net.net.state_dict())
    with torch.no_grad():
        ring = (nets.Enhancer(zero_padded)(dark_scene()) * 255).round().numpy()[0].transpose(1, 2, 0)
    assert border_excess(ring.astype(np.uint8)) > 0.2  # what the paper's zero padding drew


def test_keep_input_colour_keeps_hue_black_and_caps_the_gain() -> None:
    x = torch.tensor([[0.10, 0.05, 0.02], [0.0, 0.0, 0.0], [0.001, 0.001, 0.001]]).T.reshape(1, 3, 3, 1)
    bright = torch.full_like(x, 0.5)
    out = keep_input_colour(x, bright, max_gain=12.0)
    ratios = out[0, :, 0, 0] / x[0, :, 0, 0]
    torch.testing.assert_close(ratios, ratios[0].expand(3))  # one gain for all channels: same hue
    assert mean_luma(out[..., :1, :]) == pytest.approx(0.5, abs=1e-4)
    assert out[0, :, 1, 0].abs().max() == 0  # black stays black
    torch.testing.assert_close(out[0, :, 2, 0], torch.full((3,), 0.012))  # capped at x12
    with pytest.raises(ValueError):
        NoiSER(colour=1.5)


def test_noiser_colour_zero_is_the_papers_net_alone() -> None:
    torch.manual_seed(0)
    plain = NoiSER()
    mixed = NoiSER(colour=0.7)
    mixed.load_state_dict(plain.state_dict())
    x = dark_scene() * 2 - 1
    with torch.no_grad():
        assert torch.equal(plain(x), plain.body(x))
        assert not torch.equal(mixed(x), plain(x))


def test_registry_sets_how_much_colour_each_net_takes_from_the_input() -> None:
    assert nets.get_info("lednet").input_colour == 0.6 and nets.get_info("kind").input_colour == 0.7
    assert nets.get_info("noiser").input_colour == 0.0  # NoiSER keeps colour inside its own net
    assert nets.get_info("denoiser").input_colour == 0.0
    x = dark_scene()
    raw = nets.build_enhancer("kind", input_colour=0.0, exposure=None)
    kept = nets.build_enhancer("kind", exposure=None)
    assert kept.input_colour == 0.7 and kept.options["input_colour"] == 0.7
    from nightvid.nets.colour import mix_input_colour

    source = deblock_dark(neutral_black(x))  # what the net and the mix see (both steps are KinD's)
    with torch.no_grad():
        torch.testing.assert_close(kept(x), mix_input_colour(source, raw(x), 0.7))
        assert torch.equal(mix_input_colour(x, raw(x), 0.0), raw(x))


def test_kind_pads_by_replication_so_its_result_has_no_bright_ring() -> None:
    import av

    import nightvid
    from nightvid.jobs.compare.figures import border_excess

    with av.open(str(Path(nightvid.__file__).parent / "assets" / "night-demo.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")  # a real night frame
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255

    def ring(padding: str) -> float:
        net = nets.build_enhancer("kind", padding=padding, input_colour=0.0)
        with torch.no_grad():
            out = (net(x) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        return border_excess(out)

    assert ring("replicate") < 0.15 and ring("zeros") > 0.3


def test_non_finite_weights_are_refused_and_denormals_flushed(tmp_path) -> None:
    from safetensors.torch import save_file

    net = nets.build("noiser")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    nan = {**state, "body.0.weight": torch.full_like(state["body.0.weight"], float("nan"))}
    save_file(nan, str(tmp_path / "nan.safetensors"))
    with pytest.raises(NightvidError, match="non-finite"):
        nets.build_enhancer("noiser", weights=tmp_path / "nan.safetensors")
    tiny = state["body.3.weight"].clone()
    tiny.view(-1)[:10] = 1e-40  # float32 denormals
    save_file({**state, "body.3.weight": tiny}, str(tmp_path / "denormal.safetensors"))
    loaded = nets.build_enhancer("noiser", weights=tmp_path / "denormal.safetensors")
    weight = loaded.net.body[3].weight
    assert bool((weight.view(-1)[:10] == 0).all())
    torch.testing.assert_close(weight.view(-1)[10:], tiny.view(-1)[10:], atol=0, rtol=0)
    assert nets.flush_denormals(torch.tensor([1e-40, 1.0, 0.0])).tolist() == [0.0, 1.0, 0.0]


def test_auto_exposure_keeps_darker_scenes_darker_and_bright_ones_as_they_are() -> None:
    means = torch.tensor([0.016, 0.024, 0.087, 0.3, 0.7])
    frames = means.view(-1, 1, 1, 1).expand(-1, 3, 8, 8)
    target = nets.auto_exposure_target(frames).flatten()
    gain, power, cap = nets.AUTO_EXPOSURE
    assert target[0] < target[1] < target[2] <= cap  # night stays night, darker stays darker
    assert target[1] == pytest.approx(gain * 0.024**power, rel=1e-4)
    assert target[3] == pytest.approx(cap) and target[4] == pytest.approx(0.7)  # never darkened
    assert float(target[1]) == pytest.approx(0.27, abs=0.01)


def test_auto_exposure_holds_lamp_lit_scenes_to_a_night_brightness() -> None:
    """Lamps burnt to white mark a night scene: "auto" lifts it to at most twice its mean
    (never under LIT_SCENE's floor); a few white pixels change nothing; the hold grows
    smoothly with the lit share (no jump for a frame with one more lamp)."""
    white, start, full, lit_gain, floor = nets.LIT_SCENE

    def frame(mean: float, lit_share: float) -> torch.Tensor:
        x = torch.full((1, 3, 100, 100), mean)
        x.view(-1)[: round(lit_share * 10_000)] = 1.0  # the first rows of the red plane...
        x[:, 1:] = x[:, :1]  # ...and the same pixels in green and blue: white
        return x

    unlit, lit = frame(0.13, 0.0), frame(0.13, 0.01)
    assert float(nets.auto_exposure_target(unlit)) == pytest.approx(nets.AUTO_EXPOSURE[2])
    m = float(luma(lit).mean())
    assert float(nets.auto_exposure_target(lit)) == pytest.approx(max(lit_gain * m, floor), rel=1e-4)
    dark_lit = frame(0.02, 0.01)  # a very dark lit frame (m 0.03, unlit target 0.29) keeps the floor
    assert float(nets.auto_exposure_target(dark_lit)) == pytest.approx(floor)
    darker_lit = frame(0.005, 0.01)  # its unlit target (0.23) is under the floor: unchanged
    unlit_darker = frame(float(luma(darker_lit).mean()), 0.0)
    assert float(nets.auto_exposure_target(darker_lit)) == pytest.approx(float(nets.auto_exposure_target(unlit_darker)))
    shares = [0.0, start, (start + full) / 2, full, 2 * full]
    targets = [float(nets.auto_exposure_target(frame(0.13, s))) for s in shares]
    assert targets[0] > targets[2] > targets[3] and targets[1] == pytest.approx(targets[0], abs=0.01)
    assert all(abs(a - b) < 0.13 for a, b in zip(targets, targets[1:], strict=False))


def test_lit_exposure_holds_only_lamp_lit_scenes_and_never_brightens() -> None:
    white, start, full, lit_gain, floor = nets.LIT_SCENE
    g = torch.Generator().manual_seed(5)
    scene = (0.13 + 0.05 * torch.rand(1, 3, 100, 100, generator=g)).clamp(0, 1)
    lamps = scene.clone()
    lamps.view(1, 3, -1)[..., :100] = 1.0  # 1% of the pixels burnt to white
    foggy = (0.45 + 0.1 * torch.rand(1, 3, 100, 100, generator=g)).clamp(0, 1)  # a net's bright result
    held = nets.hold_lamp_lit(lamps, foggy)
    lit_mean = float(luma(lamps).mean())
    assert mean_luma(held) == pytest.approx(max(lit_gain * lit_mean, floor), abs=0.01)
    assert torch.equal(nets.hold_lamp_lit(scene, foggy), foggy)  # not lamp-lit: exactly the net's own
    dim = 0.1 * foggy  # already darker than the hold: kept
    assert torch.equal(nets.hold_lamp_lit(lamps, dim), dim)
    share, _ = nets.lamp_lit_share(torch.cat([scene, lamps]))
    assert share.flatten().tolist() == [0.0, 1.0]


def test_default_exposure_is_auto_for_kind_and_lednet_lit_for_noiser_and_own_for_the_denoiser() -> None:
    assert [nets.get_info(n).default_exposure for n in ("lednet", "kind", "noiser", "denoiser")] == [
        "auto",
        "auto",
        "lit",
        None,
    ]
    x = dark_scene()
    with torch.no_grad():
        auto = nets.build_enhancer("kind", weights=None)(x)
        own = nets.build_enhancer("kind", weights=None, exposure="none")(x)
    assert mean_luma(auto) == pytest.approx(float(nets.auto_exposure_target(x)), abs=0.03)
    assert not torch.equal(auto, own)
    assert nets.build_enhancer("noiser").exposure == "lit"
    assert nets.parse_exposure("none") is None and nets.parse_exposure("0.3") == 0.3
    assert nets.parse_exposure("lit") == "lit"
    with pytest.raises(NightvidError, match="default, auto, lit, none"):
        nets.parse_exposure("bright")


def test_dim_to_mean_luma_scales_only_images_brighter_than_the_limit() -> None:
    from nightvid.nets.colour import dim_to_mean_luma

    g = torch.Generator().manual_seed(1)
    bright = 0.3 + 0.6 * torch.rand(1, 3, 8, 8, generator=g)
    dark = 0.2 * torch.rand(1, 3, 8, 8, generator=g)
    out = dim_to_mean_luma(torch.cat([bright, dark]), 0.16)
    assert mean_luma(out[:1]) == pytest.approx(0.16, abs=1e-6)
    assert torch.equal(out[1:], dark)  # already darker: untouched
    ratio = out[0] / bright[0]
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio.mean())))  # one gain: colour kept


class _Spy(torch.nn.Module):
    """A net that passes its input through and remembers it."""

    input_range = (0.0, 1.0)
    size_multiple = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.clone()
        return x


def test_lednet_and_kind_see_bright_inputs_dimmed_but_finish_against_the_real_input() -> None:
    assert nets.get_info("lednet").brightest_input == nets.SICE_BRIGHTEST_INPUT == 0.16
    assert nets.get_info("kind").brightest_input == 0.16
    assert nets.get_info("noiser").brightest_input is None and nets.get_info("denoiser").brightest_input is None
    assert nets.build_enhancer("kind", weights=None).options["brightest_input"] == 0.16  # part of the cache key
    sunlit = (0.55 + 0.3 * torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    spy = _Spy()
    enhancer = nets.Enhancer(spy, exposure=nets.AUTO, brightest_input=0.16)
    with torch.no_grad():
        out = enhancer(sunlit)
    assert mean_luma(spy.seen) == pytest.approx(0.16, abs=1e-5)
    # The exposure target comes from the photo as it came (bright: its own mean), not the dimmed copy.
    assert mean_luma(out) == pytest.approx(mean_luma(sunlit), abs=0.01)
    night = dark_scene()
    with torch.no_grad():
        enhancer(night)
    assert torch.equal(spy.seen, night)


def test_neutral_black_takes_a_magenta_floor_off_and_leaves_other_floors_alone() -> None:
    from nightvid.nets.colour import black_floor_tint

    g = torch.Generator().manual_seed(3)
    grey_night = 0.02 * torch.rand(1, 1, 32, 32, generator=g).expand(1, 3, 32, 32)
    lamp = torch.zeros(1, 3, 32, 32)
    lamp[..., :4, :4] = 1.0
    magenta = (grey_night + torch.tensor([3.0, 0.0, 4.0]).view(1, 3, 1, 1) / 255 + lamp).clamp(0, 1)
    tint = black_floor_tint(magenta).flatten()
    assert float(tint[1]) == 0.0 and float(tint[0]) == float(tint[2]) == pytest.approx(3.0 / 255, abs=2e-4)
    out = neutral_black(magenta)
    dark = (luma(grey_night) < 0.015).expand_as(out)[0]
    floor = out[0][dark].view(3, -1).mean(dim=1) * 255
    assert floor[0] == pytest.approx(floor[1], abs=0.05) and floor[2] - floor[1] == pytest.approx(1.0, abs=0.05)
    assert torch.equal(out[..., :4, :4], lamp[..., :4, :4])  # white stays white
    # Floors that are not magenta (grey, warm like SICE's shadows, blue) and frames with no
    # near-black pixels pass through unchanged.
    for offset in ([0.0, 0.0, 0.0], [3.0, 3.7, 1.3], [0.0, 0.2, 2.0], [1.0, 2.0, 3.0]):
        other = (grey_night + torch.tensor(offset).view(1, 3, 1, 1) / 255).clamp(0, 1)
        assert torch.equal(neutral_black(other), other), offset
    day = 0.4 + 0.5 * torch.rand(1, 3, 16, 16, generator=g)
    assert torch.equal(neutral_black(day), day)


def _magenta_floor_night() -> torch.Tensor:
    return (dark_scene() + torch.tensor([3.0, 0.0, 4.0]).view(1, 3, 1, 1) / 255).clamp(0, 1)


def _blocky_night_sky() -> torch.Tensor:
    """A codec's night sky: near-black purple and green 16x16 squares."""
    rows = torch.arange(48) // 16
    board = ((rows[:, None] + rows[None, :]) % 2).bool()
    purple, green = (torch.tensor(v).view(3, 1, 1) / 255 for v in ((3.0, 1.0, 4.0), (1.0, 3.0, 1.0)))
    return torch.where(board, purple, green)[None]


@pytest.mark.parametrize(
    ("field", "step", "image"),
    [
        ("neutral_black", neutral_black, _magenta_floor_night),
        ("deblock_dark", deblock_dark, _blocky_night_sky),
    ],
)
def test_enhancement_nets_clean_the_input_before_the_net_and_the_colour_mix(
    field: str, step: Callable[[torch.Tensor], torch.Tensor], image: Callable[[], torch.Tensor]
) -> None:
    """Each input step, a registry field of NoiSER, LEDNet and KinD (part of the cache key),
    reaches the net and the colour mix alike."""
    assert [getattr(nets.get_info(n), field) for n in ("noiser", "lednet", "kind", "denoiser")] == [
        True,
        True,
        True,
        False,
    ]
    assert nets.build_enhancer("lednet", weights=None).options[field] is True
    night = image()
    spy = _Spy()
    with torch.no_grad():
        out = nets.Enhancer(spy, input_colour=1.0, **{field: True})(night)
    assert torch.equal(spy.seen, step(night)) and not torch.equal(spy.seen, night)
    torch.testing.assert_close(out, spy.seen)  # the colour mix took its colour from the cleaned input


def test_build_can_turn_deblocking_off_and_a_chain_deblocks_once() -> None:
    off = nets.build_enhancer("kind", weights=None, deblock=False)
    assert off.deblock_dark is False and off.options["deblock_dark"] is False
    chain = nets.build_enhancer("noiser+denoiser", weights=None)
    assert [stage.deblock_dark for stage in chain.stages] == [True, False]  # before the first net only
