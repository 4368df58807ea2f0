"""The inductor backend: AOTInductor packages (saved) and ``torch.compile`` (in-process).

``InductorBackend`` exports the ``Enhancer`` over a ``ShapeRange`` (the shared
``shapes.export_program``), compiles it ahead of time with
``torch._inductor.aoti_compile_and_package`` into one ``.pt2`` file (generated C++ or
CUDA kernels plus the weights, shape-generic inside the range) and loads it with
``aoti_load_package`` without recompiling: milliseconds instead of the tens of seconds
a build costs on a 2-core CPU. CPU and CUDA; fp32, and bf16/fp16 as the device supports.

``build_torch_compile`` is the in-process variant (``backend="inductor-jit"``):
``torch.compile(dynamic=True)`` on first call, nothing saved, the compile paid again in
every process (it still benefits from inductor's own on-disk kernel cache).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from nightvid.engines.base import Engine
from nightvid.engines.shapes import ShapeRange, export_program
from nightvid.errors import NightvidError

__all__ = ["InductorBackend", "build_torch_compile"]

# A child of the engine cache's logger: the CLI shows its INFO lines (a compile, like a
# build into the cache, takes minutes once; --quiet hides it).
log = logging.getLogger("nightvid.engines.cache.inductor")


class InductorBackend:
    """AOTInductor: ``torch.export`` -> ``aoti_compile_and_package`` -> ``.pt2``."""

    name = "inductor"
    suffix = ".pt2"

    def version(self) -> str:
        return f"inductor (torch {torch.__version__})"

    def check(self, device: torch.device, dtype: torch.dtype) -> None:
        if device.type not in ("cpu", "cuda"):
            raise NightvidError(f"the inductor backend runs on cpu or cuda, not {device.type}")
        try:  # the generated C++ is compiled on this machine
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        except Exception as err:  # inductor raises its own error types here
            raise NightvidError(f"the inductor backend needs a C++ compiler (g++ or clang++, or $CXX): {err}") from None

    def build(
        self, enhancer: nn.Module, path: Path, *, shape_range: ShapeRange, device: torch.device, dtype: torch.dtype
    ) -> None:
        module = enhancer.to(device=device, dtype=dtype).eval()
        program = export_program(module, shape_range, dtype=dtype, device=device)
        # CPU: freezing folds the weights into the graph as constants, which lets inductor
        # prepack them for oneDNN convolutions (denoiser at 640x360 on 2 cores:
        # 1.77 -> 1.62 s/frame, same outputs).
        configs = {"freezing": True} if device.type == "cpu" else {}
        try:
            with torch.no_grad():
                torch._inductor.aoti_compile_and_package(program, package_path=str(path), inductor_configs=configs)
        except Exception as err:  # compiler errors come as many types
            raise NightvidError(f"AOTInductor compilation failed: {err}") from err

    def load(self, path: Path, *, device: torch.device, dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
        index = device.index if device.index is not None else -1
        runner = torch._inductor.aoti_load_package(str(path), device_index=index)
        return contiguous_input(runner)


def contiguous_input(runner: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``runner`` fed a contiguous batch.

    An AOTInductor program reads its input with the strides it was exported with
    (contiguous NCHW) and checks none at run time. Frames from the decoder arrive as
    NHWC memory viewed as NCHW (a permute), and the program read them as if they were
    NCHW: 10-15 dB garbage (diagonal bands, striped rows). Where oneDNN takes its AVX-512
    path the first convolution happened to copy its input into its own layout, which hid
    it; with ``ONEDNN_MAX_CPU_ISA=AVX2`` (and on AVX2-only CPUs) it did not.
    """

    def run(batch: Tensor) -> Tensor:
        return runner(batch.contiguous())

    return run


def build_torch_compile(enhancer: nn.Module, *, device: torch.device, dtype: torch.dtype, workers: int = 1) -> Engine:
    """``torch.compile`` the enhancer in this process; compiles on the first call (one batch at a time).

    ``dynamic=True`` compiles shape-generic code, so new frame sizes do not recompile
    (batch 1 and batch > 1 are still two graphs: torch specialises size-1 dimensions).
    A net's exposure ratio is traced as a constant, so only the output gain is a control.
    """
    assert workers == 1, "the inductor-jit backend runs one batch at a time"
    module = enhancer.to(device=device, dtype=dtype).eval()
    log.info(
        "inductor-jit: compiling %s with torch.compile on its first batch; this takes a minute or two, once per run",
        type(getattr(module, "net", module)).__name__,
    )
    return Engine(fn=torch.compile(module, dynamic=True), backend="inductor-jit", device=device, dtype=dtype)
