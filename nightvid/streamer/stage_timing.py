"""Frames per second of each stage alone and of the whole pipeline, per engine.

Stages are timed in the order a user's run meets them: decode (demux + decode + RGB
conversion), inference (the engine on already-decoded frames), encode (YUV conversion
+ encode + mux), then end to end through ``enhance_video``. The pipeline overlaps its
stages, so end-to-end fps should approach the slowest stage's fps.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from nightvid.engines.base import Engine
from nightvid.errors import NightvidError
from nightvid.memory import PeakMemory
from nightvid.streamer.colour import tags_for
from nightvid.streamer.decode import iter_frames, open_input
from nightvid.streamer.encode import VideoWriter
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.pipeline import enhance_video

__all__ = [
    "SIZES",
    "StageTiming",
    "bench_engine",
    "make_bench_clip",
    "cpu_bound_fps",
    "parse_size",
    "slowest_stage_ratio",
]

SIZES = {"360p": (640, 360), "480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}


@dataclass(frozen=True)
class StageTiming:
    """One row of the bench table: the median of ``runs`` timed runs of one stage."""

    label: str
    stage: str
    frames: int
    fps: float
    ms_per_frame: float
    #: Peak resident set size of the process during this stage (MiB).
    peak_rss_mib: float
    #: Peak CUDA memory allocated during this stage (MiB), None on CPU.
    peak_gpu_mib: float | None = None
    #: CPU time of the whole process (all threads) per frame: what the stage costs the
    #: machine. Stages that together need more CPU than there are cores cannot overlap fully.
    cpu_ms_per_frame: float | None = None
    runs: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def parse_size(text: str) -> tuple[int, int]:
    """``720p`` or ``1280x720`` -> (width, height)."""
    if text in SIZES:
        return SIZES[text]
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise NightvidError(f"size must be WIDTHxHEIGHT or one of {', '.join(SIZES)}; got {text!r}") from None
    if width < 1 or height < 1:
        raise NightvidError(f"size must be positive, got {text!r}")
    return width, height


def make_bench_clip(path: Path, *, size: tuple[int, int], frames: int, rate: int = 30) -> Path:
    """A synthetic dark clip with motion and grain, encoded losslessly-fast (x264 ultrafast)."""
    import av

    width, height = size
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            base = 14 + 10 * np.sin((x + 6 * i) / 40.0) * np.cos(y / 30.0)
            grain = rng.normal(0, 3, size=(height, width))
            luma = np.clip(base + grain, 0, 255).astype(np.uint8)
            rgb = np.stack([luma, luma, (luma * 1.2).clip(0, 255).astype(np.uint8)], axis=-1)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


class _StageClock:
    """Wall and CPU seconds and peak memory of every run of each stage, then the medians."""

    def __init__(self, label: str, frames: int, device: torch.device) -> None:
        self.label, self.frames, self.device = label, frames, device
        self.runs: dict[str, list[tuple[float, float, float, float | None]]] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        with PeakMemory(self.device) as memory:
            start, cpu_start = time.perf_counter(), time.process_time()
            yield
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        self.runs.setdefault(stage, []).append((wall, cpu, memory.peak_mib, memory.gpu_mib))

    def rows(self) -> list[StageTiming]:
        out = []
        for stage, runs in self.runs.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            gpu = [r[3] for r in runs if r[3] is not None]
            out.append(
                StageTiming(
                    self.label,
                    stage,
                    self.frames,
                    round(self.frames / wall, 2),
                    round(1000 * wall / self.frames, 2),
                    round(max(r[2] for r in runs), 1),
                    round(max(gpu), 1) if gpu else None,
                    round(1000 * cpu / self.frames, 2),
                    len(runs),
                )
            )
        return out


def _decode_all(src: Path) -> tuple[list[np.ndarray], list[int | None]]:
    container, _ = open_input(src)
    with container:
        frames, pts, tags = [], [], None
        for frame in iter_frames(container):
            tags = tags or tags_for(frame)
            frames.append(tags.to_rgb(frame))
            pts.append(frame.pts)
    return frames, pts


def bench_engine(
    label: str,
    engine: Engine,
    src: Path,
    *,
    batch: int = 1,
    encode: EncodeOptions | None = None,
    warmup: int = 2,
    repeats: int = 1,
    stages: tuple[str, ...] = ("decode", "inference", "encode", "end-to-end"),
) -> list[StageTiming]:
    """Time each stage alone and the whole pipeline for one engine on ``src``.

    With ``repeats`` > 1 the stages are timed in turn that many times (round-robin, so a
    passing load hits them alike) and each row holds the median.
    """
    if repeats < 1:
        raise NightvidError(f"repeats must be at least 1, got {repeats}")
    encode = encode or EncodeOptions()
    frames, pts = _decode_all(src)
    if not frames:
        raise NightvidError(f"{src} has no frames to benchmark")
    count = len(frames)
    clock = _StageClock(label, count, engine.device)
    # Warm-up: first calls allocate, autotune and (for compiled engines) may specialise.
    for _ in range(warmup):
        engine.enhance_frames(frames[:batch])
    # An engine tiled "auto" measures its memory once and decides its tiles per frame size
    # (engines.wrappers.tiled): have it decide now, so end to end, like the stages alone,
    # is timed in the steady state.
    engine.sized(*frames[0].shape[:2])
    container, info = open_input(src)
    with container:
        colour = tags_for(next(iter_frames(container)))

    with tempfile.TemporaryDirectory(prefix="nightvid-bench-") as tmp:
        for _ in range(repeats):
            if "decode" in stages:
                with clock("decode"):
                    _decode_all(src)
            enhanced: list[np.ndarray] = []
            if "inference" in stages or "encode" in stages:
                with clock("inference"):  # batches submitted ahead, as the pipeline does
                    chunks = ((frames[start : start + batch], None) for start in range(0, count, batch))
                    for out, _ in engine.enhance_batches(chunks):
                        enhanced.extend(out)
            if "encode" in stages:
                writer = VideoWriter(Path(tmp) / "encode.mp4", info, colour=colour, options=encode)
                with clock("encode"):
                    for rgb, stamp in zip(enhanced, pts, strict=False):
                        writer.write(rgb, stamp)
                    writer.close()
            if "end-to-end" in stages:
                with clock("end-to-end"):
                    enhance_video(src, Path(tmp) / "e2e.mp4", engine, batch=batch, encode=encode, overwrite=True)
    return [row for row in clock.rows() if row.stage in stages]


def slowest_stage_ratio(rows: list[StageTiming]) -> float | None:
    """End-to-end fps divided by the slowest single stage's fps (1.0 = perfect overlap)."""
    by_stage = {r.stage: r.fps for r in rows}
    singles = [by_stage[s] for s in ("decode", "inference", "encode") if s in by_stage]
    if "end-to-end" not in by_stage or not singles:
        return None
    return round(by_stage["end-to-end"] / min(singles), 3)


def cpu_bound_fps(rows: list[StageTiming], cores: int) -> float | None:
    """The most end-to-end fps the machine can give: no faster than the slowest stage,
    and no faster than ``cores`` CPUs can supply the three stages' CPU time per frame.

    On CPU inference each stage uses every core when timed alone, so when run together
    their CPU times add up; ``cores * 1000 / sum(cpu ms per frame)`` then caps the rate
    below the slowest stage's own fps. On CUDA the cap is usually the slowest stage.

    Example:
        >>> rows = [StageTiming("n", s, 10, fps, 1000 / fps, 0, None, cpu, 1)
        ...         for s, fps, cpu in (("decode", 500, 2), ("inference", 22, 80), ("encode", 80, 18))]
        >>> cpu_bound_fps(rows, cores=2)
        20.0
    """
    singles = [r for r in rows if r.stage in ("decode", "inference", "encode")]
    if len(singles) < 3 or any(r.cpu_ms_per_frame is None for r in singles):
        return None
    cpu_ms = sum(r.cpu_ms_per_frame or 0.0 for r in singles)
    slowest = min(r.fps for r in singles)
    return round(min(slowest, cores * 1000.0 / cpu_ms) if cpu_ms > 0 else slowest, 2)
