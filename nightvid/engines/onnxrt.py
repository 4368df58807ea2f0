"""The onnx backend: ``torch.onnx.export(dynamo=True)`` -> ``.onnx`` -> ONNX Runtime.

The ONNX file is converted from the shared ``shapes.export_program`` (so its batch,
height and width are symbolic, as for the other backends) and holds its weights inline.
An ``InferenceSession`` runs it on the CPU provider, or on the CUDA provider when the
device is CUDA and onnxruntime-gpu is installed (inputs and outputs then stay on the
GPU through I/O binding). Session threads: ``intra_op`` = ``torch.get_num_threads()``
(what the eager path uses, by default the physical cores) shared among ``workers``
sessions on the CPU, one per frame run at once (see ``Engine.workers``); ``inter_op`` = 1
(the graph is one chain of convolutions; parallel branches gain nothing).

Optional extra: ``pip install nightvid[onnx]`` (onnx, onnxruntime, onnxscript).
Precision: fp32 on CPU (ONNX Runtime has few fp16/bf16 CPU kernels); fp32 or fp16 on CUDA.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nightvid.engines.shapes import ShapeRange, export_program
from nightvid.errors import NightvidError

__all__ = ["OnnxBackend"]

INSTALL_HINT = "install the onnx extra: pip install 'nightvid[onnx]'"


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while the ONNX packages import, and deliver them after.

    onnx and onnx_ir are nanobind extensions: a KeyboardInterrupt raised while their
    module init runs Python code ends in ``terminate called after throwing an instance
    of 'nanobind::python_error'`` and SIGABRT, not in a clean exit 130 (seen when Ctrl-C
    came while the engine build was starting). Outside the main thread nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    pending: list[int] = []
    before = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in wanted}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        for signum in pending[:1]:
            handler = before[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


def _ort() -> Any:
    try:
        with signals_held():
            import onnxruntime
    except ImportError:
        raise NightvidError(f"the onnx backend needs onnxruntime; {INSTALL_HINT}") from None
    return onnxruntime


class OnnxBackend:
    """ONNX export of the shared ``ExportedProgram``, run by an ORT ``InferenceSession``."""

    name = "onnx"
    suffix = ".onnx"

    def __init__(self, workers: int = 1) -> None:
        #: CPU sessions, each for one caller at a time; 1 on CUDA.
        self.workers = workers

    def version(self) -> str:
        return f"onnxruntime {_ort().__version__}"

    def check(self, device: torch.device, dtype: torch.dtype) -> None:
        ort = _ort()
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise NightvidError(
                    "the onnx backend on CUDA needs onnxruntime-gpu (CUDAExecutionProvider); "
                    "pip install onnxruntime-gpu, or use --device cpu"
                )
            if dtype not in (torch.float32, torch.float16):
                raise NightvidError("the onnx backend on CUDA runs fp32 or fp16")
        elif device.type == "cpu":
            if dtype != torch.float32:
                raise NightvidError("the onnx backend on CPU runs fp32 only; use --precision fp32")
        else:
            raise NightvidError(f"the onnx backend runs on cpu or cuda, not {device.type}")

    def build(
        self, enhancer: nn.Module, path: Path, *, shape_range: ShapeRange, device: torch.device, dtype: torch.dtype
    ) -> None:
        try:
            with signals_held():
                import onnx  # noqa: F401  (imported here, where a Ctrl-C is held; see signals_held)
                import onnxscript  # noqa: F401  (the dynamo exporter needs it)
        except ImportError:
            raise NightvidError(f"ONNX export needs onnxscript; {INSTALL_HINT}") from None
        # Export on CPU: the ONNX graph does not depend on where it was traced.
        module = enhancer.to(device="cpu", dtype=dtype).eval()
        program = export_program(module, shape_range, dtype=dtype)
        try:
            torch.onnx.export(
                program,
                f=str(path),
                dynamo=True,
                external_data=False,
                input_names=["x"],
                output_names=["y"],
                optimize=True,
                verbose=False,
            )
        except Exception as err:  # exporter errors come as many types
            raise NightvidError(f"ONNX export failed: {err}") from err

    def _session(self, path: Path, device: torch.device, threads: int) -> Any:
        ort = _ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No busy-waiting between ops: spinning threads steal the cores that decode and
        # encode need. `nightvid bench` at 640x360 (NoiSER, x264 veryfast, 2 cores):
        # end-to-end 14.4 -> 17.3 fps, inference alone unchanged within noise.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if device.type == "cuda":
            index = device.index or 0
            providers: list[Any] = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)

    def load(self, path: Path, *, device: torch.device, dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
        if device.type != "cuda":
            return self._load_cpu(path, dtype)
        session = self._session(path, device, torch.get_num_threads())
        name = session.get_inputs()[0].name
        out_name = session.get_outputs()[0].name
        element = {torch.float32: "float32", torch.float16: "float16"}[dtype]

        def run_cuda(batch: Tensor) -> Tensor:
            import numpy as np

            x = batch.detach().to(device, dtype).contiguous()
            y = torch.empty_like(x)  # the net maps (B, 3, H, W) to the same shape
            binding = session.io_binding()
            binding.bind_input(name, "cuda", device.index or 0, getattr(np, element), tuple(x.shape), x.data_ptr())
            binding.bind_output(out_name, "cuda", device.index or 0, getattr(np, element), tuple(y.shape), y.data_ptr())
            torch.cuda.current_stream(device).synchronize()
            session.run_with_iobinding(binding)
            return y

        return run_cuda

    def _load_cpu(self, path: Path, dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
        """``workers`` sessions splitting the threads; each call borrows a free one."""
        threads = max(1, torch.get_num_threads() // self.workers)
        sessions = [self._session(path, torch.device("cpu"), threads) for _ in range(self.workers)]
        name, out_name = sessions[0].get_inputs()[0].name, sessions[0].get_outputs()[0].name
        free: queue.SimpleQueue = queue.SimpleQueue()
        for session in sessions:
            free.put(session)

        def run(batch: Tensor) -> Tensor:
            array = batch.detach().to("cpu", dtype).contiguous().numpy()
            session = free.get()
            try:
                return torch.from_numpy(session.run([out_name], {name: array})[0])
            finally:
                free.put(session)

        return run
