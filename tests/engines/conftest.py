"""Engines built once per test session into one temporary cache, on small shape ranges."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nightvid import nets
from nightvid.engines import Engine, create_engine
from nightvid.engines.shapes import ShapeRange

#: Small range (compiled code is shape-generic; small sizes keep the eager reference cheap).
TEST_RANGE = ShapeRange.parse("1x32x32", "1x48x64", "2x64x96")
#: Two sizes inside it: odd, not multiples of 8 (LEDNet pads), and the max corner at batch 2.
SIZES = [(1, 37, 53), (2, 64, 96)]
NETS = nets.list_nets()

#: Builds that take minutes on 2 cores (AOTInductor: KinD about 2 min, LEDNet about 3 min;
#: in-process torch.compile of the bigger nets as long): run with NIGHTVID_SLOW_TESTS=1.
#: The default run still exports every net (ONNX, and the TensorRT export step) and
#: compiles noiser and the denoiser with AOTInductor.
slow = pytest.mark.skipif(
    os.environ.get("NIGHTVID_SLOW_TESTS") != "1",
    reason="compiles for minutes on 2 cores; set NIGHTVID_SLOW_TESTS=1 to run",
)


def reference(name: str) -> nets.Enhancer:
    torch.manual_seed(0)
    return nets.build_enhancer(name, weights=None)


@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-cache")


@pytest.fixture(scope="session")
def engine_for(engine_cache: Path) -> Callable[..., Engine]:
    """``engine_for(net, backend, precision)``: built on first use, reused after."""
    built: dict[tuple[str, str, str], Engine] = {}

    def get(name: str, backend: str, precision: str = "fp32") -> Engine:
        key = (name, backend, precision)
        if key not in built:
            torch.manual_seed(0)  # the same random weights as reference(name)
            built[key] = create_engine(
                name,
                weights=None,
                backend=backend,
                device="cpu",
                precision=precision,
                shape_range=TEST_RANGE,
                cache_dir=engine_cache,
            )
        return built[key]

    return get
