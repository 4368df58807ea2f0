"""Every backend available here against eager on every net; cache hits; out-of-range inputs.

Artifacts are built once per session (``conftest.engine_for``) on a small shape range.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from nightvid import engines, nets
from nightvid.engines import create_engine
from nightvid.engines.eager import build_eager
from nightvid.errors import NightvidError
from tests.engines.conftest import NETS, SIZES, TEST_RANGE, reference, slow

ARTIFACT_BACKENDS = ["inductor", "onnx"]
#: Every (backend, net) pair available here; the minutes-long builds are marked slow.
HEAVY = {
    ("inductor", "kind"),
    ("inductor", "lednet"),
    ("inductor-jit", "denoiser"),
    ("inductor-jit", "kind"),
    ("inductor-jit", "lednet"),
}
# LEDNet's AOTInductor build alone takes about 5 min on 2 loaded cores: past the suite's
# 300 s per-test timeout, hence a longer one for the slow builds.
PAIRS = [
    pytest.param(b, n, marks=[slow, pytest.mark.timeout(1500)] if (b, n) in HEAVY else [], id=f"{b}-{n}")
    for b in [*ARTIFACT_BACKENDS, "inductor-jit"]
    for n in NETS
]
CACHED_PAIRS = [p for p in PAIRS if p.values[0] in ARTIFACT_BACKENDS]


def batch(size: tuple[int, int, int], seed: int = 1) -> torch.Tensor:
    b, h, w = size
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("backend, name", PAIRS)
def test_fp32_matches_eager(engine_for, backend: str, name: str, size: tuple[int, int, int]) -> None:
    engine = engine_for(name, backend)
    assert engine.backend == backend
    x = batch(size)
    with torch.no_grad():
        want = reference(name)(x)
    got = engine(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert (got - want).abs().max().item() <= 1e-4


def test_eager_channels_last_matches_contiguous() -> None:
    # channels_last is what the eager engine uses on CUDA; the same arithmetic on CPU.
    torch.manual_seed(0)
    engine = build_eager(nets.build_enhancer("denoiser", weights=None), device=torch.device("cpu"), channels_last=True)
    x = batch(SIZES[0])
    with torch.no_grad():
        assert (engine(x) - reference("denoiser")(x)).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", ["noiser", pytest.param("denoiser", marks=slow)])
def test_bf16_inductor_matches_eager_bf16(engine_for, name: str) -> None:
    # bf16 AOTInductor for the cheap nets only: each extra build costs tens of seconds
    # on 2 cores; the fp32 builds above cover the graph of every net.
    engine = engine_for(name, "inductor", "bf16")
    for size in SIZES:
        x = batch(size).to(torch.bfloat16)
        with torch.no_grad():
            want = reference(name).to(torch.bfloat16)(x)
        got = engine(x)
        assert got.dtype == torch.bfloat16
        assert (got.float() - want.float()).abs().max().item() <= 2e-2


def test_onnx_refuses_half_on_cpu(engine_cache: Path) -> None:
    with pytest.raises(NightvidError, match="fp32 only"):
        create_engine(
            "noiser",
            weights=None,
            backend="onnx",
            device="cpu",
            precision="bf16",
            shape_range=TEST_RANGE,
            cache_dir=engine_cache,
        )


@pytest.mark.parametrize("backend, name", CACHED_PAIRS)
def test_second_create_loads_from_cache_fast(
    engine_for, engine_cache: Path, backend: str, name: str, record_property
) -> None:
    first = engine_for(name, backend)
    torch.manual_seed(0)
    again = create_engine(
        name, weights=None, backend=backend, device="cpu", shape_range=TEST_RANGE, cache_dir=engine_cache
    )
    assert again.details["cache"] == "hit" and again.artifact == first.artifact
    load_s = float(again.details["load_s"])
    record_property("load_s", load_s)
    print(f"{name}:{backend} built in {first.details['build_s']} s, loaded in {load_s:.3f} s")
    # Relative, not absolute: other jobs on the machine slow both alike.
    assert load_s < 0.25 * float(first.details["build_s"])
    x = batch(SIZES[0])
    torch.testing.assert_close(again(x), first(x), atol=0, rtol=0)


def test_stale_and_corrupt_real_artifacts_are_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def make():
        torch.manual_seed(0)
        return create_engine(
            "noiser", weights=None, backend="onnx", device="cpu", shape_range=TEST_RANGE, cache_dir=tmp_path
        )

    first = make()
    meta_path = first.artifact.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["torch_version"] = "2.5.0"  # built by another torch: stale
    meta_path.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="nightvid.engines.cache"):
        second = make()
    assert second.details["cache"] == "built"
    assert "torch_version is '2.5.0'" in caplog.text
    caplog.clear()
    data = bytearray(first.artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    first.artifact.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="nightvid.engines.cache"):
        third = make()
    assert third.details["cache"] == "built" and "sha256" in caplog.text
    x = batch(SIZES[0])
    torch.testing.assert_close(third(x), reference("noiser")(x), atol=1e-4, rtol=0)
    assert make().details["cache"] == "hit"


@pytest.mark.parametrize("shape", [(1, 3, 128, 64), (3, 3, 48, 48), (1, 3, 16, 64)])
def test_out_of_range_is_a_clear_error(engine_for, shape: tuple[int, ...]) -> None:
    engine = engine_for("noiser", "onnx")
    with pytest.raises(NightvidError, match=r"outside the onnx engine's compiled range 1x32x32\.\.2x64x96"):
        engine(torch.rand(*shape))


def test_out_of_range_falls_back_to_eager_under_auto(
    engine_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(engines.AUTO_CPU, "noiser", ("onnx", "eager"))
    monkeypatch.setenv(engines.trial.TRIAL_ENV, "0")  # the order, not a timed trial (test_trial.py)
    torch.manual_seed(0)
    engine = create_engine(
        "noiser", weights=None, backend="auto", device="cpu", shape_range=TEST_RANGE, cache_dir=engine_cache
    )
    assert engine.backend == "onnx"
    x = torch.rand(1, 3, 80, 120)
    with caplog.at_level(logging.WARNING, logger="nightvid.engines"):
        y = engine(x)
        engine(x)
    torch.testing.assert_close(y, reference("noiser")(x), atol=1e-5, rtol=0)
    assert len([r for r in caplog.records if "running it eagerly" in r.message]) == 1  # once per shape


def test_auto_mapping_covers_every_net_and_prefers_installed() -> None:
    assert set(engines.AUTO_CPU) == set(NETS)
    for name in NETS:
        assert engines.auto_backend(name, "cpu") in ("fused", "inductor", "onnx", "eager")


def test_unknown_backend_and_policy_are_named() -> None:
    with pytest.raises(NightvidError, match="choose from auto, eager"):
        create_engine("noiser", backend="fast")
    with pytest.raises(NightvidError, match="on_out_of_range"):
        create_engine("noiser", backend="eager", on_out_of_range="ignore")
