"""LEDNet: official layout and golden vectors, FAC and pooling parity, checkpoint loading.

The generic rules (any size, batch, bf16, export) are in test_contract.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from nightvid import NightvidError, nets
from nightvid.nets.lednet import (
    LEDNet,
    LEDNetOutput,
    filter_adaptive_conv,
    filter_adaptive_conv_unfold,
    lednet,
    load_official_lednet,
    pyramid_avg_pool2d,
)

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
GOLDEN_WEIGHTS = REFERENCE / "lednet_golden_weights.safetensors"
GOLDEN_IO = REFERENCE / "lednet_golden_io.safetensors"


def _golden(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"LEDNet reference vectors not found at {path}")
    return path


@pytest.fixture(scope="module")
def golden_net() -> LEDNet:
    """LEDNet with the golden (fp16-valued, random) weights, cast to float32."""
    net = LEDNet().eval()
    load_official_lednet(net, _golden(GOLDEN_WEIGHTS))
    return net


def test_parameter_count_matches_official() -> None:
    assert nets.param_count(lednet()) == 7_408_893


def test_state_dict_has_official_keys_and_shapes() -> None:
    official = load_file(str(_golden(GOLDEN_WEIGHTS)))
    ours = LEDNet().state_dict()
    assert sorted(ours) == sorted(official)
    assert len(ours) == 201
    for key, value in official.items():
        assert ours[key].shape == value.shape, key


def test_golden_vectors(golden_net: LEDNet) -> None:
    io = load_file(str(_golden(GOLDEN_IO)))
    with torch.no_grad():
        out = golden_net(io["input"], side_output=True)
    assert isinstance(out, LEDNetOutput)
    assert (out.image - io["output"]).abs().max() < 1e-4
    assert (out.side - io["side_output"]).abs().max() < 1e-4


def test_forward_returns_image_and_side_output_on_request() -> None:
    torch.manual_seed(0)
    net = LEDNet().eval()
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        image = net(x)
        both = net(x, side_output=True)
    assert isinstance(image, torch.Tensor) and image.shape == x.shape
    assert torch.equal(both[0], image)
    assert both.side.shape == (2, 3, 3, 5)


def test_minus_one_one_range_follows_retrained_release(golden_net: LEDNet) -> None:
    # The retrained release: frames normalised to [-1, 1] in, output read as [-1, 1].
    retrained = LEDNet(input_range=(-1, 1)).eval()
    retrained.load_state_dict(golden_net.state_dict())
    assert retrained.input_range == (-1.0, 1.0)
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        got = nets.Enhancer(retrained)(x)
        expected = (retrained(x * 2 - 1).clamp(-1, 1) + 1) / 2
        paper = nets.Enhancer(golden_net)(x)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(got, paper)
    with pytest.raises(ValueError, match="input_range"):
        LEDNet(input_range=(0, 255))


def test_rejects_sizes_not_multiple_of_8() -> None:
    with pytest.raises(NightvidError, match="multiples of 8"):
        LEDNet()(torch.rand(1, 3, 20, 24))


def test_odd_sizes_through_enhancer(golden_net: LEDNet) -> None:
    x = torch.rand(1, 3, 13, 21)
    with torch.no_grad():
        y = nets.Enhancer(golden_net)(x)
        padded = golden_net(F.pad(x, (0, 3, 0, 3), mode="replicate"))
    assert y.shape == x.shape
    torch.testing.assert_close(y, padded[..., :13, :21].clamp(0, 1), atol=1e-6, rtol=0)


@pytest.mark.parametrize("ksize", [3, 5])
def test_fac_shifted_form_matches_unfold(ksize: int) -> None:
    gen = torch.Generator().manual_seed(ksize)
    feat = torch.randn(2, 6, 9, 14, dtype=torch.float64, generator=gen)
    kernel = torch.randn(2, 6 * ksize * ksize, 9, 14, dtype=torch.float64, generator=gen)
    expected = filter_adaptive_conv_unfold(feat, kernel, ksize=ksize)
    torch.testing.assert_close(filter_adaptive_conv(feat, kernel, ksize=ksize), expected, atol=1e-12, rtol=0)
    # float32 and a non-contiguous feature map
    feat32 = feat.float().transpose(-1, -2).contiguous().transpose(-1, -2)
    got = filter_adaptive_conv(feat32, kernel.float(), ksize=ksize)
    torch.testing.assert_close(got, expected.float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (8, 12), (13, 29)])
def test_pyramid_pool_matches_adaptive_avg_pool(size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    bins = (1, 2, 3, 6)
    for grid, b in zip(pyramid_avg_pool2d(x, bins), bins, strict=False):
        torch.testing.assert_close(grid, F.adaptive_avg_pool2d(x, b), atol=1e-12, rtol=0)


def _fp16_state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: v.half() for k, v in LEDNet().state_dict().items()}


def test_loads_basicsr_pth_params_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    params, ema = _fp16_state(1), _fp16_state(2)
    path = tmp_path / "lednet.pth"
    torch.save({"params": params, "params_ema": ema}, path)
    net = LEDNet()
    with caplog.at_level(logging.INFO, logger="nightvid.nets.lednet"):
        load_official_lednet(net, path)
    assert "'params'" in caplog.text
    state = net.state_dict()
    for key, value in params.items():
        assert state[key].dtype == torch.float32
        assert torch.equal(state[key], value.float()), key

    torch.save({"params_ema": ema}, path)
    with caplog.at_level(logging.INFO, logger="nightvid.nets.lednet"):
        load_official_lednet(net, path)
    assert "'params_ema'" in caplog.text
    assert torch.equal(net.state_dict()["side_out.weight"], ema["side_out.weight"].float())


def test_loader_refuses_what_does_not_fit(tmp_path: Path) -> None:
    params = _fp16_state(1)
    del params["side_out.bias"]
    path = tmp_path / "broken.pth"
    torch.save({"params": params}, path)
    with pytest.raises(NightvidError, match="missing"):
        load_official_lednet(LEDNet(), path)
    torch.save({"net": params}, path)
    with pytest.raises(NightvidError, match="'params'"):
        load_official_lednet(LEDNet(), path)
