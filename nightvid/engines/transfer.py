"""Moving integer frames to the engine's device and back, overlapped on CUDA.

``submit`` starts a batch and returns a ``PendingBatch``; ``result()`` waits for it. On
the CPU the batch runs in ``submit``, or on one of the engine's worker threads when it
has several (see ``Engine.workers``). On CUDA a batch is
copied once, by ``np.stack``, straight into a page-locked (pinned) host buffer; the
uint8 (or uint16) batch is uploaded as is on an upload stream, converted, run and
converted back to integers on the compute stream, and downloaded into a second pinned
buffer on a download stream, all without blocking the host. A caller that submits batch
``i + 1`` before asking for batch ``i``'s result (``enhance_video`` does) keeps the GPU
busy while the host decodes, stacks and encodes, and lets the next upload overlap the
current compute and download.

Two staging slots are used in turn, so the buffers of the batch in flight are never
overwritten; a slot is reused only after its previous download has finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["CudaStaging", "PendingBatch", "to_frames", "to_input"]

FrameFn = Callable[[Tensor], Tensor]


def to_input(frames: Tensor, dtype: torch.dtype) -> Tensor:
    """Integer ``(B, H, W, 3)`` on any device -> float ``(B, 3, H, W)`` in [0, 1] of ``dtype``."""
    peak = 65535.0 if frames.dtype == torch.uint16 else 255.0
    return frames.permute(0, 3, 1, 2).to(dtype).div_(peak)


def to_frames(batch: Tensor, like: torch.dtype, gain: float = 1.0) -> Tensor:
    """Float ``(B, 3, H, W)`` in [0, 1] -> rounded integer ``(B, H, W, 3)`` of dtype ``like``.

    Scaled in float32: in bfloat16 or float16 the 16-bit peak 65535 rounds to 65536,
    which wraps to 0 in uint16 (white turned black)."""
    peak = 65535.0 if like == torch.uint16 else 255.0
    out = batch.float().mul(peak * gain).clamp_(0.0, peak).round_().to(like)
    return out.permute(0, 2, 3, 1).contiguous()


class PendingBatch:
    """A submitted batch; ``result()`` returns its frames (a new array the caller owns)."""

    def __init__(
        self,
        ready: np.ndarray | None = None,
        *,
        event: torch.cuda.Event | None = None,
        host: Tensor | None = None,
        future: Future[np.ndarray] | None = None,
    ) -> None:
        self._ready, self._event, self._host, self._future = ready, event, host, future

    def result(self) -> np.ndarray:
        if self._future is not None:
            self._ready, self._future = self._future.result(), None
        if self._ready is None:
            assert self._event is not None and self._host is not None
            self._event.synchronize()
            # Copy out of the pinned slot: it is refilled two submits later.
            self._ready = self._host.numpy().copy()
            self._event = self._host = None
        return self._ready


@dataclass
class _Slot:
    host_in: Tensor
    host_out: Tensor
    #: The batch whose frames are (or will be) in ``host_out``.
    pending: PendingBatch | None = None


class CudaStaging:
    """Pinned buffers and side streams for one CUDA engine; see the module docstring."""

    slots = 2

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.upload = torch.cuda.Stream(device)
        self.download = torch.cuda.Stream(device)
        self._slots: list[_Slot] = []
        self._turn = 0

    def _slot(self, shape: tuple[int, ...], dtype: torch.dtype) -> _Slot:
        current = self._slots[0].host_in if self._slots else None
        if current is None or tuple(current.shape) != shape or current.dtype != dtype:
            # New frame size or depth: fresh buffers, once the pending work has drained.
            torch.cuda.synchronize(self.device)
            self._slots = [
                _Slot(
                    torch.empty(shape, dtype=dtype, pin_memory=True), torch.empty(shape, dtype=dtype, pin_memory=True)
                )
                for _ in range(self.slots)
            ]
        slot = self._slots[self._turn]
        self._turn = (self._turn + 1) % self.slots
        if slot.pending is not None:
            slot.pending.result()  # its last batch has been downloaded and copied out
        return slot

    def submit(
        self, frames: Sequence[np.ndarray] | np.ndarray, fn: FrameFn, dtype: torch.dtype, gain: float = 1.0
    ) -> PendingBatch:
        """Stage ``frames`` into pinned memory and queue upload, ``fn`` and download."""
        first = frames[0]
        shape = (len(frames), *first.shape)
        int_dtype = torch.uint16 if first.dtype == np.uint16 else torch.uint8
        slot = self._slot(shape, int_dtype)
        np.stack(list(frames), out=slot.host_in.numpy())  # a list of (H, W, 3) views either way
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self.upload):
            on_device = slot.host_in.to(self.device, non_blocking=True)
        compute.wait_stream(self.upload)
        on_device.record_stream(compute)  # allocated on the upload stream, used on compute
        with torch.inference_mode():
            out = to_frames(fn(to_input(on_device, dtype)), int_dtype, gain)
        self.download.wait_stream(compute)
        with torch.cuda.stream(self.download):
            slot.host_out.copy_(out, non_blocking=True)
            out.record_stream(self.download)
            done = torch.cuda.Event()
            done.record(self.download)
        slot.pending = PendingBatch(event=done, host=slot.host_out)
        return slot.pending
