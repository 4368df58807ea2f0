"""The one interface every backend produces, and the uint8 frame path around it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from nightvid.engines.transfer import CudaStaging, PendingBatch, to_frames, to_input

if TYPE_CHECKING:
    from nightvid.engines.shapes import ShapeRange

__all__ = ["ArtifactBackend", "Engine", "PRECISIONS", "resolve_device", "resolve_dtype"]

T = TypeVar("T")
Frames = np.ndarray | Sequence[np.ndarray]

#: Frames smaller than this on a side are padded up to it for the net (``Engine.submit``).
MIN_SIDE = 16

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"`` means CUDA when present, else CPU; anything else must exist here.

    A device this machine lacks (``cuda`` on a CPU-only build, ``cuda:3`` with two GPUs,
    a typo) is a NightvidError naming what there is, not a torch traceback later.
    """
    from nightvid.errors import NightvidError

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    have = "cpu" + (f", cuda:0..cuda:{count - 1}" if count else " (no CUDA device here)")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise NightvidError(f"unknown device {str(device)!r}; this machine has {have}") from None
    if chosen.type not in ("cpu", "cuda") or (chosen.type == "cuda" and (chosen.index or 0) >= count):
        raise NightvidError(f"device {str(device)!r} is not available; this machine has {have}")
    return chosen


def resolve_dtype(precision: str) -> torch.dtype:
    """Map ``fp32|fp16|bf16`` to a dtype."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        from nightvid.errors import NightvidError

        raise NightvidError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}") from None


@dataclass
class Engine:
    """A compiled or eager net as a plain callable, plus the integer frame path.

    ``fn`` maps a float ``(B, 3, H, W)`` sRGB batch in [0, 1] (on ``device``, of ``dtype``)
    to the same shape. ``enhance_frames`` wraps it for decoded frames: uint8 or uint16
    ``(B, H, W, 3)`` in, the same out, with the conversions done on the engine's device.
    """

    fn: Callable[[Tensor], Tensor]
    backend: str
    device: torch.device
    dtype: torch.dtype = torch.float32
    #: Multiplier applied to the output before rounding (preview's +/- keys).
    gain: float = 1.0
    details: dict[str, str] = field(default_factory=dict)
    #: Batches a compiled engine accepts; None = any (eager, torch.compile).
    shape_range: ShapeRange | None = None
    #: The cached artifact it runs, if any (see ``nightvid.engines.cache``).
    artifact: Path | None = None
    #: Batches run at once on the CPU, each on its own thread, so ``fn`` must be safe to
    #: call from that many threads (the onnx backend keeps one single-threaded session per
    #: worker; why two pay off: ``engines.default_workers``). One call alone is slower.
    workers: int = 1
    #: Peak working memory per input pixel, measured once by ``streamer.tiling`` (bytes).
    memory_per_pixel: float | None = field(default=None, init=False, repr=False, compare=False)
    #: Pinned buffers and streams of the CUDA frame path, made on first use.
    _staging: CudaStaging | None = field(default=None, init=False, repr=False, compare=False)
    #: The CPU worker threads when ``workers`` > 1, made on first use.
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)

    def __call__(self, batch: Tensor) -> Tensor:
        with torch.inference_mode():
            return self.fn(batch)

    @property
    def ahead(self) -> int:
        """Batches worth submitting beyond the one being waited for: the CUDA path has two
        staging slots; on the CPU every worker beyond the first needs a batch of its own."""
        return 1 if self.device.type == "cuda" else self.workers - 1

    def enhance_frames(self, frames: Frames) -> np.ndarray:
        """RGB ``(B, H, W, 3)`` uint8 (8-bit video) or uint16 (deeper video, full 16-bit
        scale), as one array or a list of ``(H, W, 3)`` frames -> enhanced frames as one
        array of the same dtype. The integer batch is converted on the engine's device."""
        return self.submit(frames).result()

    def submit(self, frames: Frames) -> PendingBatch:
        """Start enhancing a batch; ``.result()`` waits for it (see ``engines.transfer``).

        On CPU the work is done here, or handed to a worker thread when there are several
        ``workers``. On CUDA it is queued on side streams through pinned buffers. Either way,
        submitting the next batches before taking this result (``enhance_batches``) overlaps them.

        Frames smaller than ``MIN_SIDE`` on a side (a 1x1 test pattern, a thumbnail stream)
        are edge-padded up to it and cropped back: instance norm needs more than one pixel,
        and compiled engines start at 16 px.
        """
        batch = frames if isinstance(frames, np.ndarray) else np.stack(frames)
        height, width = batch.shape[1:3]
        if height < MIN_SIDE or width < MIN_SIDE:
            grown = np.pad(
                batch, ((0, 0), (0, max(0, MIN_SIDE - height)), (0, max(0, MIN_SIDE - width)), (0, 0)), mode="edge"
            )
            return _Cropped(self._submit(grown), height, width)
        return self._submit(batch)

    def _submit(self, frames: np.ndarray) -> PendingBatch:
        if self.device.type == "cuda":
            if self._staging is None:
                self._staging = CudaStaging(self.device)
            return self._staging.submit(frames, self.fn, self.dtype, self.gain)
        batch = frames
        if self.workers == 1:
            return PendingBatch(self._run_on_cpu(batch))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nightvid-infer")
        return PendingBatch(future=self._pool.submit(self._run_on_cpu, batch))

    def _run_on_cpu(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch)
            return to_frames(self.fn(to_input(x, self.dtype)), x.dtype, self.gain).numpy()

    def enhance_batches(self, batches: Iterable[tuple[Frames, T]]) -> Iterator[tuple[np.ndarray, T]]:
        """Enhance ``(frames, tag)`` batches in order, keeping ``ahead`` more submitted.

        Yields ``(enhanced, tag)``; the tag rides along (``enhance_video`` passes pts).
        """
        pending: deque[tuple[PendingBatch, T]] = deque()
        for frames, tag in batches:
            pending.append((self.submit(frames), tag))
            if len(pending) > self.ahead:
                done, done_tag = pending.popleft()
                yield done.result(), done_tag
        while pending:
            done, done_tag = pending.popleft()
            yield done.result(), done_tag


class _Cropped(PendingBatch):
    """A batch run at a padded size, cropped back to ``height`` x ``width`` when taken."""

    def __init__(self, inner: PendingBatch, height: int, width: int) -> None:
        super().__init__()
        self._inner, self._height, self._width = inner, height, width

    def result(self) -> np.ndarray:
        return np.ascontiguousarray(self._inner.result()[:, : self._height, : self._width])


class ArtifactBackend(Protocol):
    """A backend that compiles an ``Enhancer`` into a file once and loads it fast.

    One implementation per file: ``inductor.py``, ``onnxrt.py``, ``tensorrt.py``. Each
    imports its optional dependency inside its methods and raises ``NightvidError`` with
    the install hint when it is missing.
    """

    name: str
    #: File extension of the artifact, with the dot.
    suffix: str

    def version(self) -> str:
        """Backend name and version(s) recorded in the cache metadata."""
        ...

    def check(self, device: torch.device, dtype: torch.dtype) -> None:
        """Raise ``NightvidError`` if this backend cannot run on ``device`` in ``dtype``."""
        ...

    def build(
        self, enhancer: nn.Module, path: Path, *, shape_range: ShapeRange, device: torch.device, dtype: torch.dtype
    ) -> None:
        """Export ``enhancer`` over ``shape_range`` and write the artifact to ``path``."""
        ...

    def load(self, path: Path, *, device: torch.device, dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
        """The artifact as a callable: float ``(B, 3, H, W)`` on ``device`` -> same."""
        ...
