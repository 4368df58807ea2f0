"""Files nightvid writes: atomic replacement, safetensors weights, model cards and their provenance.

Every file the package produces (weights, checkpoints, model cards, metrics logs,
engine-cache artifacts) goes through :func:`atomic_write` or :func:`atomic_write_path`:
the new content is written to a temporary file beside the target, flushed to disk
(``fsync``), renamed over the target (``os.replace``) and the rename itself made durable
(``fsync`` of the folder). A reader, or a run killed at any point, sees the old file or
the complete new one, never half of one.

Temporary files are created with mode ``0o666`` and so get the usual permissions of the
process umask (``0o644`` under the common ``022``), like any ``open(path, "w")``; the
process umask is never read or changed.

Importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where weights are written, so this module loads light
    from torch import Tensor, nn

__all__ = [
    "default_cache_dir",
    "CARD_FILE",
    "atomic_write",
    "atomic_write_path",
    "cpu_signature",
    "git_commit",
    "json_safe",
    "save_safetensors",
    "save_weights",
    "write_model_card",
]

#: The model card the trainers write beside a run's weights (``nets.read_model_card`` reads it).
CARD_FILE = "model_card.json"


# --------------------------------------------------------------------------- atomic writes


def _create_temp(path: Path) -> Path:
    """A new empty file beside ``path`` whose name keeps ``path``'s suffix.

    ``O_CREAT`` with mode 0o666 lets the kernel apply the process umask (``mkstemp``
    would make it 0600); ``O_EXCL`` makes the name ours alone.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_path(path: Path | str, fill: Callable[[Path], object]) -> Path:
    """Make ``path`` the file that ``fill(tmp)`` writes, all at once or not at all.

    ``fill`` receives the path of a temporary file in the same folder, with the same
    suffix (some writers insist on one: AOTInductor's ``.pt2``), and may write it in
    place or replace it. The result is fsynced and renamed over ``path``; on any error
    the temporary file is removed and ``path`` is untouched. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(path)
    try:
        fill(tmp)
        _fsync(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX; folders cannot be opened on Windows)
        _fsync(path.parent, os.O_RDONLY)
    return path


def atomic_write(path: Path | str, write: Callable[[IO[Any]], Any], *, mode: str = "wb") -> Path:
    """Make ``path`` the file that ``write(handle)`` writes, all at once or not at all.

    ``handle`` is the temporary file opened with ``mode`` (``"wb"`` or ``"w"``); see
    :func:`atomic_write_path`. Returns ``path``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> atomic_write(folder / "a.txt", lambda handle: handle.write("hi"), mode="w").read_text()
        'hi'
    """

    def fill(tmp: Path) -> None:
        with open(tmp, mode) as handle:
            write(handle)

    return atomic_write_path(path, fill)


# --------------------------------------------------------------------------- weights


def save_safetensors(path: Path | str, tensors: Mapping[str, Tensor], *, metadata: Mapping[str, str]) -> str:
    """Write ``tensors`` as a safetensors file with header ``metadata``, atomically; return its sha256.

    The digest is what a model card records for a shipped file.
    """
    from safetensors.torch import save as safetensors_bytes

    data = safetensors_bytes({k: v.contiguous() for k, v in tensors.items()}, metadata=dict(metadata))
    atomic_write(path, lambda handle: handle.write(data))
    return hashlib.sha256(data).hexdigest()


def save_weights(model: nn.Module, path: Path | str, *, model_name: str) -> Path:
    """Write ``model.state_dict()`` as safetensors with header ``{"model": model_name}``.

    This is the layout ``nets.load_weights`` (``--weights``) reads, and it names the
    model so weights of another one are refused by name. Written atomically.
    """
    tensors = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    save_safetensors(path, tensors, metadata={"model": model_name})
    return Path(path)


# --------------------------------------------------------------------------- model cards


def git_commit(path: Path | str | None = None) -> str | None:
    """``git rev-parse HEAD`` of the repository holding ``path`` (default: this package), or None.

    A model card names the code that trained its weights; outside a checkout there is none.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def cpu_signature() -> str:
    """The CPU and the vector ISA torch's kernels pick on it, e.g. ``"GenuineIntel Intel(R)
    Xeon(R) Processor / AVX512"``: training is bit-identical only where this matches
    (oneDNN picks kernels by vendor and instruction set)."""
    vendor = model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "vendor_id" and not vendor:
                vendor = value.strip()
            elif key.strip() == "model name" and not model:
                model = value.strip()
    import torch

    isa = torch.backends.cpu.get_cpu_capability()
    return f"{vendor} {model or platform.processor() or platform.machine()} / {isa}".strip()


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON: non-finite floats become None, paths strings, tuples lists.

    Example:
        >>> json_safe({"psnr": float("inf"), "betas": (0.9, 0.99)})
        {'psnr': None, 'betas': [0.9, 0.99]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_model_card(path: Path | str, card: Mapping[str, Any]) -> Path:
    """Write a model card JSON atomically.

    ``card`` holds what the recipe knows (``model``, ``recipe`` as a dict, ``seed``,
    ``iterations``, ``data``, ``metrics``, ...); ``torch`` (version), ``commit`` (git
    HEAD of this package's repository, or null) and ``cpu`` (:func:`cpu_signature`) are
    added unless already given, so weights can be traced to what made them.
    Non-finite numbers are written as null.
    """
    import torch

    full = {"torch": torch.__version__, "commit": git_commit(), "cpu": cpu_signature(), **card}
    text = json.dumps(json_safe(full), indent=2, sort_keys=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text), mode="w")


def default_cache_dir() -> Path:
    """Where compiled engines, ``auto``'s records and native kernels live:
    ``$NIGHTVID_CACHE_DIR``, else the platform user cache folder + ``nightvid/engines``."""
    env = os.environ.get("NIGHTVID_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nightvid" / "engines"
