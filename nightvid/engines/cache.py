"""The engine cache: compiled artifacts built once, verified on every load.

Each artifact ``<net>-<backend>-<precision>-<key>.<ext>`` sits beside a metadata JSON of
the same stem. The metadata records what the artifact was built from and for:

- ``net``, ``net_code_sha256`` (the net's source file, ``nets/enhancer.py`` and the
  modules of the steps around the net: ``STEP_MODULES``),
  ``weights_sha256`` and ``weights`` (see ``weights_digest``),
- ``backend``, ``backend_version``, ``torch_version``,
- ``device``, ``device_name``, ``device_capability``,
- ``precision``, ``shape_range`` (min/opt/max as ``[B, H, W]``),
- ``artifact`` (file name) and ``artifact_sha256``; plus ``build_seconds`` and
  ``created`` for people.

``key`` hashes the identity fields (all but ``weights``, ``artifact_sha256``,
``build_seconds``, ``created``), so any change of net, weights, versions, device,
precision or range looks up a different file (``covering_range`` finds the entries
that differ only in their range, so an engine asked for no range uses the one
``nightvid compile`` built for its frames). Loading re-checks every identity field
and the artifact's sha256, then loads it; a missing, stale (another torch or backend
version), foreign (another net, weights, device, range) or corrupt (hash mismatch,
unreadable metadata, load failure) entry is logged as a warning saying why and rebuilt,
never trusted. Writes are atomic (temporary file + ``os.replace``, metadata last), so an
interrupted build leaves no entry that verifies.

Weights hash: ``weights_digest`` hashes the tensors actually loaded (names, dtypes,
shapes, bytes, in key order), not the file. Random-init weights (``weights=None``, used
by tests and speed benchmarks) thus get the hash of their random state dict, which
differs per seed, and re-saving the same tensors in a new file still hits the cache.

The cache folder is ``cache_dir`` if given, else ``$NIGHTVID_CACHE_DIR``, else the
platform's user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) + ``nightvid/engines``.
Old entries are never deleted automatically: ``list_entries`` says what is there (also
``auto``'s trial records and the fused kernels), ``remove_entries`` deletes it
(``nightvid cache list``, ``nightvid cache clear``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import inspect
import json
import logging
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from nightvid.engines.shapes import ShapeRange
from nightvid.errors import NightvidError
from nightvid.files import atomic_write_path, default_cache_dir

__all__ = [
    "CacheEntry",
    "CachedFile",
    "FORMAT",
    "artifact_meta",
    "cache_key",
    "covering_range",
    "default_cache_dir",
    "device_identity",
    "file_sha256",
    "is_cached",
    "list_entries",
    "load_or_build",
    "remove_entries",
    "weights_digest",
]

log = logging.getLogger(__name__)

#: Version of the cache layout and metadata schema; bump to invalidate every entry.
FORMAT = 1
_INFO_FIELDS = ("weights", "artifact_sha256", "build_seconds", "created")
T = TypeVar("T")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(module: nn.Module) -> str:
    """sha256 of ``module.state_dict()``: names, dtypes, shapes and bytes, in key order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


#: The modules of the steps the ``Enhancer`` runs around every net: a change to any of
#: them changes what a compiled artifact computes.
STEP_MODULES = ("nightvid.nets.exposure", "nightvid.nets.colour", "nightvid.nets.deblock")


def _code_digest(module: nn.Module) -> str:
    """sha256 of the source files that define the net(s), the ``Enhancer``/``Chain`` wrappers
    and the steps around the nets (``STEP_MODULES``)."""
    digest = hashlib.sha256()
    stages = list(getattr(module, "stages", [module]))
    files = {inspect.getsourcefile(type(module))} | {
        inspect.getsourcefile(importlib.import_module(m)) for m in STEP_MODULES
    }
    for stage in stages:
        files |= {inspect.getsourcefile(type(getattr(stage, "net", stage))), inspect.getsourcefile(type(stage))}
    for file in sorted(f for f in files if f):
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_identity(device: torch.device) -> tuple[str, str]:
    """``(name, capability)``: GPU name and ``sm_XY``, or CPU model and ISA level (e.g. AVX512)."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return torch.cuda.get_device_name(device), f"sm_{major}{minor}"
    return _cpu_name(), cpu_capability()


def cpu_capability() -> str:
    """The CPU's instruction set as compiled code depends on it, e.g. ``x86_64/AVX512+bf16+amx``.

    ATen's level (which ``ATEN_CPU_CAPABILITY`` can lower), the bf16 and AMX extensions
    that oneDNN and inductor use when present, and a ``ONEDNN_MAX_CPU_ISA`` limit: an
    artifact built under one of these is not trusted under another.
    """
    parts = [f"{platform.machine()}/{torch.backends.cpu.get_cpu_capability()}"]
    if torch.cpu._is_avx512_bf16_supported():
        parts.append("bf16")
    if torch.cpu._is_amx_tile_supported():
        parts.append("amx")
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        parts.append(f"onednn={os.environ['ONEDNN_MAX_CPU_ISA'].upper()}")
    return "+".join(parts)


def artifact_meta(
    *,
    net: str,
    enhancer: nn.Module,
    weights: str,
    backend: str,
    backend_version: str,
    device: torch.device,
    precision: str,
    shape_range: ShapeRange,
) -> dict[str, Any]:
    """The metadata an artifact for these inputs must carry (without its hash yet)."""
    name, capability = device_identity(device)
    return {
        "format": FORMAT,
        "net": net,
        "net_code_sha256": _code_digest(enhancer),
        "net_options": {k: repr(v) for k, v in sorted(getattr(enhancer, "options", {}).items())},
        "weights_sha256": weights_digest(enhancer),
        "weights": weights,
        "backend": backend,
        "backend_version": backend_version,
        "torch_version": torch.__version__,
        "device": device.type,
        "device_name": name,
        "device_capability": capability,
        "precision": precision,
        "shape_range": shape_range.as_dict(),
    }


def _identity(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in _INFO_FIELDS and k != "artifact"}


def cache_key(meta: dict[str, Any]) -> str:
    """16 hex digits of sha256 over the identity fields."""
    blob = json.dumps(_identity(meta), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CacheEntry:
    """Where an artifact is, its verified metadata, and what getting it cost."""

    artifact: Path
    meta_path: Path
    meta: dict[str, Any]
    #: True when this call built the artifact, False when it came from the cache.
    built: bool
    build_seconds: float
    load_seconds: float


def _why_invalid(expected: dict[str, Any], meta_path: Path, artifact: Path) -> str | None:
    """None when the entry verifies, else the reason it cannot be trusted."""
    if not meta_path.is_file():
        return None if not artifact.exists() else "artifact without metadata"
    try:
        found = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        return f"unreadable metadata ({err})"
    if not isinstance(found, dict):
        return "unreadable metadata (not an object)"
    for field, want in _identity(expected).items():
        if found.get(field) != want:
            return f"{field} is {found.get(field)!r}, expected {want!r}"
    if found.get("artifact") != artifact.name:
        return f"metadata names artifact {found.get('artifact')!r}, expected {artifact.name!r}"
    if not artifact.is_file():
        return "artifact file is missing"
    actual = file_sha256(artifact)
    if found.get("artifact_sha256") != actual:
        return f"artifact sha256 is {actual[:12]}..., metadata says {str(found.get('artifact_sha256'))[:12]}..."
    return None


@contextlib.contextmanager
def _without_exporter_chatter() -> Iterator[None]:
    """Silence what torch's exporters print during a build that is no concern of the user:
    the torchvision ops the ONNX exporter cannot register (torchvision is not a
    dependency) and torch's own pytree deprecation warnings. Errors still propagate."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*", category=FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def _entry_paths(expected: dict[str, Any], folder: Path, suffix: str) -> tuple[Path, Path]:
    """The artifact's and its metadata's paths for ``expected`` in ``folder``."""
    stem = f"{expected['net']}-{expected['backend']}-{expected['precision']}-{cache_key(expected)}"
    return folder / f"{stem}{suffix}", folder / f"{stem}.json"


def is_cached(expected: dict[str, Any], *, cache_dir: Path | str | None, suffix: str) -> bool:
    """Whether a valid artifact for ``expected`` is in the cache (metadata and sha256 check out).

    Builds and loads nothing (``auto``'s trial asks before it times a backend whose
    build would take minutes); the load itself may still fail later.
    """
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    artifact, meta_path = _entry_paths(expected, folder, suffix)
    return meta_path.is_file() and _why_invalid(expected, meta_path, artifact) is None


def load_or_build(
    expected: dict[str, Any],
    *,
    cache_dir: Path | str | None,
    suffix: str,
    build: Callable[[Path], None],
    load: Callable[[Path], T],
    rebuild: bool = False,
) -> tuple[T, CacheEntry]:
    """Load the verified artifact for ``expected`` metadata, or build, record and load it.

    ``build(path)`` writes the artifact to ``path`` (a temporary name); ``load(path)``
    turns it into whatever the backend runs. A load that raises after verification
    means a corrupt artifact: it is rebuilt once, and a second failure is an error.
    """
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NightvidError(f"cannot create the engine cache folder {folder}: {err}") from None
    artifact, meta_path = _entry_paths(expected, folder, suffix)
    label = f"{expected['net']} ({expected['backend']}, {expected['precision']})"

    if not rebuild:
        reason = _why_invalid(expected, meta_path, artifact)
        if reason is None and meta_path.is_file():
            start = time.perf_counter()
            try:
                loaded = load(artifact)
            except Exception as err:  # any loader failure means the bytes cannot be trusted
                log.warning("engine cache: rebuilding %s: artifact %s fails to load (%s)", label, artifact.name, err)
            else:
                meta = json.loads(meta_path.read_text())
                seconds = time.perf_counter() - start
                log.debug("engine cache: loaded %s from %s in %.2f s", label, artifact, seconds)
                return loaded, CacheEntry(
                    artifact, meta_path, meta, False, float(meta.get("build_seconds", 0.0)), seconds
                )
        elif reason is not None:
            log.warning("engine cache: rebuilding %s: %s (%s)", label, reason, meta_path)
        else:
            # INFO reaches CLI users (cli._setup_logging): a build can take minutes.
            log.info("engine cache: building %s once into %s; later runs load it", label, artifact)

    start = time.perf_counter()
    meta_path.unlink(missing_ok=True)  # an entry is valid only once its metadata is back
    with _without_exporter_chatter():
        atomic_write_path(artifact, build)
    build_seconds = time.perf_counter() - start
    meta = {
        **expected,
        "artifact": artifact.name,
        "artifact_sha256": file_sha256(artifact),
        "build_seconds": round(build_seconds, 3),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_path(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    start = time.perf_counter()
    try:
        loaded = load(artifact)
    except NightvidError:
        raise
    except Exception as err:
        raise NightvidError(f"freshly built artifact {artifact} does not load: {err}") from err
    return loaded, CacheEntry(artifact, meta_path, meta, True, build_seconds, time.perf_counter() - start)


@dataclass(frozen=True)
class CachedFile:
    """One thing kept in the engine cache, as ``nightvid cache list`` shows it."""

    #: ``engine`` (a compiled artifact and its metadata), ``auto`` (a trial's record:
    #: which backend ``auto`` runs) or ``kernel`` (a fused kernel, shared by every model).
    kind: str
    #: The model (a kernel's own name for a kernel).
    model: str
    #: The artifact's backend; for ``auto`` the backend it chose; ``fused`` for a kernel.
    backend: str
    #: engine: precision, device and shape range; auto: the trial frame and the timings.
    detail: str
    #: Bytes of all its files.
    size: int
    #: When it was made (ISO 8601, UTC): from its metadata, else the file's time.
    created: str
    #: Its files (the metadata JSON last).
    paths: tuple[Path, ...]


def _cache_folder(cache_dir: Path | str | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _file_time(path: Path) -> str:
    stamp = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc)
    return stamp.isoformat(timespec="seconds")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _engine_entry(meta_path: Path, meta: dict[str, Any]) -> CachedFile:
    artifact = meta_path.with_name(str(meta["artifact"]))
    paths = (artifact, meta_path) if artifact.is_file() else (meta_path,)
    shape = meta.get("shape_range") or {}
    span = "..".join("x".join(str(n) for n in shape[end]) for end in ("min", "max") if end in shape)
    return CachedFile(
        kind="engine",
        model=str(meta.get("net", "?")),
        backend=str(meta.get("backend", "?")),
        detail=" ".join(str(part) for part in (meta.get("precision"), meta.get("device"), span) if part),
        size=sum(p.stat().st_size for p in paths),
        created=str(meta.get("created") or _file_time(meta_path)),
        paths=paths,
    )


def _auto_entry(path: Path, record: dict[str, Any]) -> CachedFile:
    timed = ", ".join(f"{name} {float(ms):.1f} ms" for name, ms in (record.get("ms_per_frame") or {}).items())
    return CachedFile(
        kind="auto",
        model=str(record.get("model", "?")),
        backend=str(record.get("choice", "?")),
        detail=f"{record.get('frame', '?')}: {timed}" if timed else str(record.get("frame", "?")),
        size=path.stat().st_size,
        created=str(record.get("created") or _file_time(path)),
        paths=(path,),
    )


def list_entries(cache_dir: Path | str | None = None) -> list[CachedFile]:
    """What the engine cache holds: compiled engines, ``auto``'s records, fused kernels.

    Only what nightvid writes there is listed (a metadata JSON naming its artifact, an
    ``auto-*.json`` record, a ``kernels/*.so``); other files and the temporary files of a
    build under way are not. Sorted by kind, model and date; an empty list when the folder
    does not exist.
    """
    folder = _cache_folder(cache_dir)
    found: list[CachedFile] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            meta = _read_json(path)
            if meta is None or path.name.startswith("."):
                continue
            if path.name.startswith("auto-") and "choice" in meta:
                found.append(_auto_entry(path, meta))
            elif "artifact" in meta and "net" in meta:
                found.append(_engine_entry(path, meta))
        for path in sorted((folder / "kernels").glob("*.so")):
            found.append(
                CachedFile(
                    kind="kernel",
                    model=path.stem.rsplit("-", 1)[0],
                    backend="fused",
                    detail="native CPU kernel",
                    size=path.stat().st_size,
                    created=_file_time(path),
                    paths=(path,),
                )
            )
    order = {"engine": 0, "auto": 1, "kernel": 2}
    return sorted(found, key=lambda e: (order[e.kind], e.model, e.created))


def covering_range(
    expected: dict[str, Any], *, cache_dir: Path | str | None, suffix: str, frames: tuple[int, int, int]
) -> ShapeRange | None:
    """The range of a cached artifact for ``expected`` in all but its range that runs ``frames``.

    ``frames``: ``(B, H, W)``, the frame size with every batch from 1 to B (a video's last
    batch may be shorter). Of the entries whose identity fields other than ``shape_range``
    equal ``expected``'s (net, code, options, weights, backend and versions, device,
    precision) and whose range holds both ``(1, H, W)`` and ``(B, H, W)``, the one whose
    ``opt`` is nearest (sum of ``|opt - frames|`` over B, H, W; then the name); None when
    none is. Reads metadata only: ``load_or_build`` still verifies the one chosen.
    """
    batch, height, width = frames
    wanted = {k: v for k, v in _identity(expected).items() if k != "shape_range"}
    found: list[tuple[int, str, ShapeRange]] = []
    folder = _cache_folder(cache_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        meta = _read_json(path)
        if meta is None or not str(meta.get("artifact", "")).endswith(suffix):
            continue
        if {k: v for k, v in _identity(meta).items() if k != "shape_range"} != wanted:
            continue
        try:
            shape_range = ShapeRange.from_dict(meta["shape_range"])
        except (KeyError, TypeError, ValueError, NightvidError):
            continue
        if not (shape_range.contains((1, height, width)) and shape_range.contains(frames)):
            continue
        if not path.with_name(str(meta["artifact"])).is_file():
            continue
        distance = sum(abs(o - f) for o, f in zip(shape_range.opt, frames, strict=True))
        found.append((distance, path.name, shape_range))
    return min(found, key=lambda item: item[:2])[2] if found else None


def remove_entries(cache_dir: Path | str | None = None, *, model: str | None = None) -> list[CachedFile]:
    """Delete what ``list_entries`` lists (all of it, or the engines and ``auto`` records of
    ``model`` and of the chains it is part of); return what was deleted.

    The fused kernels belong to no model: only a clear of everything deletes them. A
    process that runs an engine keeps it loaded; the next one builds it again.
    """
    from nightvid.nets import CHAIN

    gone = []
    for entry in list_entries(cache_dir):
        if model is not None and (entry.kind == "kernel" or model not in entry.model.split(CHAIN)):
            continue
        for path in entry.paths:
            path.unlink(missing_ok=True)
        gone.append(entry)
    return gone
