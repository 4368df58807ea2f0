"""KinD: parameter counts of the official code, output contract, exposure control.

The generic rules (any size, export, bf16) are in test_contract.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from nightvid.nets import load_weights, param_count
from nightvid.nets.kind import (
    DecomNet,
    IlluminationAdjustNet,
    KinD,
    KinDOutput,
    RestorationNet,
    exposure_ratio,
    max_pool_ceil,
)


@pytest.fixture(scope="module")
def net() -> KinD:
    torch.manual_seed(0)
    return KinD().eval()


def test_parameter_counts_match_official_code(net: KinD) -> None:
    assert param_count(net.decom) == 235_876
    assert param_count(net.restoration) == 7_760_739
    assert param_count(net.adjust) == 19_393
    assert param_count(net) == 235_876 + 7_760_739 + 19_393


def test_outputs_shapes_and_ranges(net: KinD) -> None:
    x = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        out = net(x)
        reflectance, illumination = net.decom(x)
    assert isinstance(out, KinDOutput)
    assert out.result.shape == out.reflectance.shape == reflectance.shape == x.shape
    assert out.illumination.shape == illumination.shape == (2, 1, 37, 53)
    for t in (*out, reflectance, illumination):
        assert 0.0 <= t.min() and t.max() <= 1.0


def test_practical_mode_stays_in_range() -> None:
    torch.manual_seed(0)
    net = KinD(ratio=3.0, practical=True).eval()
    x = torch.rand(1, 3, 20, 27)
    with torch.no_grad():
        out = net(x)
    assert out.result.shape == x.shape
    assert 0.0 <= out.result.min() and out.result.max() <= 1.0


def testdark_attenuation_matches_scipy_gaussian(net: KinD) -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    reflectance = torch.rand(1, 3, 30, 41, dtype=torch.float64)
    gray = 0.2125 * reflectance[0, 0] + 0.7154 * reflectance[0, 1] + 0.0721 * reflectance[0, 2]
    blurred = torch.from_numpy(ndimage.gaussian_filter(gray.numpy(), 3.0, mode="nearest", truncate=4.0))
    expected = (2 * blurred).sqrt().clamp_max(1.0)
    got = net.dark_attenuation(reflectance.float())[0, 0].double()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_pool_matches_ceil_mode_max_pool() -> None:
    for shape in [(2, 4, 9, 14), (1, 3, 8, 8), (1, 1, 1, 3)]:
        x = torch.randn(*shape)
        assert torch.equal(max_pool_ceil(x), F.max_pool2d(x, 2, ceil_mode=True))


def _reference_restoration(net: RestorationNet, r: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    """The straightforward U-Net: ceil-mode pooling, slicing crop, no minimum size."""
    x = torch.cat([r, i], dim=1)
    skips = []
    for level, block in enumerate(net.down):
        x = block(x if level == 0 else F.max_pool2d(x, 2, ceil_mode=True))
        skips.append(x)
    for up, block, skip in zip(net.ups, net.up_convs, reversed(skips[:-1]), strict=False):
        x = block(torch.cat([up(x)[..., : skip.shape[-2], : skip.shape[-1]], skip], dim=1))
    return torch.sigmoid(net.out(x))


@pytest.mark.parametrize("size", [(37, 45), (32, 48)])
def test_restoration_matches_straightforward_unet(net: KinD, size: tuple[int, int]) -> None:
    r, i = torch.rand(1, 3, *size), torch.rand(1, 1, *size)
    with torch.no_grad():
        torch.testing.assert_close(net.restoration(r, i), _reference_restoration(net.restoration, r, i))


def test_restoration_small_frames_keep_their_size(net: KinD) -> None:
    with torch.no_grad():
        out = net.restoration(torch.rand(1, 3, 5, 19), torch.rand(1, 1, 5, 19))
    assert out.shape == (1, 3, 5, 19)


def _monotone_adjust(adjust: IlluminationAdjustNet) -> None:
    """Hand-set weights: output = sigmoid(ratio), so a larger ratio means more light.

    A random net's response to the ratio has no sign; this isolates the plumbing (the
    ratio reaches the net as a constant map and changes the result) from training.
    """
    convs = [m for m in adjust.body if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for conv in convs:
            conv.weight.zero_()
            conv.bias.zero_()
        convs[0].weight[0, 1, 1, 1] = 1.0  # channel 1 of the input is the ratio map
        for conv in convs[1:]:
            conv.weight[0, 0, 1, 1] = 1.0


def test_user_ratio_above_one_brightens() -> None:
    torch.manual_seed(0)
    net = KinD(ratio=1.0).eval()
    _monotone_adjust(net.adjust)
    x = torch.rand(1, 3, 24, 24) * 0.2
    with torch.no_grad():
        base = net(x).result
        net.ratio = 3.0  # a plain attribute: change it between calls
        bright = net(x).result
    assert bright.mean() > base.mean()
    assert (bright >= base).all()


def _captured_ratio_map(net: KinD, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ratio channel fed to the adjustment net, decomposed illumination)."""
    seen: dict[str, torch.Tensor] = {}
    handle = net.adjust.body.register_forward_pre_hook(lambda _, args: seen.update(x=args[0]))
    try:
        with torch.no_grad():
            net(x)
            _, illumination = net.decom(x)
    finally:
        handle.remove()
    return seen["x"][:, 1:2], illumination


def test_user_ratio_reaches_adjust_net_as_constant_map(net: KinD) -> None:
    net.ratio = 2.5
    try:
        ratio_map, _ = _captured_ratio_map(net, torch.rand(2, 3, 16, 20))
    finally:
        net.ratio = None
    assert ratio_map.shape == (2, 1, 16, 20)
    assert torch.all(ratio_map == 2.5)


def test_default_ratio_targets_mean_illumination(net: KinD) -> None:
    x = torch.cat([torch.rand(1, 3, 16, 20) * 0.1, torch.rand(1, 3, 16, 20)])  # dark, bright
    ratio_map, illumination = _captured_ratio_map(net, x)
    expected = net.target_illumination / illumination.mean(dim=(-2, -1), keepdim=True)
    torch.testing.assert_close(ratio_map, expected.expand_as(ratio_map))
    assert ratio_map[0, 0, 0, 0] != ratio_map[1, 0, 0, 0]  # per image


def test_exposure_ratio_brings_mean_to_target() -> None:
    dark = torch.rand(3, 1, 12, 15) * 0.1 + 0.01
    ratio = exposure_ratio(dark, 0.5)
    assert ratio.shape == (3, 1, 1, 1) and (ratio > 1).all()
    torch.testing.assert_close((dark * ratio).mean(dim=(-2, -1)), torch.full((3, 1), 0.5))
    assert torch.isfinite(exposure_ratio(torch.zeros(1, 1, 4, 4), 0.5)).all()


def test_subnets_alone() -> None:
    decom, adjust = DecomNet(), IlluminationAdjustNet()
    r, i = decom(torch.rand(1, 3, 13, 18))
    assert r.shape == (1, 3, 13, 18) and i.shape == (1, 1, 13, 18)
    assert adjust(i, torch.tensor([2.0]).view(1, 1, 1, 1)).shape == i.shape
    torch.testing.assert_close(adjust(i, 2.0), adjust(i, torch.full((1, 1, 1, 1), 2.0)))


def test_state_dict_round_trip(net: KinD, tmp_path) -> None:
    state = net.state_dict()
    assert "gauss" not in state  # fixed filter, not a weight
    path = tmp_path / "kind.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata={"model": "kind"})
    torch.manual_seed(1)
    other = KinD()
    load_weights(other, path, name="kind")
    for key, value in other.state_dict().items():
        assert torch.equal(value, state[key]), key
