"""The backend table, the frozen engine and its controls, and engines by model name."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest
import torch

from nightvid import engines, nets
from nightvid.engines import (
    BACKEND_DETAILS,
    BACKEND_HELP,
    BACKEND_NAMES,
    BACKEND_SPECS,
    BACKENDS,
    COMPILE_BACKEND_HELP,
    COMPILED_BACKENDS,
    DEFAULT_RANGE,
    BackendName,
    Engine,
    EngineControls,
    EngineSpec,
    compile_engine,
    create_engine,
    default_range,
    engine_factory,
    model_cycle,
)
from nightvid.engines.shapes import DEFAULT_TRT_RANGE
from nightvid.errors import NightvidError


def identity(workers: int = 1) -> Engine:
    return Engine(fn=lambda x: x, backend="eager", device=torch.device("cpu"), workers=workers)


def test_one_row_per_backend_and_what_the_cli_needs() -> None:
    assert BACKEND_NAMES == typing.get_args(BackendName) == tuple(BACKEND_SPECS)
    assert BACKENDS == ("auto", "eager", "fused", "inductor", "inductor-jit", "onnx", "tensorrt")
    assert COMPILED_BACKENDS == ("inductor", "onnx", "tensorrt")
    assert COMPILE_BACKEND_HELP == "inductor|onnx|tensorrt"
    # The CLI's --backend help, unchanged by the table:
    assert BACKEND_HELP == (
        "auto|eager|fused|inductor|inductor-jit|onnx|tensorrt (auto: fastest installed for the model and device)"
    )
    for name, spec in BACKEND_SPECS.items():
        assert spec.name == name and spec.help and f"{name}: {spec.help}" in BACKEND_DETAILS
        assert spec.compiled == (spec.artifact is not None) != (spec.build is not None)
        assert (spec.shape_range is not None) == spec.compiled
    assert [n for n, s in BACKEND_SPECS.items() if s.multi_worker] == ["fused", "onnx"]


def test_default_ranges_come_from_the_table() -> None:
    assert default_range("tensorrt") == DEFAULT_TRT_RANGE
    assert default_range("onnx") == default_range("inductor") == DEFAULT_RANGE
    assert default_range("eager") == default_range("nosuch") == DEFAULT_RANGE  # compile_engine names the error


def test_only_artifact_backends_compile() -> None:
    with pytest.raises(NightvidError, match="no artifact to compile; choose from inductor, onnx, tensorrt"):
        compile_engine("noiser", backend="inductor-jit")


def test_in_process_builders_name_their_backend() -> None:
    torch.manual_seed(0)
    enhancer = nets.build_enhancer("noiser", weights=None)
    for name, spec in BACKEND_SPECS.items():
        if spec.build is not None:
            assert spec.build(enhancer, device=torch.device("cpu"), dtype=torch.float32).backend == name


def test_engine_is_frozen_and_its_details_read_only() -> None:
    engine = create_engine("noiser", weights=None, backend="eager")
    assert dict(engine.details) == {"model": "noiser", "precision": "fp32"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        engine.workers = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        engine.details["model"] = "kind"  # type: ignore[index]


def test_copies_share_controls_and_keep_details() -> None:
    engine = identity()
    halved = engine.with_fn(lambda x: x * 0.5, frames_fn=None, tile="64")
    assert halved.controls is engine.controls and dict(halved.details) == {"tile": "64"}
    assert dict(engine.details) == {}
    engine.controls.set_gain(2.0)
    frame = np.full((1, 16, 16, 3), 100, np.uint8)
    assert int(halved.enhance_frames(frame)[0, 0, 0, 0]) == 100  # x0.5 by fn, x2 by the shared gain
    assert int(engine.enhance_frames(frame)[0, 0, 0, 0]) == 200


def test_controls_refuse_what_the_engine_cannot_do() -> None:
    controls = EngineControls()
    with pytest.raises(ValueError, match="positive"):
        controls.set_gain(0.0)
    assert controls.gain == 1.0


def test_model_cycle_and_factory() -> None:
    shipped = [n for n in nets.list_nets() if nets.shipped_weights(n) is not None]
    assert model_cycle("noiser") == ["noiser"] + [n for n in shipped if n != "noiser"]
    assert model_cycle("kind+denoiser")[0] == "kind+denoiser"
    with pytest.raises(NightvidError, match="unknown model 'nosuch'"):
        engine_factory(EngineSpec(model="nosuch"))
    factory = engine_factory(EngineSpec(model="noiser", weights=None, backend="eager", exposure=0.3, workers=1))
    assert factory.models == tuple(model_cycle("noiser"))
    engine = factory("noiser")
    assert engine.backend == "eager" and engine.workers == 1 and engine.details["exposure"] == "0.3"


def test_auto_on_cpu_picks_from_the_table() -> None:
    for name in nets.list_nets():
        assert engines.auto_backend(name, "cpu") in BACKEND_SPECS
