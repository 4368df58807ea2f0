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
from nightvid.streamer.bench import bench_engine, cpu_bound_fps, make_bench_clip, parse_size, slowest_stage_ratio
from nightvid.streamer.encode import EncodeOptions

__all__ = ["run_bench"]


def _parse_spec(spec: str) -> tuple[str, str]:
    model, _, backend = spec.partition(":")
    nets.get_info(model)  # unknown model -> NightvidError naming the available ones
    return model, backend or "auto"


def run_bench(specs: list[str], *, src: Path | None, size: str, frames: int, batch: int,
              preset: str, repeats: int = 1, precision: str = "fp32") -> dict[str, Any]:
    """Time every ``MODEL:BACKEND`` in ``specs`` on one clip; a JSON-ready report.

    Models without shipped weights run with random weights: speed does not depend on them.
    """
    parsed = [_parse_spec(spec) for spec in specs]
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
        for model, backend in parsed:
            weights = "default" if nets.shipped_weights(model) else None
            engine = create_engine(model, weights=weights, backend=backend, precision=precision)
            name = f"{model}:{engine.backend}"
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
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": cores,
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
    }


def _cores() -> int:
    """CPUs this process may run on (its affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
