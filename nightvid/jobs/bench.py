"""``nightvid bench``: build each MODEL:BACKEND engine and time it with the streamer's bench.

Lives beside the CLI (not in ``streamer``) because it creates engines by name, which the
streamer never does.
"""

from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

from nightvid import nets
from nightvid.engines import create_engine
from nightvid.errors import NightvidError
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.stage_timing import bench_engine, cpu_bound_fps, make_bench_clip, parse_size, slowest_stage_ratio

__all__ = ["parse_spec", "run_bench", "summary_lines"]


def parse_spec(spec: str, workers: int | None) -> tuple[str, str, int | None]:
    """``MODEL[:BACKEND[:WORKERS]]`` -> (model, backend, workers); missing parts default."""
    parts = spec.split(":")
    if len(parts) > 3 or (len(parts) == 3 and not parts[2].isdigit()):
        raise NightvidError(f"engine spec must be MODEL:BACKEND[:WORKERS], got {spec!r}")
    model = parts[0]
    nets.chain_parts(model)  # unknown model -> NightvidError naming the available ones
    backend = parts[1] if len(parts) > 1 and parts[1] else "auto"
    return model, backend, int(parts[2]) if len(parts) == 3 else workers


def run_bench(
    specs: list[str],
    *,
    src: Path | None,
    size: str,
    frames: int,
    batch: int,
    preset: str,
    repeats: int = 1,
    precision: str = "fp32",
    workers: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Time every ``MODEL:BACKEND[:WORKERS]`` in ``specs`` on one clip; a JSON-ready report.

    ``workers`` applies where a spec names none (None: ``engines.default_workers``).
    Models without shipped weights run with random weights: speed does not depend on them.
    Engines with several workers are labelled ``model:backend:N``.
    """
    parsed = [parse_spec(spec, workers) for spec in specs]
    encode = EncodeOptions(preset=preset)
    with tempfile.TemporaryDirectory(prefix="nightvid-bench-") as tmp:
        if src is None:
            src = make_bench_clip(Path(tmp) / f"synthetic-{size}.mp4", size=parse_size(size), frames=frames)
            label = f"synthetic {size}"
        else:
            if not src.is_file():
                raise NightvidError(f"input not found: {src}")
            label = str(src)
        rows = []
        ratios, bounds = {}, {}
        cores = _cores()
        for model, backend, runners in parsed:
            weights = "default" if all(nets.shipped_weights(p) for p in nets.chain_parts(model)) else None
            engine = create_engine(
                model, weights=weights, backend=backend, precision=precision, workers=runners, device=device
            )
            name = f"{model}:{engine.backend}" + (f":{engine.workers}" if engine.workers > 1 else "")
            timing = bench_engine(name, engine, src, batch=batch, encode=encode, repeats=repeats)
            rows.extend(timing)
            ratios[name] = slowest_stage_ratio(timing)
            bounds[name] = cpu_bound_fps(timing, cores)
    return {
        "input": label,
        "frames": rows[0].frames if rows else 0,
        "batch": batch,
        "repeats": repeats,
        "precision": precision,
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
