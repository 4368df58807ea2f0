"""The rules every registered net follows, checked for each one.

Any H x W, batch > 1, float32 and bfloat16 on CPU, deterministic in eval mode, and
``torch.export`` with dynamic batch, height and width. ONNX export is checked with its
outputs, every net through the onnx backend, in ``tests/engines/test_engines.py``
(``test_fp32_matches_eager``): a separate export here that only checked a file was
written cost CI three minutes.
Net-specific checks (parameter counts, golden vectors) live in each net's own test file.
"""

from __future__ import annotations

import pytest
import torch
from torch.export import Dim

from nightvid import nets

NAMES = nets.list_nets()
# Small but awkward sizes: odd, not multiples of 8, different aspect ratios.
SIZES = [(37, 53), (64, 48)]


def make_enhancer(name: str) -> nets.Enhancer:
    torch.manual_seed(0)
    return nets.build_enhancer(name, weights=None)


@pytest.fixture(scope="module", params=NAMES)
def enhancer(request: pytest.FixtureRequest) -> nets.Enhancer:
    return make_enhancer(request.param)


@pytest.mark.parametrize("size", SIZES)
def test_any_size_and_batch(enhancer: nets.Enhancer, size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = enhancer(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_batch_items_are_independent(enhancer: nets.Enhancer) -> None:
    x = torch.rand(2, 3, 40, 56)
    with torch.no_grad():
        both = enhancer(x)
        second = enhancer(x[1:])
    torch.testing.assert_close(both[1:], second, atol=1e-5, rtol=1e-4)


def test_deterministic_in_eval(enhancer: nets.Enhancer) -> None:
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.equal(enhancer(x), enhancer(x))


def test_bfloat16_on_cpu(enhancer: nets.Enhancer) -> None:
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        ref = enhancer(x)
        low = enhancer.to(torch.bfloat16)(x.to(torch.bfloat16))
    enhancer.float()
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().mean() < 2e-2


def test_export_dynamic_shapes_matches_eager(enhancer: nets.Enhancer) -> None:
    example = torch.rand(2, 3, 64, 96)
    dims = {
        "x": {0: Dim("batch", min=1, max=16), 2: Dim("height", min=16, max=2160), 3: Dim("width", min=16, max=3840)}
    }
    program = torch.export.export(enhancer, (example,), dynamic_shapes=dims)
    for shape in [(1, 3, 37, 53), (3, 3, 64, 48)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            torch.testing.assert_close(program.module()(x), enhancer(x), atol=1e-4, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 inference is checked on CUDA only")
def test_float16_on_cuda(enhancer: nets.Enhancer) -> None:
    x = torch.rand(2, 3, 64, 96, device="cuda")
    net = enhancer.to("cuda")
    with torch.no_grad():
        ref = net(x)
        half = net.half()(x.half())
    enhancer.float().cpu()
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    assert (half.float() - ref).abs().mean() < 2e-2
