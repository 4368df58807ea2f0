"""The backends as facts: names, help lines, compiled or not, multi-worker, ``auto``'s order.

What the CLI and its ``--help`` need, without torch: importing this module loads no
torch, so ``nightvid --help`` stays fast. The builders of each backend (which do load
torch) are joined to these rows by name in ``engines/backends.py`` (``BackendSpec``);
adding a backend is a row here and a row there. ``BackendName`` and ``BackendChoice``
are spelt out for the type checker and checked against the rows on import.

``auto``'s order on the CPU (``AUTO_CPU``) is a table of its own, per net, here beside
the rows: it is backend names ordered per net, which a backend row (one backend, every
net) or a net's ``NetInfo`` (``nets/`` does not know the backends) could not hold.

Example:
    >>> BACKENDS
    ('auto', 'eager', 'fused', 'inductor', 'inductor-jit', 'onnx', 'tensorrt')
    >>> COMPILED_BACKENDS, MULTI_WORKER_BACKENDS
    (('inductor', 'onnx', 'tensorrt'), ('fused', 'onnx'))
    >>> AUTO_CPU["lednet"]
    ('eager',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "AUTO_CPU",
    "AUTO_CPU_BF16",
    "AUTO_CUDA",
    "AUTO_HELP",
    "BACKENDS",
    "BACKEND_DETAILS",
    "BACKEND_FACTS",
    "BACKEND_HELP",
    "BACKEND_NAMES",
    "COMPILED_BACKENDS",
    "COMPILE_BACKEND_HELP",
    "MULTI_WORKER_BACKENDS",
    "BackendChoice",
    "BackendFacts",
    "BackendName",
]

#: The concrete backends (one ``BackendFacts`` row each, in this order).
BackendName = Literal["eager", "fused", "inductor", "inductor-jit", "onnx", "tensorrt"]
#: What ``--backend`` accepts: a concrete backend, or ``auto``.
BackendChoice = Literal["auto", "eager", "fused", "inductor", "inductor-jit", "onnx", "tensorrt"]


@dataclass(frozen=True)
class BackendFacts:
    """What callers ask about a backend before (or without) building one."""

    name: BackendName
    #: One line for ``--backend``'s help.
    help: str
    #: Writes an artifact into the engine cache (``nightvid compile`` builds it).
    compiled: bool = False
    #: Several CPU workers can run batches at once, each with its share of the threads.
    multi_worker: bool = False
    #: Its build can take minutes for a large net (AOTInductor: LEDNet 221 s, KinD 101 s
    #: on 2 cores): ``auto``'s trial times it only when its artifact is already cached, or
    #: when it is the first candidate (``engines.trial``).
    slow_build: bool = False


_ROWS = (
    BackendFacts("eager", "the net as it is"),
    BackendFacts("fused", "NoiSER as one native pass on the CPU", multi_worker=True),
    BackendFacts("inductor", "AOTInductor, cached", compiled=True, slow_build=True),
    BackendFacts("inductor-jit", "torch.compile, not saved", slow_build=True),
    BackendFacts("onnx", "ONNX Runtime, cached", compiled=True, multi_worker=True),
    BackendFacts("tensorrt", "Torch-TensorRT on CUDA, cached", compiled=True, slow_build=True),
)
#: Every backend's row by name, in the order the CLI lists them.
BACKEND_FACTS: dict[BackendName, BackendFacts] = {row.name: row for row in _ROWS}

#: The concrete backends.
BACKEND_NAMES: tuple[BackendName, ...] = tuple(BACKEND_FACTS)
#: What ``--backend`` accepts.
BACKENDS: tuple[BackendChoice, ...] = ("auto", *BACKEND_NAMES)
#: The backends ``nightvid compile`` builds.
COMPILED_BACKENDS: tuple[BackendName, ...] = tuple(row.name for row in _ROWS if row.compiled)
#: The backends that run several batches at once on the CPU (``--workers``).
MULTI_WORKER_BACKENDS: tuple[BackendName, ...] = tuple(row.name for row in _ROWS if row.multi_worker)
AUTO_HELP = "fastest installed for the model and device"
#: ``--backend``'s help: the choices, and what ``auto`` means.
BACKEND_HELP = f"{'|'.join(BACKENDS)} (auto: {AUTO_HELP})"
#: One line per backend (``name: help; ...``), for a longer help or a listing.
BACKEND_DETAILS = "; ".join(f"{row.name}: {row.help}" for row in _ROWS)
#: ``nightvid compile --backend``'s help.
COMPILE_BACKEND_HELP = "|".join(COMPILED_BACKENDS)

# `auto` on CPU, per net: the candidates worth timing (engines/trial.py times those
# installed on the first run and keeps the fastest), in the order tried when nothing is
# timed (NIGHTVID_AUTO_TRIAL=0) or a build fails. LEDNet has one: eager is within 5% of
# every artifact, which take minutes to build. The table below picked the order before
# the trial existed; an AMD EPYC with AVX2 only has since run NoiSER faster with onnx
# (enhance 7.0 fps) than with fused (3.7 fps), which is why it is timed.
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
# - noiser: fused first (engines/fused.py, session 7, 2026-11-29, 2-core Intel Xeon with
#   AVX-512): one 1280x720 frame in about 63 ms of one core against 126 ms of two for
#   one ONNX session, and 9 bytes of working memory a pixel against 228 (docs/BENCHMARKS.md,
#   "Fused NoiSER"); the rest of the order is kept for machines without a C++ compiler.
AUTO_CPU: dict[str, tuple[BackendName, ...]] = {
    "noiser": ("fused", "onnx", "inductor", "eager"),
    "denoiser": ("inductor", "onnx", "eager"),
    "kind": ("onnx", "inductor", "eager"),
    "lednet": ("eager",),
}
# `auto` on the CPU in bf16 (`--precision auto` on a CPU with native bf16 picks it for
# LEDNet and KinD: nets.NetInfo.cpu_bf16), where it differs from the fp32 order. The fused
# and onnx CPU engines are fp32 only. AOTInductor's bf16 graph, 640x360, session 13 (Intel
# Xeon, AMX, 2 cores, a training run beside it): LEDNet 3.1 s a frame against 5.5 s for
# eager bf16 (autocast) and 8-10 s for fp32; KinD 458 against 1856 ms for eager bf16.
# SICE eval within 0.01 dB of fp32 eager (docs/BENCHMARKS.md, "bf16 on the CPU"). It builds
# once per machine: 4-6 minutes on 2 cores, then read from the engine cache.
AUTO_CPU_BF16: dict[str, tuple[BackendName, ...]] = {
    "kind": ("inductor", "eager"),
    "lednet": ("inductor", "eager"),
}
# `auto` on CUDA: not measured (no GPU on the machines this was written on). TensorRT is
# the designed fast path; without it eager (fp16/bf16 + channels_last) is the safe
# choice, since an unmeasured compile would cost minutes for an unknown gain.
AUTO_CUDA: tuple[BackendName, ...] = ("tensorrt", "eager")


def _check() -> None:
    """The hand-written name lists and ``auto``'s orders name exactly the rows above."""
    if get_args(BackendName) != BACKEND_NAMES or get_args(BackendChoice) != BACKENDS:
        raise AssertionError(f"BackendName/BackendChoice do not list the table's backends {BACKEND_NAMES}")
    for net, order in {**AUTO_CPU, **AUTO_CPU_BF16, "(cuda)": AUTO_CUDA}.items():
        if not set(order) <= set(BACKEND_NAMES):
            raise AssertionError(f"auto's order for {net} {order} names a backend the table lacks")


_check()
