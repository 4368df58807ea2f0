"""What the enhance-many tests share: clips, a reference single-process run, comparisons, a faulty worker."""

from __future__ import annotations

import errno
import os
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from nightvid.engines.spec import EngineSpec
from nightvid.jobs.enhance import EnhanceJob
from nightvid.jobs.many.tasks import Outcome, PartTask, PlanTask, Report, Task, classify, run_task
from nightvid.streamer.encode_options import EncodeOptions
from tests.clips import make_clip, read_video

#: Every test runs the tiny NoiSER eagerly (no engine build to wait for), encoded losslessly
#: (x264 crf 0): outputs made from the same enhanced frames then decode to the same pixels,
#: however the encoder was cut, and any frame out of place would show. The brightness
#: stabiliser restarts at each piece (``parts.enhance_span``), so pieces equal a single
#: pass only without it: off here, on in the test of pieces with it.
ENGINE = EngineSpec(model="noiser", backend="eager")
LOSSLESS = EncodeOptions(crf=0)
VIDEO = EnhanceJob(Path("in"), Path("out"), engine=ENGINE, encode=LOSSLESS, stabilize=False)
#: A long clip: 2.4 s in six 0.4 s GOPs, with B-frames and AAC audio.
LONG = {"frames": 60, "options": {"g": "10", "bf": "2"}}


def make_long_clip(path: Path, *, vfr: bool = False) -> Path:
    """60 frames in GOPs of 10 with B-frames and audio; ``vfr``: uneven intervals in a 1/1000 time base."""
    if not vfr:
        return make_clip(path, **LONG)  # type: ignore[arg-type]
    steps = [40, 20, 100, 33, 40, 60]
    pts = [0]
    for i in range(LONG["frames"] - 1):  # type: ignore[operator]
        pts.append(pts[-1] + steps[i % len(steps)])
    return make_clip(path, pts=pts, time_base=Fraction(1, 1000), **LONG)  # type: ignore[arg-type]


def single_run(src: Path, dst: Path, **options: object) -> dict:
    """``nightvid enhance`` of ``src`` in this process (the reference), read back."""
    options = {"stabilize": VIDEO.stabilize, **options}
    EnhanceJob(src, dst, engine=ENGINE, encode=LOSSLESS, overwrite=True, **options).run()  # type: ignore[arg-type]
    return read_video(dst)


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def assert_same_video(got: Path, want: Path, *, tolerance: float = 0.05) -> None:
    """Same frame count, every pts, the audio packets byte for byte, and the same pictures (lossless
    encodes of the same enhanced frames; ``tolerance``: the mean difference float rounding may leave)."""
    a, b = read_video(got), read_video(want)
    assert a["frames"] == b["frames"]
    assert a["pts"] == b["pts"]
    assert a["time_base"] == b["time_base"]
    assert a["audio"] == b["audio"]
    for i, (x, y) in enumerate(zip(frames_of(got), frames_of(want), strict=True)):
        assert float(np.abs(x - y).mean()) < tolerance, f"frame {i} differs"


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a run may leave: partial outputs, part files, manifest temporaries."""
    return sorted(p for p in folder.rglob("*") if ".partial" in p.name or ".nightvid-parts" in p.parts)


def _source(task: Task) -> Path:
    return task.src if isinstance(task, PlanTask) else task.job.src


def faulty_runner(task: Task, report: Report | None = None, *, device: str | None = None) -> Outcome:
    """``run_task``, with faults chosen by the input's name (a LocalPool runner for tests):

    - ``die-once*``: the worker process dies (as under the OOM killer) the first time;
    - ``eio*``: every read fails with EIO (a storage error: transient, retried, then reported);
    - ``slow*``: every task is logged to ``.tasks.log`` beside the input, and the first part
      after the first waits 3 s (a window to interrupt the run in).
    """
    src = _source(task)
    if src.name.startswith("slow"):
        index = task.span.index if isinstance(task, PartTask) else None
        with open(src.with_name(".tasks.log"), "a") as log:
            log.write(f"{type(task).__name__} {index}\n")
        marker = src.with_name(f".{src.name}.slowed")
        if index is not None and index >= 1 and not marker.exists():
            marker.touch()
            time.sleep(3)
    if src.name.startswith("die-once"):
        marker = src.with_name(f".{src.name}.died")
        if not marker.exists():
            marker.touch()
            os._exit(9)
    if src.name.startswith("eio"):
        return Outcome(failure=classify(OSError(errno.EIO, os.strerror(errno.EIO), str(src))))
    return run_task(task, report, device=device)
