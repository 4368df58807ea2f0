"""EngineSpec: every setting in one checked value, each marked as changing the picture or not."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch

from nightvid.engines import EngineSpec, create_engine
from nightvid.engines.spec import PICTURE, picture_fields
from nightvid.errors import NightvidError

#: Another valid value for every field: a field added to EngineSpec must be added here too.
OTHER = {
    "model": "lednet",
    "weights": None,
    "exposure": 0.3,
    "deblock": False,
    "precision": "bf16",
    "tile": 256,
    "backend": "onnx",
    "device": "cpu",
    "workers": 2,
    "batch": 4,
}


def test_every_field_says_whether_it_changes_the_picture() -> None:
    unmarked = [f.name for f in fields(EngineSpec) if PICTURE not in f.metadata]
    assert not unmarked, f"declare these with engines.spec.setting(..., picture=...): {unmarked}"
    assert set(OTHER) == {f.name for f in fields(EngineSpec)}
    assert set(picture_fields()) == {"model", "weights", "exposure", "deblock", "precision", "tile"}


def test_checked_normalises_once() -> None:
    spec = EngineSpec(exposure="0.3", tile="0", weights="w.safetensors", deblock=None).checked()  # type: ignore[arg-type]
    assert (spec.exposure, spec.tile, spec.weights, spec.deblock) == (0.3, None, Path("w.safetensors"), True)
    assert EngineSpec(exposure="none").checked().exposure is None
    assert spec.checked() == spec  # idempotent
    assert EngineSpec().checked().weights == "default"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"workers": 0}, "--workers must be at least 1"),
        ({"batch": 0}, "--batch must be at least 1"),
        ({"tile": 10}, "--tile takes auto"),
        ({"exposure": 1.5}, "--exposure is default"),
        ({"exposure": "bright"}, "--exposure is default"),
        ({"model": "nosuch"}, "unknown model 'nosuch'"),
        ({"backend": "fast"}, "unknown backend 'fast'"),
        ({"precision": "fp8"}, "precision"),
    ],
)
def test_a_bad_setting_is_one_line(change: dict, message: str) -> None:
    with pytest.raises(NightvidError, match=message):
        replace(EngineSpec(), **change).checked()


def test_the_spec_module_loads_no_torch() -> None:
    code = "import sys, nightvid.engines.spec, nightvid.jobs.enhance; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_create_engine_takes_a_spec_or_a_name_with_its_fields() -> None:
    spec = EngineSpec(model="noiser", weights=None, backend="eager", exposure=0.3, workers=1)
    by_spec, by_name = create_engine(spec), create_engine("noiser", weights=None, backend="eager", exposure=0.3)
    assert by_spec.details == by_name.details and by_spec.details["exposure"] == "0.3"
    assert create_engine(spec, exposure="none").details["exposure"] == "none"  # keywords replace fields


def test_for_model_keeps_the_settings_and_takes_shipped_weights() -> None:
    spec = EngineSpec(model="noiser", weights="mine.safetensors", backend="onnx", exposure=0.3)
    assert spec.for_model("kind") == replace(spec, model="kind", weights="default")


def test_precision_auto_is_bf16_only_for_the_nets_measured_in_it_on_a_native_bf16_cpu() -> None:
    from nightvid import nets
    from nightvid.engines.build import cpu_has_native_bf16, resolve_precision

    cpu = torch.device("cpu")
    native = cpu_has_native_bf16()
    for model in nets.list_nets():
        expected = "bf16" if native and nets.get_info(model).cpu_bf16 else "fp32"
        assert resolve_precision("auto", model, cpu) == expected, model
    assert {m for m in nets.list_nets() if nets.get_info(m).cpu_bf16} == {"lednet", "kind"}
    assert resolve_precision("auto", "noiser", cpu) == "fp32"  # the fused fp32 kernel is its fast path
    assert resolve_precision("fp32", "lednet", cpu) == "fp32"  # asked for: kept
    assert resolve_precision("auto", "lednet", cpu, "onnx") == "fp32"  # onnx runs fp32 only on the CPU
    if torch.cuda.is_available():
        assert resolve_precision("auto", "lednet", torch.device("cuda")) == "fp32"


def test_bf16_has_its_own_auto_order_where_the_fp32_one_cannot_run_it() -> None:
    from nightvid.engines.table import AUTO_CPU, AUTO_CPU_BF16

    assert AUTO_CPU_BF16["lednet"][0] == "inductor" and AUTO_CPU["lednet"] == ("eager",)
    assert all(order[-1] == "eager" for order in AUTO_CPU_BF16.values())


def test_cpu_bf16_engine_keeps_the_steps_in_float32_and_stays_close_to_fp32() -> None:
    import numpy as np

    frames = np.random.default_rng(0).integers(0, 60, (1, 48, 64, 3), dtype=np.uint8)
    fp32 = create_engine("kind", backend="eager", precision="fp32", device="cpu").enhance_frames(frames)
    bf16 = create_engine("kind", backend="eager", precision="bf16", device="cpu")
    out = bf16.enhance_frames(frames)
    assert bf16.dtype == torch.float32 and bf16.details["precision"] == "bf16"  # frames in float32
    assert np.abs(out.astype(np.int16) - fp32.astype(np.int16)).mean() < 1.5
