"""``nightvid compare``: the same frames through baselines and models, side by side.

Users choose a model by looking; this puts the input, plain baselines and every asked
model next to each other on a labelled contact sheet, and adds the no-reference figures
of :mod:`nightvid.jobs.compare.figures` per method, so what the eye sees is also measured.
Lives beside the CLI (not in ``streamer``) because it builds engines by name.

Example:
    >>> report = run_compare(Path("night.mp4"), models=["noiser"], sheet=Path("sheet.png"))  # doctest: +SKIP
    >>> report["methods"]["noiser"]["border_excess"]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nightvid.engines.spec import EngineSpec
from nightvid.errors import NightvidError
from nightvid.jobs.compare import figures
from nightvid.jobs.compare.frames import Picked, check_times, consecutive_frames, pick_frames, timed_frames
from nightvid.jobs.compare.sheet import check_sheet, contact_sheet, side_by_side, write_png
from nightvid.streamer import DEFAULT_TEMPORAL
from nightvid.streamer.temporal import temporal_frames, to_8bit

__all__ = [
    "BASELINES",
    "Method",
    "baseline_method",
    "check_compare",
    "model_method",
    "run_compare",
    "write_side_by_side",
]

FrameFn = Callable[[np.ndarray], np.ndarray]
#: ``on_progress(done, total, note)``: frames run so far (one method on one frame each), of ``total``.
Progress = Callable[[int, int, str], None]


def _torch_baseline(fn: Callable[[torch.Tensor], torch.Tensor]) -> FrameFn:
    def run(rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        return (fn(x)[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    return run


def _baselines() -> dict[str, FrameFn]:
    from nightvid.trainers.evaluate import gamma_curve, global_gain

    return {"gain": _torch_baseline(global_gain), "gamma": _torch_baseline(gamma_curve)}


#: Baselines by name (the same curves ``nightvid eval`` scores): ``gain`` scales the
#: frame to a mean of 0.45, ``gamma`` applies ``x ** (1/2.2)``.
BASELINES = ("gain", "gamma")


@dataclass
class Method:
    """A column of the sheet: a name and a frame function (RGB uint8 -> RGB uint8)."""

    name: str
    run: FrameFn
    #: Takes 16-bit frames too (a model): in ``--video`` it gets the temporally fused frame,
    #: as ``enhance`` gives its net; the baselines get the decoded frame.
    fused_input: bool = False


def baseline_method(name: str) -> Method:
    table = _baselines()
    if name not in table:
        raise NightvidError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return Method(name, table[name])


def model_method(spec: EngineSpec) -> Method:
    """The engine of ``spec`` as a frame function; errors while running name the model.

    With an ``exposure`` other than the default the column is labelled ``model@exposure``."""
    from nightvid import engines

    engine = engines.create_engine(spec)
    name, exposure = spec.model, spec.exposure
    label = name if exposure == "default" else f"{name}@{'none' if exposure is None else exposure}"

    def run(rgb: np.ndarray) -> np.ndarray:
        try:
            out = engine.enhance_frames(rgb[None])[0]
            return to_8bit(out) if out.dtype == np.uint16 else out
        except NightvidError:
            raise
        except Exception as err:  # a net that fails on a frame: one line naming it
            raise NightvidError(f"model {name} failed on a {rgb.shape[1]}x{rgb.shape[0]} frame: {err}") from None

    return Method(label, run, fused_input=True)


def _figures(output: np.ndarray, source: np.ndarray) -> dict[str, float]:
    return {
        "mean_luma": figures.mean_luma(output),
        "clipped": figures.clipped(output),
        "colourfulness": figures.colourfulness(output),
        "colour_vs_gain": figures.colour_vs_gain(output, source),
        "noise": figures.noise_sigma(output),
        "border_excess": figures.border_excess(output),
        "dark_detail": figures.dark_detail(output, source),
    }


def check_compare(
    source: Path,
    *,
    sheet: Path | None = None,
    at: list[float] | None = None,
    video: Path | None = None,
    engines: Sequence[EngineSpec] = (),
    overwrite: bool = True,
    frames: int = 1,
) -> None:
    """Every cheap check of a comparison, before any model is built: the input, the sheet's
    and the clip's names (and, without ``overwrite``, that neither exists), the ``at`` times
    inside the video, the count of ``frames``, and each engine's settings
    (``EngineSpec.checked``). A NightvidError (one line)."""
    if frames < 1:
        raise NightvidError(f"--frames must be at least 1, got {frames}")
    for spec in engines:
        spec.checked()
    if not source.exists():
        raise NightvidError(f"input not found: {source}")
    if sheet is not None:
        check_sheet(sheet)
    if video is not None:
        if source.is_dir():
            raise NightvidError("--video needs a video input, not a folder of images")
        _check_clip_name(video)
    for out in (sheet, video):
        if out is not None and not overwrite and out.exists() and not out.is_dir():
            raise NightvidError(f"output exists: {out} (pass --overwrite to replace it)")
    check_times(source, at)


def _check_clip_name(out: Path) -> None:
    if out.suffix.lower() not in (".mp4", ".mkv", ".mov"):
        raise NightvidError(f"--video writes H.264: give it an .mp4, .mkv or .mov name, got {out.name}")


def _mean(rows: Sequence[dict[str, float]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in figures.FIGURES:
        values = [r[key] for r in rows if not math.isnan(r[key])]
        out[key] = round(sum(values) / len(values), 4) if values else None
    return out


def run_compare(
    source: Path,
    *,
    methods: Sequence[Method],
    frames: int = 4,
    at: list[float] | None = None,
    sheet: Path | None = None,
    max_side: int | None = 640,
    cell_width: int = 320,
    flicker_frames: int = 24,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every method on the picked frames; write the sheet; return the JSON-ready report.

    ``methods`` are columns after the input. ``flicker_frames`` consecutive frames from
    the first picked time are also run for the flicker and temporal noise figures
    (videos only; 0 skips). ``on_progress(done, total, note)`` after every frame a method ran.
    """
    if sheet is not None:
        check_sheet(sheet)  # before the work: a name OpenCV cannot write failed only at the end
    picked: list[Picked] = pick_frames(source, frames=frames, at=at, max_side=max_side)
    columns = [Method("input", lambda rgb: rgb), *methods]
    names = [m.name for m in columns]
    if len(set(names)) != len(names):
        raise NightvidError(f"a method is named twice: {', '.join(names)}")
    grid: list[list[np.ndarray]] = []
    per_method: dict[str, list[dict[str, float]]] = {m.name: [] for m in columns}
    start = picked[0].time
    flickering = flicker_frames >= 3 and start is not None
    total, done = len(columns) * (len(picked) + (flicker_frames if flickering else 0)), 0
    for item in picked:
        row = []
        for method in columns:
            if on_progress is not None:
                on_progress(done, total, f"{method.name} on {item.label}")
            done += 1
            out = method.run(item.rgb)
            row.append(out)
            per_method[method.name].append(_figures(out, item.rgb))
        grid.append(row)
    flicker: dict[str, float | None] = {m.name: None for m in columns}
    boiling: dict[str, float | None] = {m.name: None for m in columns}
    if flickering and start is not None:
        run = list(consecutive_frames(source, start, flicker_frames, max_side=max_side))
        total -= len(columns) * (flicker_frames - len(run))  # a video that ends sooner
        for method in columns:
            outputs = []
            for frame in run:
                if on_progress is not None:
                    on_progress(done, total, f"{method.name}: flicker over {len(run)} frame{'s' * (len(run) != 1)}")
                done += 1
                outputs.append(method.run(frame))
            flicker[method.name] = figures.flicker(outputs)
            boiling[method.name] = figures.temporal_noise(outputs)
    if sheet is not None:
        write_png(sheet, contact_sheet(grid, names, [p.label for p in picked], cell_width=cell_width))
    if on_progress is not None:
        on_progress(done, total, "")
    return {
        "input": str(source),
        "frames": [{"label": p.label, "time": p.time, "size": [p.rgb.shape[1], p.rgb.shape[0]]} for p in picked],
        "sheet": None if sheet is None else str(sheet),
        "methods": {
            name: {
                **_mean(rows),
                "flicker": flicker[name],
                "temporal_noise": boiling[name],
                "frames": [{k: round(v, 4) for k, v in r.items()} for r in rows],
            }
            for name, rows in per_method.items()
        },
    }


def write_side_by_side(
    source: Path,
    out: Path,
    *,
    methods: Sequence[Method],
    seconds: float | None = None,
    max_side: int | None = 640,
    crf: int = 20,
    temporal: int = DEFAULT_TEMPORAL,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """A labelled before/after clip: the input and every method side by side, frame by frame.

    Every frame keeps its pts and the stream its time base, so the clip plays in step
    with the source (no audio). H.264 in ``out``'s container, written to a temporary
    file beside it and renamed at the end; ``seconds`` limits it to the first S seconds.
    The models see each frame as ``enhance`` gives it to its net: fused with ``temporal``
    frames (``streamer.temporal``; 1: off).
    """
    import av

    from nightvid.streamer.target import check_output, temporary_output

    _check_clip_name(out)
    check_output(source, out, overwrite=True)
    columns = [Method("input", lambda rgb: rgb), *methods]
    count = 0
    with temporary_output(out) as tmp, av.open(str(tmp), "w") as container:
        stream = None
        timed = (
            (rgb, (rgb, pts, tb, rate))
            for rgb, pts, tb, rate in timed_frames(source, seconds=seconds, max_side=max_side)
        )
        for fused, (rgb, pts, time_base, rate) in temporal_frames(timed, temporal // 2):
            panel = side_by_side([m.run(fused if m.fused_input else rgb) for m in columns], [m.name for m in columns])
            if stream is None:
                stream = container.add_stream(
                    "libx264", rate=rate or 25, options={"crf": str(crf), "preset": "veryfast"}
                )
                stream.width, stream.height, stream.pix_fmt = panel.shape[1], panel.shape[0], "yuv420p"
                # the encoder counts in the source's time base too: in 1/rate, two frames of a
                # variable-rate phone clip closer than 1/rate fell on one tick (the muxer refused)
                stream.time_base = stream.codec_context.time_base = time_base
            frame = av.VideoFrame.from_ndarray(panel, format="rgb24")
            frame.pts, frame.time_base = (count if pts is None else pts), time_base
            container.mux(stream.encode(frame))
            count += 1
            if on_progress is not None:
                on_progress(count)
        if stream is None:
            raise NightvidError(f"{source} has no frames to show")
        container.mux(stream.encode(None))
    return {"video": str(out), "frames": count, "columns": [m.name for m in columns]}
