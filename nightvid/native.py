"""Native CPU kernels: C++ sources in ``nightvid/kernels`` compiled once with the host's compiler.

Why not ``torch.utils.cpp_extension``: a torch extension includes torch's headers and
takes a minute to build on 2 cores; these kernels are plain C functions on raw float
pointers, so ``g++ -O3 -march=native -fopenmp`` builds one in about two seconds and
``ctypes`` loads it (and drops the GIL while it runs, so engine workers overlap).

A built library is kept in the engine cache (``<cache>/kernels``), named by a hash
of the source, the compiler's version, the flags and the CPU's feature flags (the code is
built for this CPU). Writes are atomic (``files.atomic_write_path``). No compiler, or a
build that fails, is a ``NightvidError`` saying why; the ``fused`` backend is then
unavailable and ``auto`` moves on to the next backend.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from nightvid.errors import NightvidError
from nightvid.files import atomic_write_path, default_cache_dir

__all__ = ["KERNELS", "compiler", "kernel_path", "load_kernel"]

#: The engine cache's logger: the CLI shows its INFO lines (a first build takes seconds).
log = logging.getLogger("nightvid.engines.cache")

#: The kernel sources, by name: the fused NoiSER engine's two, the temporal filter's fusion.
KERNELS = {
    name: Path(__file__).resolve().parent / "kernels" / f"{name}.cpp" for name in ("noiser", "deblock", "temporal")
}
#: Flags every build uses; ``-march=native`` is dropped for a compiler that rejects it.
FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-fno-math-errno", "-ffp-contract=fast")
NATIVE = "-march=native"


def compiler() -> str:
    """The C++ compiler: ``$CXX``, else ``g++``, else ``clang++``; a NightvidError when there is none."""
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    raise NightvidError("the fused backend needs a C++ compiler (g++ or clang++, or $CXX); none was found")


@functools.cache
def _compiler_version(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NightvidError(f"the C++ compiler {cxx} does not run: {err}") from None


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def kernel_path(name: str, cache_dir: Path | None = None) -> Path:
    """Where kernel ``name`` for this source, compiler and CPU lives (built or not)."""
    cxx = compiler()
    digest = hashlib.sha256()
    for part in (KERNELS[name].read_bytes(), _compiler_version(cxx).encode(), " ".join(FLAGS).encode()):
        digest.update(part)
    digest.update((platform.machine() + _cpu_flags()).encode())
    folder = cache_dir if cache_dir is not None else default_cache_dir() / "kernels"
    return folder / f"{name}-{digest.hexdigest()[:16]}.so"


def _compile(cxx: str, source: Path, extra: tuple[str, ...]) -> Callable[[Path], None]:
    def fill(tmp: Path) -> None:
        result = subprocess.run([cxx, *FLAGS, *extra, str(source), "-o", str(tmp)], capture_output=True, text=True)
        if result.returncode != 0:
            raise _BuildFailed(result.stderr.strip()[-600:])

    return fill


class _BuildFailed(Exception):
    """The compiler's complaint, raised inside ``atomic_write_path`` so nothing is kept."""


def _build(source: Path, target: Path) -> None:
    cxx = compiler()
    complaint = ""
    for extra in ((NATIVE,), ()):  # a compiler without -march=native still builds a portable kernel
        try:
            atomic_write_path(target, _compile(cxx, source, extra))
            return
        except _BuildFailed as err:
            complaint = str(err)
    raise NightvidError(f"building the native kernel {source.name} with {cxx} failed: {complaint}")


@functools.cache
def load_kernel(name: str) -> ctypes.CDLL:
    """Kernel ``name`` as a loaded library, built first if needed (once per process)."""
    path = kernel_path(name)
    if not path.is_file():
        log.info("engine cache: building %s (native kernel) once into %s; later runs load it", name, path)
        _build(KERNELS[name], path)
    try:
        return ctypes.CDLL(str(path))
    except OSError as err:
        raise NightvidError(f"loading the native kernel {path} failed: {err}") from None
