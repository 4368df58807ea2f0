"""net + weights -> a fast callable on the machine at hand.

``create_engine`` is the single entry point the streamer, bench and preview use;
``compile_engine`` builds (or verifies) a cached artifact without running it
(``nightvid compile``). Backends:

- ``eager``: the module as it is (``eager.py``); CPU and CUDA, any shape.
- ``inductor``: an AOTInductor package ``.pt2`` from the engine cache (``inductor.py``).
- ``inductor-jit``: ``torch.compile`` in this process, nothing saved (``inductor.py``).
- ``onnx``: an ``.onnx`` file from the cache run by ONNX Runtime (``onnxrt.py``).
- ``tensorrt``: a Torch-TensorRT ``.ep`` from the cache, CUDA only (``tensorrt.py``).
- ``auto``: the fastest backend measured for the net on this kind of device that is
  installed (``AUTO_CPU`` / ``AUTO_CUDA``); if building it fails, eager, with a warning.

Compiled artifacts are built once per (net, weights, backend and version, torch
version, device, precision, shape range) and verified on every load (``cache.py``).

Shape range and inputs outside it: the inductor, onnx and tensorrt engines are compiled
for a ``ShapeRange`` of ``(B, H, W)`` (``shapes.DEFAULT_RANGE``: 1x16x16 to 8x2160x3840
on CPU, ``DEFAULT_TRT_RANGE`` up to 4x1088x1920 for TensorRT). A batch outside it is
checked before it reaches compiled code (AOTInductor does not check bounds itself and
TensorRT rejects it with an opaque error):

- with an explicit backend, ``create_engine(..., on_out_of_range="error")`` (the
  default) raises ``NightvidError`` naming the shape, the range and the fix (compile
  with a wider ``--min/--max``, or ``--backend eager``): a user who asked for a
  compiled engine should not silently get a slow one;
- with ``backend="auto"`` (default ``on_out_of_range="eager"``) the batch runs through
  the eager module instead, and a warning is logged once per new shape: ``auto``
  promises a working engine, fast where it can be.

Example:
    >>> engine = create_engine("noiser", backend="eager")
    >>> engine(torch.rand(1, 3, 32, 48)).shape
    torch.Size([1, 3, 32, 48])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from nightvid import nets
from nightvid.engines.base import PRECISIONS, ArtifactBackend, Engine, resolve_device, resolve_dtype
from nightvid.engines.cache import CacheEntry, artifact_meta, default_cache_dir, load_or_build
from nightvid.engines.eager import build_eager
from nightvid.engines.host_memory import keep_freed_memory
from nightvid.engines.inductor import InductorBackend, build_torch_compile
from nightvid.engines.onnxrt import OnnxBackend
from nightvid.engines.shapes import DEFAULT_RANGE, DEFAULT_TRT_RANGE, ShapeRange
from nightvid.engines.tensorrt import TensorRTBackend
from nightvid.errors import NightvidError

__all__ = [
    "AUTO_CPU",
    "AUTO_CUDA",
    "BACKENDS",
    "CacheEntry",
    "DEFAULT_RANGE",
    "Engine",
    "PRECISIONS",
    "ShapeRange",
    "auto_backend",
    "compile_engine",
    "create_engine",
    "default_cache_dir",
    "default_range",
    "default_workers",
    "resolve_device",
]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "eager", "inductor", "inductor-jit", "onnx", "tensorrt")
#: The backends that write an artifact into the engine cache.
COMPILED: dict[str, Callable[[], ArtifactBackend]] = {
    "inductor": InductorBackend,
    "onnx": OnnxBackend,
    "tensorrt": TensorRTBackend,
}

# `auto` on CPU, per net, in order of preference (the first one installed wins).
# Measured with benchmarks/engines_cpu.py and `nightvid bench` (docs/BENCHMARKS.md,
# 2026-11-22, freed memory kept): fp32, batch 1, ms/frame, median of round-robin runs,
# 2-core AMD EPYC (AVX512), torch 2.13.0, onnxruntime 1.31.1, one ONNX session:
#
#   net       size      eager   inductor(.pt2)  onnx    inductor-jit
#   noiser    640x360      51      34             41      32
#             1280x720    191     120            126     103
#   denoiser  640x360     836     595            741     622
#             1280x720   5206    2434           2906    2433
#   kind      640x360    1130     766            810     828
#             1280x720   5336    3043           3480    3351
#   lednet    640x360    2019    2007           1982    1730
#             1280x720   7761    7370          10139    6634
#
# - noiser, kind: onnx, run by two one-thread workers in `enhance` (`default_workers`),
#   which gives it the best end-to-end throughput (kind: equal to AOTInductor, which
#   builds in 101 s against 8 s).
# - denoiser: AOTInductor, 1.2x onnx at both sizes for a 24 s build once.
# - lednet: eager, within 5% of every saved artifact, with no build (AOTInductor 221 s)
#   and a quarter of onnx's memory.
# inductor-jit is never chosen: it recompiles in every process.
AUTO_CPU: dict[str, tuple[str, ...]] = {
    "noiser": ("onnx", "inductor", "eager"),
    "denoiser": ("inductor", "onnx", "eager"),
    "kind": ("onnx", "inductor", "eager"),
    "lednet": ("eager",),
}
# `auto` on CUDA: not measured (no GPU on the machines this was written on). TensorRT is
# the designed fast path; without it eager (fp16/bf16 + channels_last) is the safe
# choice, since an unmeasured compile would cost minutes for an unknown gain.
AUTO_CUDA: tuple[str, ...] = ("tensorrt", "eager")


def _available(backend: str, device: torch.device, dtype: torch.dtype) -> bool:
    if backend == "eager":
        return True
    try:
        COMPILED[backend]().check(device, dtype)
    except NightvidError:
        return False
    return True


def _auto_cpu_order(model: str) -> tuple[str, ...]:
    """A model's ``AUTO_CPU`` order; a chain's is its first model's, less what another lacks."""
    orders = [AUTO_CPU.get(part, ("eager",)) for part in nets.chain_parts(model)]
    return tuple(b for b in orders[0] if all(b in other for other in orders[1:])) or ("eager",)


def auto_backend(model: str, device: torch.device | str | None = None, precision: str = "fp32") -> str:
    """The backend ``auto`` picks for ``model`` on ``device`` (see ``AUTO_CPU``/``AUTO_CUDA``)."""
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision)
    order = AUTO_CUDA if torch_device.type == "cuda" else _auto_cpu_order(model)
    return next(b for b in (*order, "eager") if _available(b, torch_device, dtype))


def default_range(backend: str) -> ShapeRange:
    """The shape range an artifact of ``backend`` is compiled for unless told otherwise."""
    return DEFAULT_TRT_RANGE if backend == "tensorrt" else DEFAULT_RANGE


def _weights_label(model: str, weights: Path | str | None) -> str:
    if weights is None:
        return "random-init"
    if weights == "default":
        paths = [nets.shipped_weights(part) for part in nets.chain_parts(model)]
        return nets.CHAIN.join(str(p) if p else "default" for p in paths)
    return str(Path(weights).resolve())


def _build_artifact(
    model: str,
    enhancer: nn.Module,
    *,
    weights: str,
    backend: str,
    device: torch.device,
    precision: str,
    shape_range: ShapeRange | None,
    cache_dir: Path | str | None,
    rebuild: bool = False,
    cuda_graphs: bool = False,
    workers: int = 1,
) -> tuple[Callable[[Tensor], Tensor], CacheEntry, ShapeRange]:
    if backend == "tensorrt":
        impl: ArtifactBackend = TensorRTBackend(cuda_graphs=cuda_graphs)
    elif backend == "onnx":
        impl = OnnxBackend(workers=workers)
    else:
        impl = COMPILED[backend]()
    dtype = resolve_dtype(precision)
    impl.check(device, dtype)
    shape_range = shape_range or default_range(backend)
    meta = artifact_meta(
        net=model,
        enhancer=enhancer,
        weights=weights,
        backend=backend,
        backend_version=impl.version(),
        device=device,
        precision=precision,
        shape_range=shape_range,
    )
    fn, entry = load_or_build(
        meta,
        cache_dir=cache_dir,
        suffix=impl.suffix,
        rebuild=rebuild,
        build=lambda path: impl.build(enhancer, path, shape_range=shape_range, device=device, dtype=dtype),
        load=lambda path: impl.load(path, device=device, dtype=dtype),
    )
    return fn, entry, shape_range


def compile_engine(
    model: str,
    *,
    weights: Path | str | None = "default",
    backend: str = "inductor",
    device: str | None = None,
    precision: str = "fp32",
    shape_range: ShapeRange | None = None,
    cache_dir: Path | str | None = None,
    rebuild: bool = False,
) -> CacheEntry:
    """Build the ``backend`` artifact for ``model`` into the cache, or verify the cached one.

    Returns the entry (artifact path, metadata, build/load seconds). ``rebuild=True``
    builds even when a valid entry exists.
    """
    if backend not in COMPILED:
        raise NightvidError(f"backend {backend!r} has no artifact to compile; choose from {', '.join(COMPILED)}")
    enhancer = nets.build_enhancer(model, weights=weights)
    _, entry, _ = _build_artifact(
        model,
        enhancer,
        weights=_weights_label(model, weights),
        backend=backend,
        device=resolve_device(device),
        precision=precision,
        shape_range=shape_range,
        cache_dir=cache_dir,
        rebuild=rebuild,
    )
    return entry


def default_workers(backend: str, device: torch.device) -> int:
    """Batches to run at once (``Engine.workers``): 2 for onnx on a CPU with 2+ threads.

    Only ONNX Runtime keeps its threads per session, so only it can split the cores
    between frames; two are enough to fill the gaps one leaves (NoiSER at 640x360 on 2
    cores: inference 32.0 vs 23.4 fps, end to end 27.4 vs 21.7; docs/BENCHMARKS.md), and
    each more holds another frame's working memory.
    """
    return 2 if backend == "onnx" and device.type == "cpu" and torch.get_num_threads() >= 2 else 1


def _resolve_workers(workers: int | None, backend: str, device: torch.device, *, asked: str) -> int:
    if workers is None:
        return default_workers(backend, device)
    if workers < 1:
        raise NightvidError(f"workers must be at least 1, got {workers}")
    if workers > 1 and not (backend == "onnx" and device.type == "cpu"):
        if asked == "auto":
            log.info("backend auto chose %s on %s, which runs one batch at a time", backend, device.type)
            return 1
        raise NightvidError(
            f"only the onnx backend on the CPU runs several batches at once; "
            f"use --workers 1 with {backend} on {device.type}"
        )
    return workers


def _guard(
    fn: Callable[[Tensor], Tensor], shape_range: ShapeRange, backend: str, fallback: Callable[[Tensor], Tensor] | None
) -> Callable[[Tensor], Tensor]:
    """``fn`` for batches inside ``shape_range``; outside, an error or ``fallback``."""
    warned: set[tuple[int, ...]] = set()

    def run(batch: Tensor) -> Tensor:
        if batch.dim() == 4 and shape_range.contains(tuple(batch.shape)):
            return fn(batch)
        shape = tuple(batch.shape)
        if fallback is None:
            raise NightvidError(
                f"input batch {shape} is outside the {backend} engine's compiled range "
                f"{shape_range} (BxHxW); compile a wider one with `nightvid compile --min/--max`, "
                f"or use --backend eager"
            )
        if shape not in warned:
            warned.add(shape)
            log.warning(
                "input batch %s is outside the %s engine's range %s; running it eagerly", shape, backend, shape_range
            )
        return fallback(batch)

    return run


def create_engine(
    model: str,
    *,
    weights: Path | str | None = "default",
    backend: str = "auto",
    device: str | None = None,
    precision: str = "fp32",
    shape_range: ShapeRange | None = None,
    cache_dir: Path | str | None = None,
    on_out_of_range: str | None = None,
    cuda_graphs: bool = False,
    workers: int | None = 1,
    exposure: float | None = None,
) -> Engine:
    """Build the engine for ``model`` with ``weights`` ("default" = the shipped file).

    ``backend``: one of ``BACKENDS``. ``shape_range``: the batches a compiled engine
    accepts (default ``DEFAULT_RANGE``; ``DEFAULT_TRT_RANGE`` for tensorrt).
    ``cache_dir``: the engine cache (default ``default_cache_dir()``).
    ``on_out_of_range``: ``"error"`` or ``"eager"`` (default: ``"eager"`` for ``auto``,
    else ``"error"``); see the module docstring.
    ``cuda_graphs``: tensorrt only, replay CUDA graphs (``torch_tensorrt.runtime.enable_cudagraphs``).
    ``workers``: batches run at once on the CPU (``Engine.workers``; onnx only); None
    picks ``default_workers``. More workers raise throughput for callers that keep batches
    submitted ahead (``enhance_video``, bench) and slow down one call on its own (preview).
    ``exposure``: the output's mean luma, 0-1 (``nets.build_enhancer``); None = the net's own.
    """
    if backend not in BACKENDS:
        raise NightvidError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if on_out_of_range not in (None, "error", "eager"):
        raise NightvidError(f"on_out_of_range must be 'error' or 'eager', not {on_out_of_range!r}")
    torch_device = resolve_device(device)
    if torch_device.type == "cpu":
        keep_freed_memory()  # before the net and any thread allocate (see host_memory)
        if precision == "fp16":
            log.warning(
                "fp16 on a CPU is emulated: about 7x slower than fp32 (measured with NoiSER); "
                "use --precision bf16 on a CPU with AVX512-BF16 or AMX, else fp32"
            )
    enhancer = nets.build_enhancer(model, weights=weights, exposure=exposure)
    dtype = resolve_dtype(precision)
    chosen = auto_backend(model, torch_device, precision) if backend == "auto" else backend
    policy = on_out_of_range or ("eager" if backend == "auto" else "error")

    runners = _resolve_workers(workers, chosen, torch_device, asked=backend)

    engine: Engine | None = None
    if chosen in COMPILED:
        try:
            fn, entry, used_range = _build_artifact(
                model,
                enhancer,
                weights=_weights_label(model, weights),
                backend=chosen,
                device=torch_device,
                precision=precision,
                shape_range=shape_range,
                cache_dir=cache_dir,
                cuda_graphs=cuda_graphs,
                workers=runners,
            )
        except NightvidError as err:
            if backend != "auto":
                raise
            log.warning("backend auto: %s failed (%s); using eager", chosen, err)
            chosen = "eager"
        else:
            fallback = build_eager(enhancer, device=torch_device, dtype=dtype).fn if policy == "eager" else None
            engine = Engine(
                fn=_guard(fn, used_range, chosen, fallback),
                backend=chosen,
                device=torch_device,
                dtype=dtype,
                shape_range=used_range,
                artifact=entry.artifact,
                workers=runners,
            )
            engine.details.update(
                {
                    "artifact": str(entry.artifact),
                    "cache": "built" if entry.built else "hit",
                    "build_s": f"{entry.build_seconds:.2f}",
                    "load_s": f"{entry.load_seconds:.3f}",
                    "shape_range": str(used_range),
                }
            )
    if engine is None:
        if chosen == "inductor-jit":
            engine = Engine(
                fn=build_torch_compile(enhancer, device=torch_device, dtype=dtype),
                backend=chosen,
                device=torch_device,
                dtype=dtype,
            )
        else:
            engine = build_eager(enhancer, device=torch_device, dtype=dtype)
    engine.details["model"] = model
    engine.details["precision"] = precision
    if exposure is not None:
        engine.details["exposure"] = f"{exposure:g}"
    return engine
