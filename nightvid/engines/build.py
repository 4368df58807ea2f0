"""Building engines: net + weights + an ``EngineSpec`` -> a fast callable on the machine at hand.

``create_engine`` is the single entry point the streamer, bench and preview use;
``compile_engine`` builds (or verifies) a cached artifact without running it
(``nightvid compile``); ``engine_factory`` gives callers that switch models while they
run (the preview's ``m`` key) engines by name. Backends (one row each in
``backends.BACKEND_SPECS``, which holds every per-backend fact):

- ``eager``: the module as it is (``eager.py``); CPU and CUDA, any shape.
- ``fused``: NoiSER only, one native pass per frame on the CPU (``fused.py``); any shape.
- ``inductor``: an AOTInductor package ``.pt2`` from the engine cache (``inductor.py``).
- ``inductor-jit``: ``torch.compile`` in this process, nothing saved (``inductor.py``).
- ``onnx``: an ``.onnx`` file from the cache run by ONNX Runtime (``onnxrt.py``).
- ``tensorrt``: a Torch-TensorRT ``.ep`` from the cache, CUDA only (``tensorrt.py``).
- ``auto``: on the CPU, the fastest of the net's candidates (``AUTO_CPU`` in
  ``table.py``, those installed) timed on this machine the first time and kept in the engine cache
  (``trial.py``); on CUDA the first installed of ``AUTO_CUDA``. If building one fails, or
  its engine does not match eager on a test frame (``verify.py``), the next one in that
  order, with a warning.

Every engine is made of a backend's ``fn`` and the wrappers of ``wrappers.py``: the
range guard below (``wrappers.guarded``) and, last, tiles (``wrappers.tiled``, from
``EngineSpec.tile``).

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

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nightvid import nets
from nightvid.engines import trial
from nightvid.engines.backends import (
    BACKEND_SPECS,
    ArtifactOptions,
    BackendSpec,
    backend_spec,
    default_range,
    default_workers,
)
from nightvid.engines.base import (
    PRECISIONS,
    ArtifactBackend,
    Engine,
    EngineControls,
    resolve_device,
    resolve_dtype,
)
from nightvid.engines.cache import (
    CacheEntry,
    artifact_meta,
    covering_range,
    default_cache_dir,
    is_cached,
    load_or_build,
)
from nightvid.engines.eager import build_eager
from nightvid.engines.shapes import DEFAULT_RANGE, Shape, ShapeRange
from nightvid.engines.spec import AUTO_PRECISION, EngineSpec
from nightvid.engines.table import (
    AUTO_CPU,
    AUTO_CPU_BF16,
    AUTO_CUDA,
    BACKEND_DETAILS,
    BACKEND_HELP,
    BACKEND_NAMES,
    BACKENDS,
    COMPILE_BACKEND_HELP,
    COMPILED_BACKENDS,
    BackendChoice,
    BackendName,
)
from nightvid.engines.verify import check_against_eager
from nightvid.engines.wrappers import guarded, tiled
from nightvid.errors import NightvidError
from nightvid.memory import keep_freed_memory

__all__ = [
    "AUTO_CPU",
    "AUTO_CUDA",
    "BACKENDS",
    "BACKEND_DETAILS",
    "BACKEND_HELP",
    "BACKEND_NAMES",
    "BACKEND_SPECS",
    "COMPILED_BACKENDS",
    "COMPILE_BACKEND_HELP",
    "BackendChoice",
    "BackendName",
    "CacheEntry",
    "DEFAULT_RANGE",
    "Engine",
    "EngineControls",
    "EngineFactory",
    "EngineSpec",
    "PRECISIONS",
    "ShapeRange",
    "auto_backend",
    "compile_engine",
    "create_engine",
    "default_cache_dir",
    "default_range",
    "default_workers",
    "engine_factory",
    "model_cycle",
    "resolve_device",
]

log = logging.getLogger(__name__)


def _available(spec: BackendSpec, device: torch.device, dtype: torch.dtype) -> bool:
    if spec.artifact is None and spec.check is None:
        return True
    try:
        if spec.check is not None:
            spec.check(device, dtype)
        if spec.artifact is not None:
            spec.artifact(ArtifactOptions()).check(device, dtype)
    except NightvidError:
        return False
    return True


def _auto_cpu_order(model: str, precision: str = "fp32") -> tuple[BackendName, ...]:
    """A model's ``AUTO_CPU`` order (``AUTO_CPU_BF16``'s in bf16, where it has one); a
    chain's is its first model's, less what another lacks."""
    tables = (AUTO_CPU_BF16, AUTO_CPU) if precision == "bf16" else (AUTO_CPU,)
    orders = [next((t[part] for t in tables if part in t), ("eager",)) for part in nets.chain_parts(model)]
    return tuple(b for b in orders[0] if all(b in other for other in orders[1:])) or ("eager",)


def auto_backend(model: str, device: torch.device | str | None = None, precision: str = "fp32") -> BackendName:
    """The first backend of ``auto``'s order for ``model`` on ``device`` (``AUTO_CPU``/``AUTO_CUDA``).

    What ``auto`` runs where it measures nothing (CUDA, one candidate, or
    ``NIGHTVID_AUTO_TRIAL=0``); on the CPU its trial may pick another candidate
    (``engines.trial``).
    """
    torch_device = resolve_device(device)
    precision = resolve_precision(precision, model, torch_device)
    dtype = resolve_dtype(precision)
    order = AUTO_CUDA if torch_device.type == "cuda" else _auto_cpu_order(model, precision)
    return next(b for b in (*order, "eager") if _available(BACKEND_SPECS[b], torch_device, dtype))


def _weights_label(model: str, weights: Path | str | None) -> str:
    if weights is None:
        return "random-init"
    if weights == "default":
        paths = [nets.shipped_weights(part) for part in nets.chain_parts(model)]
        return nets.CHAIN.join(str(p) if p else "default" for p in paths)
    return str(Path(weights).resolve())


def _artifact_plan(
    model: str,
    enhancer: nn.Module,
    *,
    weights: str,
    spec: BackendSpec,
    device: torch.device,
    precision: str,
    shape_range: ShapeRange | None,
    options: ArtifactOptions | None = None,
    frames: Shape | None = None,
    cache_dir: Path | str | None = None,
) -> tuple[ArtifactBackend, dict, ShapeRange]:
    """The artifact backend, the metadata its cache entry must carry, and the range it covers.

    No ``shape_range`` given: the range of a cached artifact that runs ``frames``
    (``(B, H, W)``; ``cache.covering_range``: one ``nightvid compile`` built, the nearest
    ``opt`` first), else the backend's default range.
    """
    assert spec.artifact is not None, f"{spec.name} has no artifact"
    impl = spec.artifact(options or ArtifactOptions())
    impl.check(device, resolve_dtype(precision))
    meta = artifact_meta(
        net=model,
        enhancer=enhancer,
        weights=weights,
        backend=spec.name,
        backend_version=impl.version(),
        device=device,
        precision=precision,
        shape_range=shape_range or default_range(spec.name),
    )
    if shape_range is None and frames is not None:
        shape_range = covering_range(meta, cache_dir=cache_dir, suffix=impl.suffix, frames=frames)
        if shape_range is not None:
            meta["shape_range"] = shape_range.as_dict()
    return impl, meta, shape_range or default_range(spec.name)


def _build_artifact(
    model: str,
    enhancer: nn.Module,
    *,
    weights: str,
    spec: BackendSpec,
    device: torch.device,
    precision: str,
    shape_range: ShapeRange | None,
    cache_dir: Path | str | None,
    rebuild: bool = False,
    options: ArtifactOptions | None = None,
    frames: Shape | None = None,
) -> tuple[Callable[[Tensor], Tensor], CacheEntry, ShapeRange]:
    impl, meta, shape_range = _artifact_plan(
        model,
        enhancer,
        weights=weights,
        spec=spec,
        device=device,
        precision=precision,
        shape_range=shape_range,
        options=options,
        frames=frames,
        cache_dir=cache_dir,
    )
    dtype = resolve_dtype(precision)
    fn, entry = load_or_build(
        meta,
        cache_dir=cache_dir,
        suffix=impl.suffix,
        rebuild=rebuild,
        build=lambda path: impl.build(enhancer, path, shape_range=shape_range, device=device, dtype=dtype),
        load=lambda path: impl.load(path, device=device, dtype=dtype),
    )
    # built or loaded, it runs a test frame against eager here before anyone trusts it
    score = check_against_eager(fn, enhancer, backend=spec.name, shape_range=shape_range, device=device, dtype=dtype)
    entry.meta["verified_psnr_db"] = round(score, 1) if score != float("inf") else "identical"
    return fn, entry, shape_range


def compile_engine(
    spec: EngineSpec | str,
    *,
    shape_range: ShapeRange | None = None,
    cache_dir: Path | str | None = None,
    rebuild: bool = False,
    **settings: Any,
) -> CacheEntry:
    """Build the artifact ``spec`` names (its backend, precision, exposure and deblocking)
    into the cache, or verify the cached one: what ``create_engine`` with the same spec
    loads. ``spec``: an ``EngineSpec`` or a model name with its fields as keywords
    (``backend`` defaults to ``inductor`` then).

    Returns the entry (artifact path, metadata, build/load seconds). ``rebuild=True``
    builds even when a valid entry exists.
    """
    if isinstance(spec, str):
        spec = EngineSpec(model=spec, **{"backend": "inductor", **settings})
    elif settings:
        spec = replace(spec, **settings)
    spec = spec.checked()
    model, weights, backend = spec.model, spec.weights, spec.backend
    if backend not in COMPILED_BACKENDS:
        raise NightvidError(
            f"backend {backend!r} has no artifact to compile; choose from {', '.join(COMPILED_BACKENDS)}"
        )
    device = resolve_device(spec.device)
    precision = resolve_precision(spec.precision, model, device, backend)
    enhancer = nets.build_enhancer(
        model, weights=weights, exposure=spec.exposure, deblock=None if spec.deblock else False
    )
    _, entry, _ = _build_artifact(
        model,
        enhancer,
        weights=_weights_label(model, weights),
        spec=backend_spec(backend),
        device=resolve_device(device),
        precision=precision,
        shape_range=shape_range,
        cache_dir=cache_dir,
        rebuild=rebuild,
    )
    return entry


def _resolve_workers(workers: int | None, spec: BackendSpec, device: torch.device, *, asked: str) -> int:
    if workers is None:
        return default_workers(spec.name, device)
    if workers < 1:
        raise NightvidError(f"workers must be at least 1, got {workers}")
    if workers > 1 and not (spec.multi_worker and device.type == "cpu"):
        if asked == "auto":
            log.info("backend auto chose %s on %s, which runs one batch at a time", spec.name, device.type)
            return 1
        multi = " or ".join(name for name, other in BACKEND_SPECS.items() if other.multi_worker)
        raise NightvidError(
            f"only the {multi} backend on the CPU runs several batches at once; "
            f"use --workers 1 with {spec.name} on {device.type}"
        )
    return workers


def create_engine(
    spec: EngineSpec | str,
    *,
    frame_size: tuple[int, int] | None = None,
    shape_range: ShapeRange | None = None,
    cache_dir: Path | str | None = None,
    on_out_of_range: str | None = None,
    cuda_graphs: bool = False,
    **settings: Any,
) -> Engine:
    """Build the engine ``spec`` describes (``EngineSpec``; or a model name, with the
    spec's fields as keywords: ``create_engine("noiser", backend="eager")``).

    ``settings`` replace the spec's fields. The spec is checked here (``EngineSpec.checked``).
    ``frame_size``: ``(height, width)`` of the frames it will mostly run, for ``auto``'s
    trial on the CPU, which times the nearest of 360p, 720p and 1080p (None: 360p);
    see ``engines.trial``. ``shape_range``: the batches a compiled engine accepts
    (default: the backend's ``BackendSpec.shape_range``). ``cache_dir``: the engine
    cache (default ``default_cache_dir()``). ``on_out_of_range``: ``"error"`` or
    ``"eager"`` (default: ``"eager"`` for ``auto``, else ``"error"``); see the module
    docstring. ``cuda_graphs``: tensorrt only, replay CUDA graphs
    (``torch_tensorrt.runtime.enable_cudagraphs``).

    More ``workers`` raise throughput for callers that keep batches submitted ahead
    (``enhance_video``, bench) and slow down one call on its own (preview: 1).

    The spec's ``tile`` is applied last (``wrappers.tiled``), here rather than by the
    streamer, which never wraps an engine. ``"auto"`` decides per frame size at the first
    batch of that size, not from ``frame_size``: one engine may run videos of several
    sizes (enhance-many keeps one per worker), and a stream's header may give another
    size than its decoded frames have.
    """
    spec = (EngineSpec(model=spec, **settings) if isinstance(spec, str) else replace(spec, **settings)).checked()
    engine = _backend_engine(
        spec,
        frame_size=frame_size,
        shape_range=shape_range,
        cache_dir=cache_dir,
        on_out_of_range=on_out_of_range,
        cuda_graphs=cuda_graphs,
    )
    return tiled(engine, spec.tile)


def _backend_engine(
    spec: EngineSpec,
    *,
    frame_size: tuple[int, int] | None,
    shape_range: ShapeRange | None,
    cache_dir: Path | str | None,
    on_out_of_range: str | None,
    cuda_graphs: bool,
) -> Engine:
    """``create_engine`` before tiles: the backend's engine (``auto``'s choice), with its details."""
    model, weights, backend, precision, workers = spec.model, spec.weights, spec.backend, spec.precision, spec.workers
    exposure, device = spec.exposure, spec.device
    deblock = None if spec.deblock else False  # None: where the model's registry entry does
    if on_out_of_range not in (None, "error", "eager"):
        raise NightvidError(f"on_out_of_range must be 'error' or 'eager', not {on_out_of_range!r}")
    torch_device = resolve_device(device)
    precision_chosen = precision == AUTO_PRECISION
    precision = resolve_precision(precision, model, torch_device, backend)
    if torch_device.type == "cpu":
        keep_freed_memory()  # before the net and any thread allocate (see nightvid.memory)
        _warn_if_slow_on_cpu(precision)
    enhancer = nets.build_enhancer(model, weights=weights, exposure=exposure, deblock=deblock)
    frames: Shape | None = None  # the batches a compiled engine runs: a cached range covering them is used
    if frame_size is not None and shape_range is None:
        side = spec.tile if isinstance(spec.tile, int) else max(frame_size)  # an explicit tile: its side
        frames = (spec.batch, min(frame_size[0], side), min(frame_size[1], side))
    described = {"model": model, "precision": precision}
    if exposure != nets.DEFAULT:
        described["exposure"] = "none" if exposure is None else str(exposure)
    if deblock is not None:
        described["deblock"] = str(deblock).lower()
    build = functools.partial(
        _engine_with,
        model=model,
        enhancer=enhancer,
        weights=weights,
        device=torch_device,
        precision=precision,
        shape_range=shape_range,
        frames=frames,
        cache_dir=cache_dir,
        cuda_graphs=cuda_graphs,
        workers=workers,
        asked=backend,
        on_out_of_range=on_out_of_range or ("eager" if backend == "auto" else "error"),
    )
    if backend != "auto":
        return build(backend_spec(backend)).with_details(**described)
    candidates = _auto_candidates(model, torch_device, precision, say_fallback=not precision_chosen)
    order: Sequence[str] = candidates
    if torch_device.type == "cpu" and len(candidates) > 1 and trial.trial_enabled():
        # the candidates timed on this machine once; the choice kept in the cache after
        frame = _trial_frame(frame_size, shape_range)
        chosen = trial.pick(
            candidates,
            lambda name: build(BACKEND_SPECS[name]).with_details(**described),  # type: ignore[index]
            fields=trial.record_fields(
                model=model,
                weights=_weights_label(model, weights),
                precision=precision,
                workers=workers,
                frame=frame,
                candidates={name: _backend_version(BACKEND_SPECS[name]) for name in candidates},
                steps=getattr(enhancer, "options", {}),
            ),
            folder=Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(),
            frame=frame,
            slow=functools.partial(
                _too_slow_to_try,
                candidates,
                model=model,
                enhancer=enhancer,
                weights=weights,
                device=torch_device,
                precision=precision,
                shape_range=shape_range,
                frames=frames,
                cache_dir=cache_dir,
            ),
        )
        if chosen.verdict is not None:
            described["auto"] = ("timed: " if chosen.verdict.measured else "kept: ") + chosen.verdict.summary()
        if chosen.engine is not None:
            return chosen.engine.with_details(**described)
        order = chosen.order
    # in order: a backend that fails to build, or whose engine does not match eager on
    # this machine, gives way to the next one
    for index, name in enumerate(order):
        try:
            return build(BACKEND_SPECS[name]).with_details(**described)  # type: ignore[index]
        except NightvidError as err:
            if index == len(order) - 1:
                raise
            log.warning("backend auto: %s failed (%s); trying %s", name, err, order[index + 1])
    raise AssertionError("unreachable: eager ends every candidate list")


def _trial_frame(frame_size: tuple[int, int] | None, shape_range: ShapeRange | None) -> tuple[int, int]:
    """``(height, width)`` of ``auto``'s trial frame: the nearest of ``trial.SIZES``, inside ``shape_range``.

    A frame outside a compiled engine's range would run eagerly and time eager.
    """
    height, width = trial.SIZES[trial.size_bucket(*frame_size) if frame_size else "360p"]
    if shape_range is not None:
        height = min(max(height, shape_range.min[1]), shape_range.max[1])
        width = min(max(width, shape_range.min[2]), shape_range.max[2])
    return height, width


def _backend_version(spec: BackendSpec) -> str:
    """The version an artifact backend records (ONNX Runtime's, torch's); empty for in-process ones."""
    return spec.artifact(ArtifactOptions()).version() if spec.artifact is not None else ""


def _too_slow_to_try(
    candidates: Sequence[BackendName],
    *,
    model: str,
    enhancer: nn.Module,
    weights: Path | str | None,
    device: torch.device,
    precision: str,
    shape_range: ShapeRange | None,
    frames: Shape | None,
    cache_dir: Path | str | None,
) -> list[BackendName]:
    """The candidates ``auto``'s trial does not build: a slow build (``BackendSpec.slow_build``)
    that is neither the first candidate (built before the trial existed) nor in the cache."""
    slow: list[BackendName] = []
    for name in candidates[1:]:
        spec = BACKEND_SPECS[name]
        if not spec.slow_build:
            continue
        if spec.artifact is not None:
            impl, meta, _ = _artifact_plan(
                model,
                enhancer,
                weights=_weights_label(model, weights),
                spec=spec,
                device=device,
                precision=precision,
                shape_range=shape_range,
                frames=frames,
                cache_dir=cache_dir,
            )
            if is_cached(meta, cache_dir=cache_dir, suffix=impl.suffix):
                continue
        slow.append(name)
    return slow


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 natively (AVX512-BF16 or AMX), not emulated."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str, model: str, device: torch.device, backend: str = "auto") -> str:
    """``precision`` with ``"auto"`` decided: bf16 on a CPU with native bf16 when every
    net of ``model`` is marked for it (``NetInfo.cpu_bf16``: measured faster at under
    0.05 dB on SICE eval) and ``backend`` runs bf16 (``auto`` has a bf16 order), else
    fp32 (CUDA included: fp16 there is not measured yet)."""
    if precision != AUTO_PRECISION:
        return precision
    nets_ok = all(nets.get_info(part).cpu_bf16 for part in nets.chain_parts(model))
    if not (device.type == "cpu" and nets_ok and cpu_has_native_bf16()):
        return "fp32"
    if backend != "auto" and not _available(BACKEND_SPECS[backend], device, torch.bfloat16):  # type: ignore[index]
        return "fp32"  # onnx and fused run fp32 only on the CPU
    return "bf16"


def _warn_if_slow_on_cpu(precision: str) -> None:
    """One line when ``precision`` is emulated on this CPU (it runs, slower than fp32)."""
    if precision == "fp16":
        log.warning(
            "fp16 on a CPU is emulated: about 7x slower than fp32 (measured with NoiSER); "
            "use --precision bf16 on a CPU with AVX512-BF16 or AMX, else fp32"
        )
    elif precision == "bf16" and not cpu_has_native_bf16():
        log.warning("bf16 on this CPU is emulated (it has neither AVX512-BF16 nor AMX): slower than fp32; use fp32")


def _auto_candidates(
    model: str, device: torch.device, precision: str, *, say_fallback: bool = True
) -> list[BackendName]:
    """What ``auto`` tries, in order: the model's backends that can run here, then eager.

    When the first choice cannot run a ``precision`` the user asked for (the fused and
    onnx CPU backends are fp32 only), the move to another backend is said in one line,
    never made silently (``say_fallback``; not for a precision ``auto`` chose).
    """
    order = AUTO_CUDA if device.type == "cuda" else _auto_cpu_order(model, precision)
    dtype = resolve_dtype(precision)
    usable = [b for b in dict.fromkeys((*order, "eager")) if _available(BACKEND_SPECS[b], device, dtype)]
    first_choice = next(b for b in (*order, "eager") if _available(BACKEND_SPECS[b], device, torch.float32))
    if say_fallback and precision != "fp32" and usable[0] != first_choice:
        log.warning("backend auto: %s runs fp32 only; running %s %s with %s", first_choice, model, precision, usable[0])
    return usable


def _engine_with(
    spec: BackendSpec,
    *,
    model: str,
    enhancer: nn.Module,
    weights: Path | str | None,
    device: torch.device,
    precision: str,
    shape_range: ShapeRange | None,
    frames: Shape | None,
    cache_dir: Path | str | None,
    cuda_graphs: bool,
    workers: int | None,
    asked: str,
    on_out_of_range: str,
) -> Engine:
    """``enhancer`` as an engine of the backend ``spec``; a NightvidError when it cannot be made here."""
    dtype = resolve_dtype(precision)
    runners = _resolve_workers(workers, spec, device, asked=asked)
    if spec.artifact is None:
        assert spec.build is not None, f"{spec.name} has neither artifact nor builder"
        return spec.build(enhancer, device=device, dtype=dtype, workers=runners)
    fn, entry, used_range = _build_artifact(
        model,
        enhancer,
        weights=_weights_label(model, weights),
        spec=spec,
        device=device,
        precision=precision,
        shape_range=shape_range,
        cache_dir=cache_dir,
        options=ArtifactOptions(workers=runners, cuda_graphs=cuda_graphs),
        frames=frames,
    )
    fallback = build_eager(enhancer, device=device, dtype=dtype).fn if on_out_of_range == "eager" else None
    return Engine(
        fn=guarded(fn, used_range, spec.name, fallback),
        backend=spec.name,
        device=device,
        dtype=dtype,
        shape_range=used_range,
        artifact=entry.artifact,
        workers=runners,
        details={
            "artifact": str(entry.artifact),
            "cache": "built" if entry.built else "hit",
            "build_s": f"{entry.build_seconds:.2f}",
            "load_s": f"{entry.load_seconds:.3f}",
            "shape_range": str(used_range),
            "verified_psnr_db": str(entry.meta.get("verified_psnr_db")),
        },
    )


def model_cycle(first: str) -> list[str]:
    """``first``, then every other registered model whose weights ship with nightvid.

    What the preview's ``m`` key cycles through; an unknown ``first`` is an error that
    lists the known models.
    """
    nets.chain_parts(first)  # unknown model: the error lists the known ones
    return [first] + [name for name in nets.list_nets() if name != first and nets.shipped_weights(name) is not None]


@dataclass(frozen=True)
class EngineFactory:
    """Engines by model name, for a caller that switches models while it runs.

    ``models`` is the cycle (the first is shown first); calling the factory builds the
    engine of one of them from ``spec``: the first with the spec's weights, the others
    with their shipped weights (``EngineSpec.for_model``), all else the same.
    """

    models: tuple[str, ...]
    spec: EngineSpec

    def __call__(self, model: str) -> Engine:
        return create_engine(replace(self.spec, model=model) if model == self.models[0] else self.spec.for_model(model))


def engine_factory(spec: EngineSpec) -> EngineFactory:
    """The live preview's engines: ``spec``'s model, then the shipped models (``model_cycle``).

    Give the spec ``workers=1`` for a live view: one frame at a time on all threads is
    the lowest latency. Its exposure, backend and device apply to every model.
    """
    return EngineFactory(models=tuple(model_cycle(spec.model)), spec=spec)
