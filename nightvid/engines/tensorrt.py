"""The tensorrt backend: Torch-TensorRT's dynamo path, saved as an ExportedProgram.

Build: ``prepare`` puts the ``Enhancer`` on the GPU in the engine's dtype and exports it
with the shared ``shapes.export_program`` (the same ``torch.export`` call and ``Dim``
spec the inductor and onnx backends use, tested on every machine); then
``torch_tensorrt.compile(program, ir="dynamo", inputs=[torch_tensorrt.Input(min_shape,
opt_shape, max_shape, dtype)])`` builds one engine profile over the range (dynamic batch,
height and width) and ``torch_tensorrt.save(..., output_format="exported_program")``
writes it with the same dynamic shapes. Load: ``torch_tensorrt.load(path).module()``,
optionally wrapped in ``torch_tensorrt.runtime.enable_cudagraphs`` (CUDA graphs replay
one captured launch per input shape: a win for small nets at fixed shapes).

Precision follows what the installed version requires:

- Torch-TensorRT >= 2.10 builds strongly typed networks (2.10-2.12:
  ``use_explicit_typing=True`` by default; 2.13 removed the switch and
  ``enabled_precisions``). The graph's dtypes are the engine's dtypes, so fp16/bf16
  means half weights and half inputs, and ``enabled_precisions`` is not passed.
  ``mixed=True`` keeps fp32 weights and lets TensorRT's autocast pass
  (``enable_autocast=True, autocast_low_precision_type=...``) lower what is safe.
- Older versions (weak typing): half weights and inputs plus
  ``enabled_precisions={dtype}``.

Optional extra: ``pip install nightvid[tensorrt]``. torch_tensorrt pins torch to its own
minor version (2.13.x needs torch 2.13.x), so install it into an environment whose torch
(CUDA build) matches, or pip replaces torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.export import ExportedProgram

from nightvid.engines.shapes import ShapeRange, export_program
from nightvid.errors import NightvidError

__all__ = ["TensorRTBackend", "compile_options", "prepare", "trt_version"]

INSTALL_HINT = (
    "install the tensorrt extra into an environment with a CUDA build of torch of the same "
    "minor version: pip install 'nightvid[tensorrt]'"
)


def _trt() -> Any:
    try:
        import torch_tensorrt
    except ImportError as err:
        raise NightvidError(f"the tensorrt backend needs torch_tensorrt ({err}); {INSTALL_HINT}") from None
    return torch_tensorrt


def trt_version(text: str) -> tuple[int, int]:
    """``"2.13.0+cu130"`` -> ``(2, 13)``."""
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def prepare(
    enhancer: nn.Module, shape_range: ShapeRange, *, device: torch.device | str, dtype: torch.dtype, mixed: bool = False
) -> tuple[nn.Module, ExportedProgram, Tensor]:
    """The module on ``device``, its export over ``shape_range``, and the tracing example.

    Needs no TensorRT: tests run it everywhere, so the export TensorRT compiles from is
    checked on machines without a GPU.
    """
    graph_dtype = torch.float32 if mixed else dtype
    module = enhancer.to(device=device, dtype=graph_dtype).eval()
    program = export_program(module, shape_range, dtype=graph_dtype, device=device)
    return module, program, shape_range.example(dtype=graph_dtype, device=device)


def compile_options(version: tuple[int, int], dtype: torch.dtype, mixed: bool) -> dict[str, Any]:
    """The precision keywords ``torch_tensorrt.compile`` takes at ``version`` (see the module docstring).

    Example:
        >>> compile_options((2, 13), torch.float16, mixed=True)
        {'enable_autocast': True, 'autocast_low_precision_type': torch.float16}
    """
    if version < (2, 10):  # weak typing: the builder picks kernels among enabled precisions
        return {"enabled_precisions": {torch.float32, dtype} if mixed else {dtype}}
    if mixed and dtype != torch.float32:  # strong typing: autocast inserts the casts
        return {"enable_autocast": True, "autocast_low_precision_type": dtype}
    return {}


class TensorRTBackend:
    """Torch-TensorRT dynamo compile of the shared export, saved as ``.ep``."""

    name = "tensorrt"
    suffix = ".ep"

    def __init__(self, *, cuda_graphs: bool = False, mixed: bool = False) -> None:
        self.cuda_graphs = cuda_graphs
        self.mixed = mixed

    def version(self) -> str:
        trt = _trt()
        try:
            import tensorrt

            engine_lib = tensorrt.__version__
        except ImportError:
            engine_lib = "unknown"
        return f"torch_tensorrt {trt.__version__}, tensorrt {engine_lib}"

    def check(self, device: torch.device, dtype: torch.dtype) -> None:
        _trt()
        if device.type != "cuda" or not torch.cuda.is_available():
            raise NightvidError("the tensorrt backend needs a CUDA device; use --backend inductor or onnx on CPU")

    def build(
        self, enhancer: nn.Module, path: Path, *, shape_range: ShapeRange, device: torch.device, dtype: torch.dtype
    ) -> None:
        trt = _trt()
        _, program, example = prepare(enhancer, shape_range, device=device, dtype=dtype, mixed=self.mixed)
        graph_dtype = example.dtype
        inputs = [
            trt.Input(
                min_shape=(shape_range.min[0], 3, *shape_range.min[1:]),
                opt_shape=(shape_range.opt[0], 3, *shape_range.opt[1:]),
                max_shape=(shape_range.max[0], 3, *shape_range.max[1:]),
                dtype=graph_dtype,
            )
        ]
        options = compile_options(trt_version(trt.__version__), dtype, self.mixed)
        try:
            compiled = trt.compile(program, ir="dynamo", inputs=inputs, device=device, min_block_size=1, **options)
            # Positional dynamic shapes: the same Dims, whatever the compiled module names its input.
            trt.save(
                compiled,
                str(path),
                output_format="exported_program",
                arg_inputs=[example],
                dynamic_shapes=(shape_range.dynamic_shapes()["x"],),
            )
        except Exception as err:  # TensorRT build errors come as many types
            raise NightvidError(f"Torch-TensorRT compilation failed: {err}") from err

    def load(self, path: Path, *, device: torch.device, dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
        trt = _trt()
        with torch.cuda.device(device):
            module = trt.load(str(path)).module()
        if not self.cuda_graphs:
            return module
        # Entered for the engine's lifetime: the context manager switches the runtime
        # to CUDA-graph mode and returns the module to call.
        context = trt.runtime.enable_cudagraphs(module)
        graphed = context.__enter__()

        def run(batch: Tensor) -> Tensor:
            run.context = context  # type: ignore[attr-defined]  # keep the mode alive with the engine
            return graphed(batch)

        return run
