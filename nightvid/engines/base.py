"""The one interface every backend produces, and the integer frame path around it.

Which code runs a batch of frames (``Engine.submit``), in order:

1. ``Engine.sized``: the engine for this frame size, where ``for_size`` was set
   (``wrappers.tiled``: a copy that runs frames too large for memory in tiles);
2. ``padded``: frames smaller than ``MIN_SIDE`` edge-padded up to it, cropped back after;
3. one of four routes (``Engine._route``): CUDA staging (``transfer.CudaStaging``), the
   CPU worker pool (``workers`` > 1), the 8-bit shortcut ``frames_fn`` (fused), or ``fn``
   between the integer/float conversions.

``fn`` itself may be wrapped before the engine is made (``wrappers.guarded``: a compiled
engine's shape range); every wrapper is named in ``engines/wrappers.py``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from nightvid.engines.table import BackendName
from nightvid.engines.transfer import CudaStaging, PendingBatch, to_frames, to_input

if TYPE_CHECKING:
    from nightvid.engines.shapes import ShapeRange

__all__ = [
    "ArtifactBackend",
    "BackendName",
    "Engine",
    "EngineControls",
    "FramesFn",
    "MIN_SIDE",
    "PRECISIONS",
    "padded",
    "resolve_device",
    "resolve_dtype",
]

T = TypeVar("T")
Frames = np.ndarray | Sequence[np.ndarray]

#: Frames smaller than this on a side are padded up to it for the net (``padded``).
MIN_SIDE = 16
#: The 8-bit shortcut: ``frames_fn(batch, gain)``, integer frames -> integer frames, or
#: None for a batch it does not take (see ``Engine.frames_fn``).
FramesFn = Callable[[np.ndarray, float], np.ndarray | None]
#: Starts a batch of integer ``(B, H, W, 3)`` frames (``Engine.submit``'s steps).
Submit = Callable[[np.ndarray], PendingBatch]

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


class EngineControls:
    """What a user may change while an engine runs: the output gain (the preview's +/- keys).

    Everything else about an engine is fixed when it is built. One ``EngineControls``
    belongs to each built engine and is shared, as the same object, by every copy made
    of it (``Engine.with_fn``, ``wrappers.tiled``; ``wrappers.guarded`` wraps ``fn``
    before the engine exists), so a change reaches the frames whichever copy runs them. (KinD's exposure
    ratio is not a control: the shipped adjustment net ignores it, see ``nets.kind``.)
    """

    def __init__(self) -> None:
        self._gain = 1.0

    def __repr__(self) -> str:
        return f"EngineControls(gain={self._gain!r})"

    @property
    def gain(self) -> float:
        """Multiplier applied to the output before rounding (1.0: the net's own)."""
        return self._gain

    def set_gain(self, gain: float) -> None:
        """Scale every later output by ``gain`` (> 0)."""
        if not gain > 0:
            raise ValueError(f"gain must be positive, got {gain}")
        self._gain = float(gain)


@dataclass
class _Runtime:
    """Resources an engine makes on first use; each engine (and each copy) has its own."""

    #: Pinned buffers and streams of the CUDA frame path.
    staging: CudaStaging | None = None
    #: The CPU worker threads when ``workers`` > 1.
    pool: ThreadPoolExecutor | None = None
    #: ``Engine.sized``'s answers by frame size, and the engine they are made from.
    sizes: dict[tuple[int, int], Engine] = field(default_factory=dict)
    whole: Engine | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, eq=False)
class Engine:
    """A compiled or eager net as a plain callable, plus the integer frame path.

    ``fn`` maps a float ``(B, 3, H, W)`` sRGB batch in [0, 1] (on ``device``, of ``dtype``)
    to the same shape. ``enhance_frames`` wraps it for decoded frames: uint8 or uint16
    ``(B, H, W, 3)`` in, the same out, with the conversions done on the engine's device.

    Frozen: what an engine is does not change once built; ``with_fn`` and
    ``with_details`` make copies. The one thing that does change at run time is in
    ``controls`` (the output gain), shared by those copies. Engines compare and hash
    by identity (``engines.tiling`` keeps what it measured of one by the engine).
    """

    fn: Callable[[Tensor], Tensor]
    backend: BackendName
    device: torch.device
    dtype: torch.dtype = torch.float32
    #: How it was built, for reports: model, precision, cache hit or build, ... (read-only).
    details: Mapping[str, str] = field(default_factory=dict)
    #: Batches a compiled engine accepts; None = any (eager, torch.compile).
    shape_range: ShapeRange | None = None
    #: The cached artifact it runs, if any (see ``nightvid.engines.cache``).
    artifact: Path | None = None
    #: Batches run at once on the CPU, each on its own thread, so ``fn`` must be safe to
    #: call from that many threads (the onnx backend keeps one single-threaded session per
    #: worker; why two pay off: ``engines.default_workers``). One call alone is slower.
    workers: int = 1
    #: Output gain, changed while it runs (the preview's +/- keys).
    controls: EngineControls = field(default_factory=EngineControls)
    #: CPU only, optional: integer frames straight to integer frames, ``frames_fn(batch,
    #: gain)`` on ``(B, H, W, 3)``, or None for a batch it does not take (then ``fn`` runs
    #: with the conversions around it). Equal to that path within rounding; the fused
    #: kernel reads and writes 8-bit frames itself, which saves two float copies per frame.
    frames_fn: FramesFn | None = None
    #: Picks the engine that runs frames of ``(height, width)``, once per size (``sized``):
    #: given this engine without ``for_size`` and the size, that engine or a copy of it
    #: (``wrappers.tiled``: one in tiles for frames too large for memory). None: this
    #: engine runs every size itself.
    for_size: Callable[[Engine, int, int], Engine] | None = None
    _runtime: _Runtime = field(default_factory=_Runtime, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def with_fn(self, fn: Callable[[Tensor], Tensor], *, frames_fn: FramesFn | None, **details: str) -> Engine:
        """This engine running ``fn`` instead (a wrapper of ``self.fn``), with ``details`` added.

        ``frames_fn``: the copy's 8-bit shortcut, which every caller must name: only it
        knows whether ``fn`` still computes what ``self.frames_fn`` does for the batches
        that shortcut takes. Pass ``self.frames_fn`` when it does, a wrapper of it, or None
        when the float batch must reach ``fn`` (tiles: ``wrappers.tiled``).

        The copy shares ``controls`` (a gain set on either reaches both) and makes its own
        staging buffers, worker threads and copies per frame size (``sized``, from ``fn``)
        on first use.
        """
        return replace(self, fn=fn, frames_fn=frames_fn, details={**self.details, **details})

    def with_details(self, **details: str) -> Engine:
        """This engine with ``details`` added (see ``with_fn``; a ``frames_fn`` is kept)."""
        return replace(self, details={**self.details, **details})

    def __call__(self, batch: Tensor) -> Tensor:
        """``fn`` on a float ``(B, 3, H, W)`` batch, of the engine for its size (``sized``)."""
        engine = self.sized(*batch.shape[-2:])
        with torch.inference_mode():
            return engine.fn(batch)

    def sized(self, height: int, width: int) -> Engine:
        """The engine that runs frames of ``height`` x ``width``: this one, or what ``for_size``
        picked for that size (asked once per size, and kept; one thread at a time)."""
        if self.for_size is None:
            return self
        runtime = self._runtime
        with runtime.lock:
            if runtime.whole is None:
                runtime.whole = replace(self, for_size=None)
            if (height, width) not in runtime.sizes:
                runtime.sizes[height, width] = self.for_size(runtime.whole, height, width)
            return runtime.sizes[height, width]

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
        The steps a batch takes are listed in the module docstring.
        """
        batch = frames if isinstance(frames, np.ndarray) else np.stack(frames)
        engine = self.sized(*batch.shape[1:3])
        if engine is not self:
            return engine.submit(batch)
        return padded(self._route)(batch)

    def _route(self, frames: np.ndarray) -> PendingBatch:
        """The four routes: CUDA staging, the CPU worker pool, or on this thread the 8-bit
        shortcut where it takes the batch, else ``fn`` between the conversions."""
        runtime = self._runtime
        if self.device.type == "cuda":
            if runtime.staging is None:
                runtime.staging = CudaStaging(self.device)
            return runtime.staging.submit(frames, self.fn, self.dtype, self.controls.gain)
        if self.workers == 1:
            return PendingBatch(self._run_on_cpu(frames))
        if runtime.pool is None:
            runtime.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nightvid-infer")
        return PendingBatch(future=runtime.pool.submit(self._run_on_cpu, frames))

    def _run_on_cpu(self, batch: np.ndarray) -> np.ndarray:
        if self.frames_fn is not None:
            direct = self.frames_fn(batch, self.controls.gain)
            if direct is not None:
                return direct
        with torch.inference_mode():
            x = torch.from_numpy(batch)
            return to_frames(self.fn(to_input(x, self.dtype)), x.dtype, self.controls.gain).numpy()

    def enhance_batches(self, batches: Iterable[tuple[Frames, T]]) -> Generator[tuple[np.ndarray, T], None, None]:
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


def padded(run: Submit) -> Submit:
    """``run`` for frames of any size: those smaller than ``MIN_SIDE`` on a side (a 1x1 test
    pattern, a thumbnail stream) are edge-padded up to it and cropped back when taken.

    Why: instance norm needs more than one pixel, and compiled engines start at 16 px.
    Every engine runs it (``Engine.submit``), so it lives here, beside the routes. It is
    not the padding to a net's ``size_multiple``: that is inside the module
    (``nets.Enhancer.forward``), so an exported artifact takes any size by itself.
    """

    def run_padded(batch: np.ndarray) -> PendingBatch:
        height, width = batch.shape[1:3]
        if height >= MIN_SIDE and width >= MIN_SIDE:
            return run(batch)
        grow = ((0, 0), (0, max(0, MIN_SIDE - height)), (0, max(0, MIN_SIDE - width)), (0, 0))
        return _Cropped(run(np.pad(batch, grow, mode="edge")), height, width)

    return run_padded


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
