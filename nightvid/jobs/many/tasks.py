"""The units of work ``enhance-many`` sends to its workers, and how a worker runs one.

A worker (a local process or a Ray actor) calls ``run_task`` for each task it gets. It
builds its engine once and reuses it for every later task with the same choice (the
engine cache makes even that first build a load). Every outcome comes back as a value,
never as an exception, with its failure classified so the scheduler knows what to do:

- ``transient``: worth retrying: the storage or network failed (EIO, ESTALE, a timeout),
  memory ran out (the worker itself dying is reported by the pool, and retried too);
- ``changed``: the input changed while it was read (a file still being copied): start
  the video again from the beginning;
- ``split``: a piece of a long video could not be enhanced apart (it does not cut
  cleanly, is damaged, or its part file cannot hold the codec): enhance the whole video
  in one pass instead, which then applies ``enhance``'s own rules and errors;
- ``fatal``: the engine cannot be built; no video can succeed;
- ``permanent``: anything else; reported with its one-line reason.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightvid.engines.spec import EngineSpec
from nightvid.errors import NightvidError
from nightvid.jobs.enhance import EnhanceJob
from nightvid.jobs.many.manifest import Fingerprint
from nightvid.streamer.segments import Span, SplitError, plan_spans

if TYPE_CHECKING:
    from nightvid.engines.base import Engine

__all__ = [
    "Failure",
    "JoinTask",
    "Outcome",
    "PartTask",
    "PlanTask",
    "Report",
    "Task",
    "VideoTask",
    "classify",
    "run_task",
]

log = logging.getLogger(__name__)

#: ``report(frames done, frames expected or None)`` while a task runs.
Report = Callable[[int, "int | None"], None]

#: errno values that say the storage or the network failed, not the file.
TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "EIO",
        "EAGAIN",
        "EBUSY",
        "EINTR",
        "ETIMEDOUT",
        "ESTALE",
        "ECONNRESET",
        "ECONNABORTED",
        "ECONNREFUSED",
        "ENETDOWN",
        "ENETUNREACH",
        "EHOSTUNREACH",
        "EHOSTDOWN",
        "ENOLINK",
        "EREMOTEIO",
        "ENOMEM",
    )
    if hasattr(errno, name)
)


@dataclass(frozen=True)
class VideoTask:
    """Enhance a whole video, exactly as ``nightvid enhance`` does."""

    job: EnhanceJob


@dataclass(frozen=True)
class PlanTask:
    """Fingerprint a long video and cut it into spans of at least ``seconds``."""

    src: Path
    seconds: float


@dataclass(frozen=True)
class PartTask:
    """Enhance one span of ``job.src`` into the part file ``part``, encoded as ``job.dst`` will be."""

    job: EnhanceJob
    span: Span
    part: Path
    fingerprint: Fingerprint
    #: The spans before and after (None at the ends): the temporal filter's context.
    neighbours: tuple[Span | None, Span | None] = (None, None)


@dataclass(frozen=True)
class JoinTask:
    """Join the parts of ``job.src`` into ``job.dst`` with the source's audio."""

    job: EnhanceJob
    parts: tuple[Path, ...]
    fingerprint: Fingerprint


Task = VideoTask | PlanTask | PartTask | JoinTask


@dataclass(frozen=True)
class Failure:
    """Why a task failed, in one line, and what kind of failure it is (see the module docstring)."""

    reason: str
    kind: str = "permanent"


@dataclass(frozen=True)
class Outcome:
    """What a task produced (or why not), and the input as it was read."""

    #: VideoTask: the ``EnhanceSummary`` as a dict; PlanTask: the spans; PartTask/JoinTask: frames.
    value: Any = None
    fingerprint: Fingerprint | None = None
    failure: Failure | None = None
    seconds: float = 0.0


class InputChanged(NightvidError):
    """The input's size or mtime changed while it was being read."""


class EngineBuildError(NightvidError):
    """The engine could not be built: no video of this run can succeed."""


#: The engine this process built last, by the spec it was built for.
_built: dict[EngineSpec, Engine] = {}


def built_engine(spec: EngineSpec, frame_size: tuple[int, int] | None = None) -> Engine:
    """The engine for ``spec``, built once per process (the previous one is dropped), so
    the videos and parts a worker runs one after another share it; ``frame_size`` is what
    ``auto``'s trial measures at when it is built, and what picks a compiled range from
    the cache (``nightvid compile``): a kept engine whose range does not hold it is built again."""
    kept = _built.get(spec)
    if kept is None or not _holds(kept, spec, frame_size):
        _built.clear()
        try:
            _built[spec] = spec.build(frame_size)
        except NightvidError as err:
            raise EngineBuildError(str(err)) from None
    return _built[spec]


def _holds(engine: Engine, spec: EngineSpec, frame_size: tuple[int, int] | None) -> bool:
    """Whether ``engine`` runs ``frame_size`` frames in batches of 1 to ``spec.batch`` (in
    tiles when ``spec.tile`` is a side); True for an engine of any shape or no frame size."""
    if engine.shape_range is None or frame_size is None:
        return True
    side = spec.tile if isinstance(spec.tile, int) else max(frame_size)
    height, width = (min(n, side) for n in frame_size)
    return all(engine.shape_range.contains((b, height, width)) for b in (1, spec.batch))


def run_task(task: Task, report: Report | None = None, *, device: str | None = None) -> Outcome:
    """Run one task in this process; failures come back classified in ``Outcome.failure``.

    ``device`` (a local pool's GPU for this worker) replaces an engine device left to
    the default or given as plain ``cuda``. Ctrl-C and SIGTERM (as KeyboardInterrupt)
    are not caught: the worker unwinds, removing its temporary files.
    """
    started = time.perf_counter()
    try:
        value, fingerprint = _run(task, report, device)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - every failure becomes a reported outcome
        failure = classify(err, in_part=isinstance(task, PartTask))
        if not isinstance(err, NightvidError | OSError | MemoryError):
            log.exception("unexpected error in %s", type(task).__name__)
        return Outcome(failure=failure, seconds=time.perf_counter() - started)
    return Outcome(value=value, fingerprint=fingerprint, seconds=time.perf_counter() - started)


def _run(task: Task, report: Report | None, device: str | None) -> tuple[Any, Fingerprint | None]:
    if isinstance(task, PlanTask):
        fingerprint = _fingerprint(task.src)
        return plan_spans(task.src, task.seconds), fingerprint
    job = _on_device(task.job, device)
    if isinstance(task, VideoTask):
        fingerprint = _fingerprint(job.src)
        summary = job.run(on_progress=report, build=built_engine)
        _unchanged(fingerprint, job.src)
        return summary.as_dict(), fingerprint
    from nightvid.jobs.many.parts import enhance_span
    from nightvid.streamer.encode import check_encoding
    from nightvid.streamer.join import join_parts

    _unchanged(task.fingerprint, job.src)
    encode = check_encoding(job.encode, job.dst)
    if isinstance(task, PartTask):
        engine = built_engine(job.engine.checked(), _frame_size(job.src))
        frames = enhance_span(
            job.src,
            task.span,
            task.part,
            engine,
            encode=encode,
            batch=job.engine.batch,
            temporal=job.temporal // 2,
            neighbours=task.neighbours,
            stabilize=job.stabilize,
            on_progress=report,
        )
    else:
        frames = join_parts(job.src, list(task.parts), job.dst, encode=encode, overwrite=job.overwrite)
    _unchanged(task.fingerprint, job.src)
    return frames, task.fingerprint


def _frame_size(src: Path) -> tuple[int, int]:
    """``(height, width)`` of ``src``'s video, as ``EnhanceJob.run`` reads it for its engine."""
    from nightvid.streamer.decode import open_input

    container, info = open_input(src)
    container.close()
    return info.height, info.width


def _on_device(job: EnhanceJob, device: str | None) -> EnhanceJob:
    if device is not None and job.engine.device in (None, "auto", "cuda"):
        return replace(job, engine=replace(job.engine, device=device))
    return job


def _fingerprint(src: Path) -> Fingerprint:
    try:
        return Fingerprint.of(src)
    except FileNotFoundError:
        raise NightvidError(f"input not found: {src}") from None
    except IsADirectoryError:
        raise NightvidError(f"input is a directory, not a video: {src}") from None


def _unchanged(fingerprint: Fingerprint, src: Path) -> None:
    if not fingerprint.same_stat(src):
        raise InputChanged(f"{src} changed while it was being read (still being written or copied?)")


def classify(err: BaseException, *, in_part: bool = False) -> Failure:
    """The one-line reason for ``err`` and whether retrying, splitting differently or nothing can help."""
    from nightvid.streamer.decode import CorruptInputError

    if isinstance(err, EngineBuildError):
        return Failure(str(err), "fatal")
    if isinstance(err, InputChanged):
        return Failure(str(err), "changed")
    failure = _classify(err)
    if in_part and (failure.kind == "permanent" or isinstance(err, SplitError | CorruptInputError)):
        return Failure(failure.reason, "split")
    return failure


def _classify(err: BaseException) -> Failure:
    cause = _os_cause(err)
    if isinstance(err, NightvidError):
        transient = cause is not None and cause.errno in TRANSIENT_ERRNOS
        return Failure(str(err), "transient" if transient else "permanent")
    if isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        reason = f"{err.strerror or err}{where}"
        return Failure(reason, "transient" if err.errno in TRANSIENT_ERRNOS else "permanent")
    if isinstance(err, MemoryError) or "out of memory" in str(err).lower():
        return Failure(f"out of memory ({type(err).__name__})", "transient")
    first_line = (str(err).strip().splitlines() or [""])[0]
    return Failure(f"internal error: {type(err).__name__}: {first_line}", "permanent")


def _os_cause(err: BaseException) -> OSError | None:
    """The OSError behind ``err`` (itself, or the exception it was raised from or during), if any."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None
