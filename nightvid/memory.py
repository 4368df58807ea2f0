"""Host memory: how much a block of work takes and is free for more, and keeping freed memory.

Measuring (``rss_mib``, ``free_memory_bytes``, ``PeakMemory``): the tiling decision,
the benchmarks and ``bench``'s peak RSS column.

Keeping (``keep_freed_memory``, ``release_freed_memory``):
Keep freed host memory in the process, so CPU inference stops paying page faults.

glibc's malloc hands every block above its mmap threshold (128 KiB at start, raised
on the fly to at most 32 MiB) to a fresh ``mmap`` and returns it to the kernel on
``free``; threads other than the main one allocate from arenas of at most 64 MiB,
which send anything larger to ``mmap`` too. A conv net's activations are tens to
hundreds of MiB per frame (NoiSER at 1280x720: 118 MiB per 32-channel fp32 map), so
every frame faulted in and zeroed them again. NoiSER eager at 1280x720 on the 2-core
CPU (``benchmarks/host_memory.py``): 160,000 minor faults and 389 ms per frame before,
none and 146 ms after; ``nightvid enhance --backend eager`` of a 720p clip went from
2.3 to 5.9 fps, AOTInductor from 5.3 to 7.0 (docs/BENCHMARKS.md).

``keep_freed_memory`` raises the mmap threshold to 2 GiB, stops the heap from being
trimmed and puts every thread on the main arena, so freed blocks are reused. The cost:
the process keeps its peak footprint instead of shrinking between frames;
``NIGHTVID_KEEP_FREED_MEMORY=0`` in the environment turns the tuning off. ONNX Runtime
and CUDA keep arenas of their own and gain nothing. Only glibc is tuned; elsewhere
these calls do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import platform
import threading
from pathlib import Path

import torch

__all__ = [
    "PeakMemory",
    "cgroup_headroom",
    "free_memory_bytes",
    "keep_freed_memory",
    "release_freed_memory",
    "rss_mib",
]


def rss_mib() -> float:
    """This process's resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def free_memory_bytes(device: torch.device) -> int:
    """Free GPU memory on CUDA; on the CPU the host's MemAvailable, or less when this
    process's cgroup (a container's memory limit) leaves less (``cgroup_headroom``)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    available = 4 * 2**30
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    headroom = cgroup_headroom()
    return available if headroom is None else min(available, headroom)


def cgroup_headroom(root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> int | None:
    """Bytes this process's memory cgroup may still grow by, or None without a limit.

    Why: inside a container MemAvailable is the host's, so ``--tile auto`` would plan a
    4K frame for 20 GB the container cannot have and be killed. cgroup v2
    (``memory.max`` - ``memory.current``) and v1 (``memory.limit_in_bytes`` -
    ``memory.usage_in_bytes``) are read; "max" or v1's huge "no limit" count as none.
    """
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            files = (root / path.lstrip("/") / "memory.max", root / path.lstrip("/") / "memory.current")
        elif "memory" in controllers.split(","):
            folder = root / "memory" / path.lstrip("/")
            files = (folder / "memory.limit_in_bytes", folder / "memory.usage_in_bytes")
        else:
            continue
        try:
            limit, used = (f.read_text().strip() for f in files)
        except OSError:
            continue
        if limit != "max" and int(limit) < 2**60:
            return max(0, int(limit) - int(used))
    return None


class PeakMemory:
    """Samples RSS in a background thread (and CUDA's allocator peak on GPU).

    After the block: ``peak_mib`` (host RSS peak), ``start_mib`` (RSS before) and
    ``gpu_mib`` (peak CUDA memory allocated, None on CPU).
    """

    def __init__(self, device: torch.device, interval_s: float = 0.005) -> None:
        self.device, self.interval_s = device, interval_s
        self.start_mib = self.peak_mib = 0.0
        self.gpu_mib: float | None = None
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, rss_mib())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.start_mib = self.peak_mib = rss_mib()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.gpu_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, rss_mib())


# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: The largest value mallopt takes (an int): blocks below 2 GiB stay on the heap.
_KEEP_BELOW = 2**31 - 1
#: M_TRIM_THRESHOLD -1: never shrink the heap (LEDNet at 1280x720 frees over 2 GiB).
_NEVER = -1


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's malloc for large, repeated allocations; True if it was tuned.

    Call it before the threads that allocate are started: a thread that has already
    allocated keeps its own arena. Idempotent; ``create_engine`` calls it for CPU
    engines, ``trainers.loop.fit`` and ``trainers.evaluate`` for CPU training and scoring.
    """
    libc = _glibc()
    if libc is None or os.environ.get("NIGHTVID_KEEP_FREED_MEMORY", "1") == "0":
        return False
    return all(
        libc.mallopt(option, value) == 1
        for option, value in ((_M_MMAP_THRESHOLD, _KEEP_BELOW), (_M_TRIM_THRESHOLD, _NEVER), (_M_ARENA_MAX, 1))
    )


def release_freed_memory() -> None:
    """Return freed heap pages to the kernel (``malloc_trim``), so the next resident-set
    growth measures real use, not reuse (``engines.tiling``'s memory probe)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
