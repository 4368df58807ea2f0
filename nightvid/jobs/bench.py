"""``nightvid bench``: build each MODEL:BACKEND engine and time it with the streamer's bench.

Lives beside the CLI (not in ``streamer``) because it creates engines by name, which the
streamer never does.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from nightvid import nets
from nightvid.engines import EngineSpec, create_engine
from nightvid.engines.backends import BACKEND_SPECS, backend_spec
from nightvid.engines.base import resolve_device
from nightvid.errors import NightvidError
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.stage_timing import (
    StageTiming,
    bench_engine,
    cpu_bound_fps,
    make_bench_clip,
    parse_size,
    slowest_stage_ratio,
)

__all__ = ["parse_spec", "run_bench", "summary_lines"]


def parse_spec(text: str, base: EngineSpec) -> EngineSpec:
    """``MODEL[:BACKEND[:WORKERS]]`` -> ``base`` with that model, backend and workers
    (``base``'s where it names none); every field checked (``EngineSpec.checked``)."""
    parts = text.split(":")
    if len(parts) > 3 or (len(parts) == 3 and not (parts[2].isdigit() and int(parts[2]) >= 1)):
        raise NightvidError(f"engine spec must be MODEL:BACKEND[:WORKERS] (WORKERS at least 1), got {text!r}")
    backend = parts[1] if len(parts) > 1 and parts[1] else "auto"
    workers = int(parts[2]) if len(parts) == 3 else base.workers
    try:
        return replace(base, model=parts[0], backend=backend, workers=workers).checked()
    except NightvidError as err:
        raise NightvidError(f"{text}: {err}") from None


def _check_workers(spec: EngineSpec) -> None:
    """A NightvidError for several workers on a backend that runs one batch at a time here
    (``auto`` picks a backend and falls back to one worker itself)."""
    if spec.workers is None or spec.backend == "auto":
        return
    if spec.workers > 1 and not (backend_spec(spec.backend).multi_worker and resolve_device(spec.device).type == "cpu"):
        multi = " or ".join(name for name, other in BACKEND_SPECS.items() if other.multi_worker)
        raise NightvidError(
            f"{spec.model}:{spec.backend}:{spec.workers}: only the {multi} backend on the CPU runs several "
            f"batches at once; {spec.backend} takes 1 worker"
        )


def run_bench(
    engines: list[EngineSpec],
    *,
    src: Path | None,
    size: str,
    frames: int,
    preset: str,
    repeats: int = 1,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Time every engine of ``engines`` on one clip; a JSON-ready report.

    Every spec is checked before anything is timed (``parse_spec`` makes the ``--compare``
    ones). If a later engine fails, the report keeps the rows measured before it and says
    which failed (``failed``: engine and reason). Models without shipped weights run with
    random weights: speed does not depend on them. Engines with several workers are
    labelled ``model:backend:N``. ``on_progress(done, total, note)``: engines timed so
    far, of all, and what is under way.
    """
    engines = [spec.checked() for spec in engines]
    for spec in engines:
        _check_workers(spec)
    encode = EncodeOptions(preset=preset)
    with tempfile.TemporaryDirectory(prefix="nightvid-bench-") as tmp:
        if src is None:
            src = make_bench_clip(Path(tmp) / f"synthetic-{size}.mp4", size=parse_size(size), frames=frames)
            label = f"synthetic {size}"
        else:
            if not src.is_file():
                raise NightvidError(f"input not found: {src}")
            label = str(src)
        rows: list[StageTiming] = []
        ratios, bounds = {}, {}
        failed: dict[str, str] | None = None
        cores = _cores()
        for done, spec in enumerate(engines):
            asked = f"{spec.model}:{spec.backend}"
            if on_progress is not None:
                on_progress(done, len(engines), f"{asked}: building its engine, then timing it")
            if spec.weights == "default" and not all(nets.shipped_weights(p) for p in nets.chain_parts(spec.model)):
                spec = replace(spec, weights=None)
            try:
                engine = create_engine(spec)
                name = f"{spec.model}:{engine.backend}" + (f":{engine.workers}" if engine.workers > 1 else "")
                timing = bench_engine(name, engine, src, batch=spec.batch, encode=encode, repeats=repeats)
            except NightvidError as err:
                if not rows:
                    raise
                failed = {"engine": asked, "reason": str(err)}  # the rows measured so far are kept
                break
            rows.extend(timing)
            ratios[name] = slowest_stage_ratio(timing)
            bounds[name] = cpu_bound_fps(timing, cores)
            if on_progress is not None:
                on_progress(done + 1, len(engines), f"{name} timed")
    return {
        "failed": failed,
        "input": label,
        "frames": rows[0].frames if rows else 0,
        "batch": engines[0].batch,
        "repeats": repeats,
        "precision": engines[0].precision,
        "x264_preset": preset,
        "rows": [r.as_dict() for r in rows],
        "end_to_end_over_slowest": ratios,
        #: Per engine, the fps the slowest stage and the cores allow together (see cpu_bound_fps).
        "bound_fps": bounds,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": cores,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
    }


def _cores() -> int:
    """CPUs this process may run on (its affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Per engine: end-to-end over the slowest stage, and the share of what its cores allow."""
    cores = report["machine"]["cores"]
    lines = []
    for label, ratio in report["end_to_end_over_slowest"].items():
        bound = report["bound_fps"][label]
        e2e = next(r["fps"] for r in report["rows"] if r["label"] == label and r["stage"] == "end-to-end")
        note = (
            ""
            if bound is None
            else f"; the stages' CPU time on {cores} cores allows {bound:.1f} fps, "
            f"end-to-end reaches {e2e / bound:.2f} of it"
        )
        lines.append(f"{label}: end-to-end / slowest stage = {ratio}{note}")
    return lines
