"""The backends' builders, one row each, joined by name to their facts in ``engines.table``.

``BACKEND_SPECS`` is the only place that knows how a backend builds an engine (an
``ArtifactBackend`` that compiles into the engine cache, or an in-process builder) and
the shape range its artifacts are compiled for unless told otherwise. What the rest of
nightvid asks about a backend without building one (its help line, compiled or not,
multi-worker, ``auto``'s order) is in ``engines.table``, which loads no torch; a row here
reads those facts from there (``BackendSpec.facts``). Adding a backend is a row in each
(and its file).

Example:
    >>> BACKENDS
    ('auto', 'eager', 'fused', 'inductor', 'inductor-jit', 'onnx', 'tensorrt')
    >>> BACKEND_SPECS["onnx"].compiled, BACKEND_SPECS["onnx"].multi_worker
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from nightvid.engines.base import ArtifactBackend, Engine
from nightvid.engines.eager import build_eager
from nightvid.engines.fused import build_fused, check_fused
from nightvid.engines.inductor import InductorBackend, build_torch_compile
from nightvid.engines.onnxrt import OnnxBackend
from nightvid.engines.shapes import DEFAULT_RANGE, DEFAULT_TRT_RANGE, ShapeRange
from nightvid.engines.table import (
    AUTO_HELP,
    BACKEND_DETAILS,
    BACKEND_FACTS,
    BACKEND_HELP,
    BACKEND_NAMES,
    BACKENDS,
    COMPILE_BACKEND_HELP,
    COMPILED_BACKENDS,
    BackendChoice,
    BackendFacts,
    BackendName,
)
from nightvid.engines.tensorrt import TensorRTBackend
from nightvid.errors import NightvidError

__all__ = [
    "AUTO_HELP",
    "BACKENDS",
    "BACKEND_DETAILS",
    "BACKEND_HELP",
    "BACKEND_NAMES",
    "BACKEND_SPECS",
    "COMPILED_BACKENDS",
    "COMPILE_BACKEND_HELP",
    "ArtifactOptions",
    "BackendChoice",
    "BackendName",
    "BackendSpec",
    "InProcessBuilder",
    "backend_spec",
    "default_range",
    "default_workers",
]


class InProcessBuilder(Protocol):
    """Builds an engine in this process from an ``Enhancer``, with no artifact.

    ``workers``: batches the engine will run at once (``Engine.workers``); more than 1
    only for a ``multi_worker`` backend, which splits the CPU threads among them.
    """

    def __call__(
        self, enhancer: nn.Module, *, device: torch.device, dtype: torch.dtype, workers: int = 1
    ) -> Engine: ...


@dataclass(frozen=True)
class ArtifactOptions:
    """Run-time options an artifact backend may take when it is made."""

    #: CPU sessions run at once (multi-worker backends only).
    workers: int = 1
    #: Replay CUDA graphs (tensorrt only).
    cuda_graphs: bool = False


@dataclass(frozen=True)
class BackendSpec:
    """How one backend builds an engine; its other facts are its ``engines.table`` row."""

    name: BackendName
    #: Compiled backends: makes the ``ArtifactBackend`` that builds and loads the cached file.
    artifact: Callable[[ArtifactOptions], ArtifactBackend] | None = None
    #: In-process backends: ``build(enhancer, device=, dtype=) -> Engine``.
    build: InProcessBuilder | None = None
    #: The range a compiled artifact covers unless ``--min/--opt/--max`` say otherwise.
    shape_range: ShapeRange | None = None
    #: In-process backends that need something of the machine: raises ``NightvidError``
    #: when it cannot run on ``(device, dtype)`` here, so ``auto`` moves on.
    check: Callable[[torch.device, torch.dtype], None] | None = None

    def __post_init__(self) -> None:
        if (self.artifact is None) == (self.build is None):
            raise ValueError(f"backend {self.name!r} needs exactly one of artifact and build")
        if self.facts.compiled != (self.artifact is not None):
            raise ValueError(f"backend {self.name!r}: engines.table says compiled={self.facts.compiled}")

    @property
    def facts(self) -> BackendFacts:
        """Its row of ``engines.table``: help line, compiled, multi-worker, slow build."""
        return BACKEND_FACTS[self.name]

    @property
    def help(self) -> str:
        """One line for ``--backend``'s help."""
        return self.facts.help

    @property
    def compiled(self) -> bool:
        """Whether it writes an artifact into the engine cache (``nightvid compile``)."""
        return self.facts.compiled

    @property
    def multi_worker(self) -> bool:
        """Several CPU workers can run batches at once (``BackendFacts.multi_worker``)."""
        return self.facts.multi_worker

    @property
    def slow_build(self) -> bool:
        """Its build can take minutes (``BackendFacts.slow_build``)."""
        return self.facts.slow_build


_SPECS = (
    BackendSpec("eager", build=build_eager),
    BackendSpec("fused", build=build_fused, check=check_fused),
    BackendSpec("inductor", artifact=lambda options: InductorBackend(), shape_range=DEFAULT_RANGE),
    BackendSpec("inductor-jit", build=build_torch_compile),
    BackendSpec("onnx", artifact=lambda options: OnnxBackend(workers=options.workers), shape_range=DEFAULT_RANGE),
    BackendSpec(
        "tensorrt",
        artifact=lambda options: TensorRTBackend(cuda_graphs=options.cuda_graphs),
        shape_range=DEFAULT_TRT_RANGE,
    ),
)
#: Every backend by name, in the order of ``engines.table`` (the order the CLI lists them).
BACKEND_SPECS: dict[BackendName, BackendSpec] = {spec.name: spec for spec in _SPECS}
if tuple(BACKEND_SPECS) != BACKEND_NAMES:
    raise AssertionError("BACKEND_SPECS and engines.table list different backends")


def backend_spec(name: str) -> BackendSpec:
    """The row of a concrete backend; the error lists what ``--backend`` accepts."""
    try:
        return BACKEND_SPECS[name]  # type: ignore[index]  # any text may come from the CLI
    except KeyError:
        raise NightvidError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}") from None


def default_range(backend: str) -> ShapeRange:
    """The shape range an artifact of ``backend`` is compiled for unless told otherwise.

    ``DEFAULT_RANGE`` for a backend without one of its own (also for a name that is no
    backend: ``compile_engine`` names the error).
    """
    spec = BACKEND_SPECS.get(backend)  # type: ignore[call-overload]
    return spec.shape_range if spec is not None and spec.shape_range is not None else DEFAULT_RANGE


def default_workers(backend: str, device: torch.device) -> int:
    """Batches to run at once (``Engine.workers``): 2 for a multi-worker backend on a CPU with 2+ threads.

    Only ONNX Runtime (threads per session) and the fused kernel (threads per call) can
    split the cores between frames (``BackendSpec.multi_worker``); two are enough to fill
    the gaps one leaves (NoiSER at 640x360 on 2 cores: inference 32.0 vs 23.4 fps, end to
    end 27.4 vs 21.7; docs/BENCHMARKS.md), and each more holds another frame's working memory.
    """
    spec = BACKEND_SPECS.get(backend)  # type: ignore[call-overload]
    multi = spec is not None and spec.multi_worker
    return 2 if multi and device.type == "cpu" and torch.get_num_threads() >= 2 else 1
