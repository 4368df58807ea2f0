"""The backends, one row each: what builds it and the facts the rest of nightvid asks about it.

``BACKEND_SPECS`` is the only place that knows a backend by name. A row says how the
backend builds an engine (an ``ArtifactBackend`` that compiles into the engine cache, or
an in-process builder), whether several CPU workers can share it, the shape range its
artifacts are compiled for unless told otherwise, and a one-line help.
Adding a backend is adding a row (and its file).

Example:
    >>> BACKENDS
    ('auto', 'eager', 'fused', 'inductor', 'inductor-jit', 'onnx', 'tensorrt')
    >>> COMPILED_BACKENDS
    ('inductor', 'onnx', 'tensorrt')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

import torch
from torch import nn

from nightvid.engines.base import ArtifactBackend, BackendName, Engine
from nightvid.engines.eager import build_eager
from nightvid.engines.fused import build_fused, check_fused
from nightvid.engines.inductor import InductorBackend, build_torch_compile
from nightvid.engines.onnxrt import OnnxBackend
from nightvid.engines.shapes import DEFAULT_RANGE, DEFAULT_TRT_RANGE, ShapeRange
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

#: What ``--backend`` accepts: a concrete backend, or ``auto``.
BackendChoice = Literal["auto", "eager", "fused", "inductor", "inductor-jit", "onnx", "tensorrt"]


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
    """One backend: how it builds an engine and what callers need to know about it."""

    name: BackendName
    #: One line for ``--backend``'s help.
    help: str
    #: Compiled backends: makes the ``ArtifactBackend`` that builds and loads the cached file.
    artifact: Callable[[ArtifactOptions], ArtifactBackend] | None = None
    #: In-process backends: ``build(enhancer, device=, dtype=) -> Engine``.
    build: InProcessBuilder | None = None
    #: Several CPU workers can run batches at once, each with its share of the threads.
    multi_worker: bool = False
    #: The range a compiled artifact covers unless ``--min/--opt/--max`` say otherwise.
    shape_range: ShapeRange | None = None
    #: In-process backends that need something of the machine: raises ``NightvidError``
    #: when it cannot run on ``(device, dtype)`` here, so ``auto`` moves on.
    check: Callable[[torch.device, torch.dtype], None] | None = None
    #: Its build can take minutes for a large net (AOTInductor: LEDNet 221 s, KinD 101 s
    #: on 2 cores): ``auto``'s trial times it only when its artifact is already cached, or
    #: when it is the first candidate (``engines.trial``).
    slow_build: bool = False

    def __post_init__(self) -> None:
        if (self.artifact is None) == (self.build is None):
            raise ValueError(f"backend {self.name!r} needs exactly one of artifact and build")

    @property
    def compiled(self) -> bool:
        """Whether it writes an artifact into the engine cache (``nightvid compile``)."""
        return self.artifact is not None


_SPECS = (
    BackendSpec("eager", "the net as it is", build=build_eager),
    BackendSpec(
        "fused", "NoiSER as one native pass on the CPU", build=build_fused, multi_worker=True, check=check_fused
    ),
    BackendSpec(
        "inductor",
        "AOTInductor, cached",
        artifact=lambda options: InductorBackend(),
        shape_range=DEFAULT_RANGE,
        slow_build=True,
    ),
    BackendSpec("inductor-jit", "torch.compile, not saved", build=build_torch_compile, slow_build=True),
    BackendSpec(
        "onnx",
        "ONNX Runtime, cached",
        artifact=lambda options: OnnxBackend(workers=options.workers),
        multi_worker=True,
        shape_range=DEFAULT_RANGE,
    ),
    BackendSpec(
        "tensorrt",
        "Torch-TensorRT on CUDA, cached",
        artifact=lambda options: TensorRTBackend(cuda_graphs=options.cuda_graphs),
        shape_range=DEFAULT_TRT_RANGE,
        slow_build=True,
    ),
)
#: Every backend by name, in the order the CLI lists them.
BACKEND_SPECS: dict[BackendName, BackendSpec] = {spec.name: spec for spec in _SPECS}
if tuple(BACKEND_SPECS) != get_args(BackendName):
    raise AssertionError("BACKEND_SPECS and BackendName list different backends")

#: The concrete backends.
BACKEND_NAMES: tuple[BackendName, ...] = tuple(BACKEND_SPECS)
#: What ``--backend`` accepts.
BACKENDS: tuple[BackendChoice, ...] = ("auto", *BACKEND_NAMES)
#: The backends ``nightvid compile`` builds.
COMPILED_BACKENDS: tuple[BackendName, ...] = tuple(name for name, spec in BACKEND_SPECS.items() if spec.compiled)
AUTO_HELP = "fastest installed for the model and device"
#: ``--backend``'s help: the choices, and what ``auto`` means.
BACKEND_HELP = f"{'|'.join(BACKENDS)} (auto: {AUTO_HELP})"
#: One line per backend (``name: help; ...``), for a longer help or a listing.
BACKEND_DETAILS = "; ".join(f"{spec.name}: {spec.help}" for spec in _SPECS)
#: ``nightvid compile --backend``'s help.
COMPILE_BACKEND_HELP = "|".join(COMPILED_BACKENDS)


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
