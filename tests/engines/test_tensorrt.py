"""TensorRT: the export it compiles from runs everywhere; the compile itself needs torch_tensorrt + CUDA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nightvid.engines import create_engine, shapes, tensorrt
from nightvid.errors import NightvidError
from tests.engines.conftest import NETS, SIZES, TEST_RANGE, reference


@pytest.mark.parametrize("name", NETS)
def test_export_with_the_shared_dynamic_spec(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = shapes.export_program
    monkeypatch.setattr(tensorrt, "export_program", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    module, program, example = tensorrt.prepare(reference(name), TEST_RANGE, device="cpu", dtype=torch.float32)
    assert calls == [TEST_RANGE]  # the one export every backend uses, over the engine's range
    assert example.shape == (2, 3, 48, 64)
    bounds = sorted(
        (int(r.lower), int(r.upper))
        for r in program.range_constraints.values()
        if (int(r.lower), int(r.upper)) in {(1, 2), (32, 64), (32, 96)}
    )
    assert bounds == [(1, 2), (32, 64), (32, 96)]
    for size in SIZES:
        x = torch.rand(size[0], 3, *size[1:])
        with torch.no_grad():
            torch.testing.assert_close(program.module()(x), module(x), atol=1e-4, rtol=1e-4)


def test_precision_options_follow_the_installed_version() -> None:
    assert tensorrt.trt_version("2.13.0+cu130") == (2, 13)
    assert tensorrt.compile_options((2, 9), torch.float16, False) == {"enabled_precisions": {torch.float16}}
    assert tensorrt.compile_options((2, 13), torch.float16, False) == {}  # strong typing: dtypes from the graph
    assert tensorrt.compile_options((2, 13), torch.float16, True) == {
        "enable_autocast": True,
        "autocast_low_precision_type": torch.float16,
    }


def test_missing_torch_tensorrt_or_cuda_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import torch_tensorrt  # noqa: F401
    except ImportError:
        match = r"pip install 'nightvid\[tensorrt\]'"
    else:
        if torch.cuda.is_available():
            pytest.skip("torch_tensorrt and CUDA are both here")
        match = "needs a CUDA device"
    with pytest.raises(NightvidError, match=match):
        create_engine("noiser", weights=None, backend="tensorrt", cache_dir=tmp_path)


@pytest.mark.gpu
@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-4), ("fp16", 2e-2)])
def test_compile_save_load_matches_eager(tmp_path: Path, precision: str, tolerance: float) -> None:
    pytest.importorskip(
        "torch_tensorrt",
        reason="torch_tensorrt is not installed (optional extra "
        "nightvid[tensorrt]; needs a CUDA build of torch of the same minor version)",
    )
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA device")
    for name in NETS:
        torch.manual_seed(0)
        engine = create_engine(
            name,
            weights=None,
            backend="tensorrt",
            device="cuda",
            precision=precision,
            shape_range=TEST_RANGE,
            cache_dir=tmp_path,
        )
        torch.manual_seed(0)
        again = create_engine(
            name,
            weights=None,
            backend="tensorrt",
            device="cuda",
            precision=precision,
            shape_range=TEST_RANGE,
            cache_dir=tmp_path,
        )
        assert again.details["cache"] == "hit"
        ref = reference(name).cuda().to(engine.dtype)
        for size in SIZES:
            x = torch.rand(size[0], 3, *size[1:], device="cuda", dtype=engine.dtype)
            with torch.no_grad():
                assert (again(x).float() - ref(x).float()).abs().max().item() <= tolerance
