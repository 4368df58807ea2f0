"""Denoiser (Liu et al. 2018): size of the official model, residual form, any size.

The generic rules (any size, export, bf16) are in test_contract.py.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nightvid.nets import load_weights, param_count
from nightvid.nets.denoiser import Denoiser, FeatureBlock


@pytest.fixture(scope="module")
def net() -> Denoiser:
    torch.manual_seed(0)
    return Denoiser().eval()


def test_parameter_count_matches_official_model(net: Denoiser) -> None:
    assert param_count(net) == 1_033_443


@pytest.mark.parametrize("size", [(5, 7), (17, 23), (32, 48)])
def test_same_size_out(net: Denoiser, size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_zero_last_layer_is_identity() -> None:
    net = Denoiser().eval()
    with torch.no_grad():
        net.tail.weight.zero_()
        net.tail.bias.zero_()
        x = torch.rand(1, 3, 19, 26)
        assert torch.equal(net(x), x)


def _reference_forward(net: Denoiser, x: torch.Tensor) -> torch.Tensor:
    """The straightforward form: crop upsampled maps by slicing."""

    def up_concat(skip: torch.Tensor, deconv: torch.nn.Module, low: torch.Tensor) -> torch.Tensor:
        return torch.cat([skip, deconv(low)[..., : skip.shape[-2], : skip.shape[-1]]], dim=1)

    f1 = net.head(x)
    f2 = net.enc2(f1)
    f3 = net.enc3(f2)
    d2 = net.dec2(up_concat(f2, net.up3, f3))
    return x + net.tail(up_concat(f1, net.up2, d2))


def test_matches_straightforward_form(net: Denoiser) -> None:
    x = torch.rand(1, 3, 21, 30)
    with torch.no_grad():
        torch.testing.assert_close(net(x), _reference_forward(net, x))


def test_feature_block_shapes_and_residual() -> None:
    block = FeatureBlock(64, 128, 32, stride=2).eval()
    assert block(torch.rand(1, 64, 9, 10)).shape == (1, 128, 5, 5)
    with torch.no_grad():
        block.branch[-1].weight.zero_()  # last BN scale 0: the bottleneck adds its bias only
        block.branch[-1].bias.zero_()
        x = torch.rand(1, 64, 8, 8)
        expected = torch.relu(block.bn(block.conv(x)))
        torch.testing.assert_close(block(x), expected)


def test_trains_in_train_mode() -> None:
    torch.manual_seed(0)
    net = Denoiser().train()
    x = torch.rand(2, 3, 16, 16)
    loss = (net(x) - x).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_state_dict_round_trip(net: Denoiser, tmp_path) -> None:
    state = net.state_dict()
    assert any(k.endswith("running_mean") for k in state)  # batch-norm statistics travel too
    path = tmp_path / "denoiser.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata={"model": "denoiser"})
    torch.manual_seed(1)
    other = Denoiser()
    load_weights(other, path, name="denoiser")
    for key, value in other.state_dict().items():
        assert torch.equal(value, state[key]), key
