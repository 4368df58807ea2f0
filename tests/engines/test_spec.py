"""EngineSpec: every setting in one checked value, each marked as changing the picture or not."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

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
