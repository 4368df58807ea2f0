"""Many videos through workers that each keep their engine: ``nightvid enhance-many``.

``ManyJob.run`` finds the videos (``inputs``), skips those the output folder's
manifest records as finished from the same input with the same options, and runs the
rest in a pool (``LocalPool``: processes on this machine; ``RayPool``: actors on a
Ray cluster). Each video is one ``EnhanceJob`` run exactly as ``nightvid enhance``
runs it; with ``chunk_seconds``, a long video is first cut at keyframes
(``streamer.segments``), its pieces enhanced in parallel into part files (``parts``)
and then joined with the source's audio (``streamer.join``), frames and pts unchanged.

Exactly once: an output appears only complete (atomic rename, as ``enhance``), and the
manifest records it after it appears. A run that is killed loses at most what was in
flight: finished videos and finished parts of long videos are kept and skipped by
the rerun, which also removes whatever the killed run left half-written.

Failures stay local: a video that fails is retried up to ``max_retries`` times when
the failure may be transient (``tasks.classify``; a lost worker counts as one), then
reported with its reason; the others go on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from nightvid.engines.spec import check_counts
from nightvid.errors import NightvidError
from nightvid.jobs.enhance import EnhanceJob
from nightvid.jobs.many.inputs import Item, find_videos
from nightvid.jobs.many.manifest import MANIFEST_NAME, Fingerprint, Manifest, file_sha256, stat_of
from nightvid.jobs.many.pools import Event, Finished, Gone, Lost, Pool, Progress, Ready
from nightvid.jobs.many.tasks import Failure, JoinTask, Outcome, PartTask, PlanTask, Task, VideoTask
from nightvid.streamer.segments import Span
from nightvid.streamer.target import partial_files

__all__ = ["PARTS_DIR", "ManyJob", "ManyProgress", "ManySummary", "VideoResult", "output_options"]

log = logging.getLogger(__name__)

#: Part files of long videos live here, under the output folder, until they are joined.
PARTS_DIR = ".nightvid-parts"
_POLL_S = 0.2
_RETRY_DELAY_S = 1.0


@dataclass(frozen=True)
class VideoResult:
    """One row of the summary."""

    #: The output's path under the output folder (the manifest's key).
    name: str
    input: str
    output: str
    #: done | skipped | failed | stopped (unfinished when a ``watch`` was ended)
    status: str
    reason: str | None = None
    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    attempts: int = 0
    #: Pieces it was enhanced in (1: one pass).
    parts: int = 1
    #: Why a long video ran in one pass after all, or that the input was corrupt part-way.
    note: str | None = None
    #: What enhance repaired or left out (``EnhanceSummary.warnings``; one-pass videos only).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManySummary:
    """What ``ManyJob.run`` did, per video and in total; ``nightvid enhance-many --json`` prints it."""

    videos: tuple[VideoResult, ...]
    seconds: float
    pool: str

    def count(self, status: str) -> int:
        return sum(v.status == status for v in self.videos)

    @property
    def frames(self) -> int:
        return sum(v.frames for v in self.videos if v.status == "done")

    @property
    def fps(self) -> float:
        return round(self.frames / self.seconds, 2) if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "stopped": self.count("stopped"),
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": self.fps,
            "pool": self.pool,
            "videos": [asdict(v) for v in self.videos],
        }


@dataclass(frozen=True)
class ManyProgress:
    """Where a run stands, across all workers (``on_progress`` gets one a few times a second)."""

    videos_finished: int
    videos_failed: int
    videos_total: int
    frames: int
    #: Frames expected in all, from the videos' headers (None until some are known).
    frames_total: int | None
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def output_options(job: EnhanceJob) -> dict[str, Any]:
    """What decides an output's content: a rerun with other values redoes the video.

    How it is computed (backend, device, workers, batch, parallel parts) is left out:
    the same picture made faster is the same output.
    """
    engine = job.engine.checked()
    options: dict[str, Any] = engine.picture_settings()  # EngineSpec's fields marked as changing the picture
    options["weights"] = _weights_identity(engine.model, engine.weights)
    options["tile"] = str(job.engine.tile)  # as given: "auto", a size or "0", as earlier manifests hold it
    options.update(
        codec=job.encode.codec,
        crf=job.encode.crf,
        preset=job.encode.preset,
        pix_fmt=job.encode.pix_fmt,
        stabilize=job.stabilize,
        keep_partial=job.keep_partial,
    )
    if job.temporal > 1:  # off (1) is what earlier runs without the key did, so their manifests still match
        options["temporal"] = job.temporal
    if job.strict:  # only when given, so manifests of earlier runs still match
        options["strict"] = True
    for name in ("start", "duration", "scale"):  # only when given, as strict
        if getattr(job, name) is not None:
            options[name] = str(getattr(job, name))
    if job.encode.bitrate is not None:  # only when given, as strict
        options["bitrate"] = job.encode.bitrate
    if job.encode.extra:  # only when given, so manifests of earlier runs still match
        options["encoder_opts"] = list(job.encode.extra)
    if job.encode.audio_codec != "copy":  # only when given, so manifests of earlier runs still match
        options["audio_codec"] = job.encode.audio_codec
    return options


def _weights_identity(model: str, weights: Path | str | None) -> str:
    """sha256 (16 hex digits) of the weights file(s): retrained weights at the same path redo the work."""
    from nightvid import nets

    if weights is None:
        return "random"
    if str(weights) != "default":
        path = Path(weights)
        return file_sha256(path)[:16] if path.is_file() else str(weights)
    digests = []
    for part in nets.chain_parts(model):
        shipped = nets.shipped_weights(part)
        digests.append(file_sha256(shipped)[:16] if shipped is not None else "none")
    return "default:" + ",".join(digests)


@dataclass(frozen=True)
class ManyJob:
    """Enhance every video named by ``inputs`` into ``out_dir`` (see the module docstring)."""

    inputs: tuple[str, ...]
    out_dir: Path
    #: The per-video options (engine, encoding, batch, overwrite, ...); its src and dst are ignored.
    video: EnhanceJob = field(default_factory=lambda: EnhanceJob(Path("in"), Path("out")))
    #: Workers (None: one per GPU, else one per two CPU cores, locally; one per GPU or CPU on Ray).
    jobs: int | None = None
    #: A Ray cluster (``auto``, ``ray://HOST:PORT``, ``local``); None: processes on this machine.
    ray_address: str | None = None
    #: GPUs each Ray actor reserves (None: 1 where the cluster has GPUs, else 0).
    gpus_per_job: float | None = None
    max_retries: int = 2
    #: Cut videos longer than this at keyframes and enhance the pieces in parallel.
    chunk_seconds: float | None = None
    suffix: str = ""
    #: Output extension (None: the input's).
    ext: str | None = None
    #: Keep running, enhancing videos that appear or change under the inputs.
    watch: bool = False
    #: Seconds between rescans with ``watch``; a new file is taken once it is unchanged for one.
    watch_every: float = 10.0

    def checked(self) -> ManyJob:
        """Every option checked before anything runs; NightvidError with a one-line reason."""
        check_counts(jobs=self.jobs, batch=self.video.engine.batch)
        video = replace(
            self.video, engine=self.video.engine.checked()
        )  # the model by name, ...: before the folder is made
        if self.max_retries < 0:
            raise NightvidError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.chunk_seconds is not None and not self.chunk_seconds > 0:
            raise NightvidError(f"--chunk-seconds must be above 0, got {self.chunk_seconds}")
        if self.gpus_per_job is not None and self.gpus_per_job < 0:
            raise NightvidError(f"--gpus-per-job must be 0 or more, got {self.gpus_per_job}")
        if self.watch_every <= 0:
            raise NightvidError(f"the watch interval must be above 0 s, got {self.watch_every}")
        if self.ray_address is not None:
            from nightvid.jobs.many.ray_pool import import_ray

            import_ray()
        out_dir = Path(self.out_dir).absolute()
        if out_dir.exists() and not out_dir.is_dir():
            raise NightvidError(f"--out-dir is not a folder: {out_dir}")
        return replace(self, out_dir=out_dir, video=video)

    def find(self) -> list[Item]:
        """The videos and their outputs (see ``inputs.find_videos``)."""
        return find_videos(self.inputs, self.out_dir, suffix=self.suffix, ext=self.ext)

    def run(
        self, on_progress: Callable[[ManyProgress], None] | None = None, *, pool: Pool | None = None
    ) -> ManySummary:
        """Enhance what is not finished yet; the summary of every video.

        ``pool``: started workers to use, left running for the caller to reuse and close
        (default: a pool made from ``jobs``, ``ray_address`` and ``gpus_per_job`` for this
        run). Raises NightvidError before anything runs for bad options or inputs;
        afterwards failures are per video, in the summary. Ctrl-C (and SIGTERM, as
        KeyboardInterrupt) stops the workers, either pool, and propagates: finished work is kept.
        With ``watch``, Ctrl-C (a plain KeyboardInterrupt) is the way to stop: the summary is
        returned, with the videos in flight ``stopped``.
        """
        job = self.checked()
        items = job.find()
        if not items and not job.watch:
            raise NightvidError(f"no video files found in {', '.join(map(str, job.inputs))}")
        job._check_video_options(items)
        try:
            job.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise NightvidError(f"cannot create --out-dir {job.out_dir}: {err.strerror or err}") from None
        with Manifest(job.out_dir) as manifest:
            return _Scheduler(job, manifest, on_progress, pool).run(items)

    def _check_video_options(self, items: list[Item]) -> None:
        """``EnhanceJob.checked`` once per output extension, on a real input: bad options fail here, once."""
        seen: set[str] = set()
        for item in items:
            suffix = item.dst.suffix.lower()
            if suffix in seen:
                continue
            seen.add(suffix)
            probe = item.src.parent / f".nightvid-probe{item.dst.suffix}"  # never written
            replace(self.video, src=item.src, dst=probe, overwrite=True).checked()

    def make_pool(self, videos: int) -> Pool:
        """The pool for this run: Ray actors with ``ray_address``, else local processes."""
        if self.ray_address is not None:
            from nightvid.jobs.many.ray_pool import RayPool

            gpus = self.gpus_per_job
            if gpus is None and self.video.engine.device == "cpu":
                gpus = 0.0  # a CPU engine reserves no GPU
            return RayPool(self.ray_address, jobs=self.jobs, gpus_per_job=gpus)
        from nightvid.jobs.many.local_pool import LocalPool, local_devices

        jobs = self.jobs or default_local_jobs(self.video.engine.device, self.gpus_per_job)
        if self.chunk_seconds is None and not self.watch:
            jobs = max(1, min(jobs, videos))  # no idle processes
        return LocalPool(jobs, devices=local_devices(jobs, self.video.engine.device))


def default_local_jobs(device: str | None, gpus_per_job: float | None = None) -> int:
    """One worker per GPU (per ``gpus_per_job``), or one per two CPU cores: one CPU worker keeps
    two cores busy (ONNX Runtime runs two frames at once, decoding and x264 take the rest), and
    a second one on them was no faster (``benchmarks/enhance_many.py``)."""
    if device != "cpu":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if gpus:
            return max(1, int(gpus / (gpus_per_job or 1.0)))
    return max(1, (os.cpu_count() or 1) // 2)


# --------------------------------------------------------------------------- the scheduler


@dataclass
class _Video:
    """A video's way through the run."""

    item: Item
    job: EnhanceJob
    #: Bumped when the video starts over (one pass after a failed split, a changed input):
    #: outcomes of older tasks are then ignored.
    generation: int = 0
    #: Retries made, per task (see ``_task_key``).
    attempts: dict[str, int] = field(default_factory=dict)
    fingerprint: Fingerprint | None = None
    spans: list[Span] = field(default_factory=list)
    parts_dir: Path | None = None
    parts_left: set[int] = field(default_factory=set)
    frames: int = 0
    expected: int | None = None
    started: float | None = None
    whole: bool = False
    note: str | None = None
    result: VideoResult | None = None
    stat: tuple[int, int] | None = None


@dataclass
class _Queued:
    key: str
    generation: int
    task: Task
    #: Retries wait a little (a storage hiccup may pass).
    not_before: float = 0.0


class _Scheduler:
    def __init__(
        self, job: ManyJob, manifest: Manifest, on_progress: Callable[[ManyProgress], None] | None, pool: Pool | None
    ) -> None:
        self.job, self.manifest, self.on_progress = job, manifest, on_progress
        self.options = output_options(job.video)
        self.pool = pool
        self.videos: dict[str, _Video] = {}
        self.queue: deque[_Queued] = deque()
        self.running: dict[int, tuple[_Queued, int]] = {}  # task id -> (task, slot)
        self.frames_running: dict[int, int] = {}
        self.idle: set[int] = set()
        self.slots_gone: set[int] = set()
        self.next_id = 0
        self.started = time.perf_counter()
        self.last_report = 0.0
        self.fatal: str | None = None
        self.seen: dict[str, tuple[int, int]] = {}
        self.parts_root = job.out_dir / PARTS_DIR
        self.joinable: dict[str, str | None] = {}

    # ---- the loop

    def run(self, items: list[Item]) -> ManySummary:
        self._sweep(items)
        self._discover(items, first=True)
        owned = self.pool is None
        stopped = False
        try:
            if self.queue or self.job.watch:
                if self.pool is None:
                    self.pool = self.job.make_pool(len(self.queue))
                    self.pool.start()
                self.idle = set(self.pool.ready_slots())
                self._loop()
        except BaseException as err:
            if self.pool is not None:
                self.pool.close()  # stop what is in flight before its files are swept
            self._sweep([v.item for v in self.videos.values()])
            # Ctrl-C is how a watch ends: a stop, not a failure (SIGTERM, a subclass, still fails)
            if not (self.job.watch and type(err) is KeyboardInterrupt):
                raise
            stopped = True
            for video in self.videos.values():
                if video.result is None:
                    self._end(video, "stopped", reason="stopped (Ctrl-C) before it was finished; a rerun enhances it")
        if owned and self.pool is not None and not stopped:
            self.pool.close()
        self._sweep([v.item for v in self.videos.values()])
        if self.parts_root.exists() and not stopped:  # (finished pieces of stopped videos are kept)
            shutil.rmtree(self.parts_root, ignore_errors=True)
        results = tuple(v.result for v in self.videos.values() if v.result is not None)
        return ManySummary(results, time.perf_counter() - self.started, self.pool.description if self.pool else "none")

    def _loop(self) -> None:
        assert self.pool is not None
        next_scan = time.monotonic() + self.job.watch_every
        while True:
            self._dispatch()
            if not self.queue and not self.running:
                if not self.job.watch or self.fatal is not None:
                    return
                if time.monotonic() >= next_scan:
                    items = find_videos(
                        self.job.inputs, self.job.out_dir, suffix=self.job.suffix, ext=self.job.ext, quiet_missing=True
                    )
                    self._discover(items, first=False)
                    next_scan = time.monotonic() + self.job.watch_every
                    continue
            if len(self.slots_gone) >= self.pool.size and (self.queue or self.running):
                self._fail_all("no worker is left: each died at start or under every task it was given")
                return
            for event in self.pool.wait(_POLL_S):
                self._handle(event)
            self._report()

    def _dispatch(self) -> None:
        assert self.pool is not None
        for slot in sorted(self.idle):
            queued = self._next_due()
            if queued is None:
                return
            video = self.videos[queued.key]
            if video.started is None:
                video.started = time.perf_counter()
                self.manifest.started(video.item.key, video.item.src)
            task_id = self.next_id
            self.next_id += 1
            self.idle.discard(slot)
            self.running[task_id] = (queued, slot)
            self.pool.submit(slot, task_id, queued.task)

    def _next_due(self) -> _Queued | None:
        """The first queued task that is due, dropping those of videos that started over or ended."""
        now = time.monotonic()
        for queued in list(self.queue):
            video = self.videos[queued.key]
            if queued.generation != video.generation or video.result is not None:
                self.queue.remove(queued)
            elif queued.not_before <= now:
                self.queue.remove(queued)
                return queued
        return None

    # ---- finding work

    def _discover(self, items: list[Item], *, first: bool) -> None:
        """Queue what is not finished; on a watch rescan, only files unchanged since the last scan."""
        for item in items:
            try:
                stat = stat_of(item.src)
            except OSError:
                continue
            video = self.videos.get(item.key)
            stable = self.seen.get(item.key) == stat
            self.seen[item.key] = stat
            if not first and (not stable or (video is not None and (video.result is None or video.stat == stat))):
                continue  # still being written, in hand, or handled as it is
            job = replace(self.job.video, src=item.src, dst=item.dst)
            if self.manifest.is_finished(item.key, item.src, self.options):
                if video is None:
                    record = self.manifest.get(item.key) or {}
                    frames = int(record.get("frames", 0))
                    done = VideoResult(
                        item.key, str(item.src), str(item.dst), "skipped", frames=frames, note="done before"
                    )
                    self.videos[item.key] = _Video(item, job, stat=stat, result=done)
                else:
                    video.stat = stat
                continue
            fresh = self.videos[item.key] = _Video(item, job, stat=stat)
            known = self.manifest.get(item.key) is not None
            if item.dst.exists() and not known and not self.job.video.overwrite:
                reason = f"output exists: {item.dst} (pass --overwrite to replace it)"
                fresh.result = VideoResult(item.key, str(item.src), str(item.dst), "failed", reason=reason)
                continue
            fresh.job = replace(job, overwrite=True)  # ours (or --overwrite): replace it
            try:
                item.dst.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                reason = f"cannot create {item.dst.parent}: {err.strerror or err}"
                fresh.result = VideoResult(item.key, str(item.src), str(item.dst), "failed", reason=reason)
                continue
            self._start(fresh)

    def _start(self, video: _Video, *, front: bool = False) -> None:
        """Queue a video's first task: a plan when long videos are cut, else the whole video."""
        video.parts_left.clear()
        video.spans = []
        if self.job.chunk_seconds is not None and not video.whole:
            why = self._unjoinable(video.item.dst.suffix)
            if why is not None:
                video.whole, video.note = True, f"one pass: {why}"
        if self.job.chunk_seconds is not None and not video.whole:
            task: Task = PlanTask(video.item.src, self.job.chunk_seconds)
        else:
            task = VideoTask(video.job)
        self._queue(video, task, front=front)

    def _unjoinable(self, suffix: str) -> str | None:
        from nightvid.streamer.join import unjoinable

        if suffix not in self.joinable:
            self.joinable[suffix] = unjoinable(suffix)
        return self.joinable[suffix]

    def _queue(self, video: _Video, task: Task, *, front: bool = False, delay: float = 0.0) -> None:
        queued = _Queued(video.item.key, video.generation, task, time.monotonic() + delay)
        if front:
            self.queue.appendleft(queued)
        else:
            self.queue.append(queued)

    # ---- events

    def _handle(self, event: Event) -> None:
        if isinstance(event, Ready):
            self.slots_gone.discard(event.slot)
            if all(slot != event.slot for _, slot in self.running.values()):
                self.idle.add(event.slot)  # (a pool's Ready may repeat what ready_slots() said)
        elif isinstance(event, Progress):
            entry = self.running.get(event.task_id)
            if entry is None:
                return  # a late message of a task that has ended
            self.frames_running[event.task_id] = event.done
            if isinstance(entry[0].task, VideoTask) and event.total:
                self.videos[entry[0].key].expected = event.total
        elif isinstance(event, Finished):
            self.idle.add(event.slot)
            self._finished(event.task_id, event.outcome)
        elif isinstance(event, Lost):
            self.idle.discard(event.slot)
            if event.task_id is not None:
                log.warning("%s", event.reason)
                self._finished(event.task_id, Outcome(failure=Failure(event.reason, "transient")))
        elif isinstance(event, Gone):
            self.idle.discard(event.slot)
            self.slots_gone.add(event.slot)
            log.warning("worker slot %d given up: %s", event.slot, event.reason)

    def _finished(self, task_id: int, outcome: Outcome) -> None:
        entry = self.running.pop(task_id, None)
        self.frames_running.pop(task_id, None)
        if entry is None:
            return
        queued, _ = entry
        video = self.videos[queued.key]
        if queued.generation != video.generation or video.result is not None:
            return  # an abandoned attempt (the video started over or already ended)
        if outcome.failure is not None:
            self._failed(video, queued.task, outcome.failure)
            return
        task = queued.task
        if isinstance(task, PlanTask):
            self._planned(video, outcome)
        elif isinstance(task, PartTask):
            video.frames += int(outcome.value)
            video.parts_left.discard(task.span.index)
            if not video.parts_left:
                self._join(video)
        elif isinstance(task, JoinTask):
            self._done(video, frames=int(outcome.value), truncated=False)
        else:
            summary = outcome.value
            video.fingerprint = outcome.fingerprint
            video.frames = int(summary["frames"])
            warnings = tuple(summary.get("warnings", ()))
            self._done(video, frames=video.frames, truncated=bool(summary.get("truncated")), warnings=warnings)

    def _planned(self, video: _Video, outcome: Outcome) -> None:
        spans: list[Span] = outcome.value
        video.fingerprint = outcome.fingerprint
        if len(spans) < 2:
            video.whole = True
            self._queue(video, VideoTask(video.job), front=True)
            return
        assert video.fingerprint is not None
        video.spans = spans
        video.parts_dir = self.parts_root / _plan_digest(video, self.options)
        video.parts_dir.mkdir(parents=True, exist_ok=True)
        video.parts_left = set()
        for i, span in reversed(list(enumerate(spans))):  # queued at the front, first part first
            part = _part_path(video.parts_dir, span)
            if part.exists():
                continue  # finished by an earlier, interrupted run
            video.parts_left.add(span.index)
            neighbours = (spans[i - 1] if i > 0 else None, spans[i + 1] if i + 1 < len(spans) else None)
            self._queue(video, PartTask(video.job, span, part, video.fingerprint, neighbours), front=True)
        if not video.parts_left:
            self._join(video)

    def _join(self, video: _Video) -> None:
        assert video.parts_dir is not None and video.fingerprint is not None
        parts = tuple(_part_path(video.parts_dir, span) for span in video.spans)
        self._queue(video, JoinTask(video.job, parts, video.fingerprint), front=True)

    def _failed(self, video: _Video, task: Task, failure: Failure) -> None:
        kind = _task_key(task)
        if failure.kind == "fatal":
            self._fail_all(failure.reason)
            return
        if failure.kind == "split" or (isinstance(task, JoinTask) and failure.kind == "permanent"):
            # The pieces could not be made or joined: enhance the video in one pass (enhance's own rules).
            log.warning("%s: enhancing in one pass (%s)", video.item.src, failure.reason)
            video.note = f"one pass: {failure.reason}"
            video.generation += 1
            video.whole = True
            video.frames = 0
            self._start(video, front=True)
            return
        if failure.kind in ("transient", "changed"):
            retries = video.attempts.get(kind, 0)
            if retries < self.job.max_retries:
                video.attempts[kind] = retries + 1
                log.warning("%s: %s; retry %d of %d", video.item.src, failure.reason, retries + 1, self.job.max_retries)
                if failure.kind == "changed":
                    video.generation += 1
                    video.frames = 0
                    self._start(video)
                else:
                    self._queue(video, task, delay=_RETRY_DELAY_S * (retries + 1))
                return
            reason = f"{failure.reason} (after {retries + 1} attempts)"
        else:
            reason = failure.reason
        self._end(video, "failed", reason=reason)

    def _done(self, video: _Video, *, frames: int, truncated: bool, warnings: tuple[str, ...] = ()) -> None:
        assert video.fingerprint is not None
        if not video.item.dst.exists():
            reason = (
                f"the worker wrote {video.item.dst}, but it is not there for this process "
                "(on a cluster, the output folder must be on storage every node mounts at the same path)"
            )
            self._end(video, "failed", reason=reason)
            return
        seconds = time.perf_counter() - (video.started or time.perf_counter())
        parts = len(video.spans) if video.spans and not video.whole else 1
        self.manifest.finished(
            video.item.key, video.item.src, video.fingerprint, self.options, frames=frames, parts=parts
        )
        if video.parts_dir is not None:
            shutil.rmtree(video.parts_dir, ignore_errors=True)
        note = video.note
        if truncated:
            note = "input corrupt part-way: kept the frames before the damage"
        self._end(video, "done", frames=frames, seconds=seconds, parts=parts, note=note, warnings=warnings)

    def _end(self, video: _Video, status: str, **fields: Any) -> None:
        seconds = float(fields.pop("seconds", 0.0))
        frames = int(fields.pop("frames", 0))
        video.result = VideoResult(
            video.item.key,
            str(video.item.src),
            str(video.item.dst),
            status,
            frames=frames,
            seconds=round(seconds, 3),
            fps=round(frames / seconds, 2) if seconds > 0 else 0.0,
            attempts=1 + sum(video.attempts.values()),
            **fields,
        )
        self.queue = deque(q for q in self.queue if q.key != video.item.key)

    def _fail_all(self, reason: str) -> None:
        """No video can succeed (the engine cannot be built, no worker is left): end them all."""
        self.fatal = reason
        for video in self.videos.values():
            if video.result is None:
                self._end(video, "failed", reason=reason)
        self.queue.clear()

    # ---- progress and files

    def _report(self) -> None:
        now = time.perf_counter()
        if self.on_progress is None or now - self.last_report < 0.25:
            return
        self.last_report = now
        counted = [v for v in self.videos.values() if not (v.result and v.result.status == "skipped")]
        finished = sum(v.result is not None for v in counted)
        failed = sum(v.result is not None and v.result.status == "failed" for v in counted)
        frames = sum(v.frames for v in counted if v.result is None or v.result.status == "done")
        frames += sum(self.frames_running.values())
        known = [v.expected or v.frames for v in counted if (v.expected or (v.result and v.result.status == "done"))]
        total = None
        if known:
            todo = [v for v in counted if v.result is None or v.result.status == "done"]
            total = round(sum(known) / len(known) * len(todo))
            total = max(total, frames)
        self.on_progress(ManyProgress(finished, failed, len(counted), frames, total, now - self.started))

    def _sweep(self, items: list[Item]) -> None:
        """Remove temporary files of earlier killed runs (the manifest lock says none is running)."""
        for item in items:
            for leftover in partial_files(item.dst):
                leftover.unlink(missing_ok=True)
        if self.parts_root.exists():
            for leftover in self.parts_root.rglob(".*.partial*"):
                leftover.unlink(missing_ok=True)
        for leftover in self.job.out_dir.glob(f".{MANIFEST_NAME}.*.tmp*"):
            leftover.unlink(missing_ok=True)


def _task_key(task: Task) -> str:
    """Retries are counted per task: the whole video, its plan, each part, its join."""
    if isinstance(task, PartTask):
        return f"part {task.span.index + 1}"
    return {VideoTask: "video", PlanTask: "plan", JoinTask: "join"}[type(task)]


def _plan_digest(video: _Video, options: dict[str, Any]) -> str:
    """Names a video's parts folder: the same input, options and cuts find the same finished parts."""
    assert video.fingerprint is not None
    text = repr((video.item.key, video.fingerprint.sha256, sorted(options.items()), video.spans))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _part_path(folder: Path, span: Span) -> Path:
    from nightvid.streamer.join import PART_SUFFIX

    return folder / f"part-{span.index:05d}{PART_SUFFIX}"
