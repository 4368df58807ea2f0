"""`nightvid bench`, `nightvid eval`, `nightvid compare`: how fast, how good, how it looks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from nightvid.cli.common import (
    Backend,
    Batch,
    Deblock,
    Device,
    Exposure,
    Model,
    Precision,
    ProgressLine,
    Quiet,
    Temporal,
    Weights,
    Workers,
    counted,
    engine_spec,
    err_console,
    fail,
    reported,
    setup_logging,
    split_list,
)
from nightvid.errors import NightvidError
from nightvid.jobs.enhance import DEFAULT_TEMPORAL, check_temporal
from nightvid.streamer.encode_options import DEFAULT_PRESET

if TYPE_CHECKING:
    from nightvid.trainers.evaluate import EvalReport

__all__ = ["bench", "compare", "eval_cmd"]


def bench(
    src: Annotated[Path | None, typer.Option("--input", help="video to time (default: synthetic)")] = None,
    size: Annotated[str, typer.Option(help="synthetic clip size: 360p|720p|1080p|WxH")] = "360p",
    frames: Annotated[int, typer.Option(min=1, help="synthetic clip length")] = 60,
    model: Model = "noiser",
    backend: Backend = "auto",
    precision: Precision = "auto",
    workers: Workers = None,
    batch: Batch = 1,
    exposure: Exposure = "default",
    deblock: Deblock = True,
    compare: Annotated[
        list[str] | None, typer.Option(help="more MODEL:BACKEND[:WORKERS] to time (e.g. noiser:onnx:1)")
    ] = None,
    preset: Annotated[str, typer.Option(help="x264 preset for the encode stage")] = DEFAULT_PRESET,
    repeats: Annotated[int, typer.Option(min=1, help="time every stage this many times; report medians")] = 3,
    device: Device = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Frames per second of decode, inference, encode and end to end, side by side.

    Each stage is timed --repeats times in turn and the median shown; "CPU ms" is the
    process's CPU time per frame (all threads), which shows when stages sharing the
    cores cannot all run at full speed at once."""
    from nightvid.jobs.bench import parse_spec, run_bench, summary_lines

    setup_logging(quiet=as_json)
    first = engine_spec(
        model,
        backend=backend,
        precision=precision,
        workers=workers,
        exposure=exposure,
        deblock=deblock,
        device=device,
        batch=batch,
    )
    with reported(), ProgressLine("bench", quiet=False, unit="engines", json=as_json) as progress:
        others = [parse_spec(text, replace(first, workers=None)) for text in compare or []]  # their own default
        report = run_bench(
            [first, *others],
            src=src,
            size=size,
            frames=frames,
            preset=preset,
            repeats=repeats,
            on_progress=progress,
        )
    if as_json:
        print(json.dumps(report, indent=2))
        _bench_failed(report)
        return
    table = Table(
        title=f"{report['input']} ({counted(report['frames'], 'frame')}, batch {batch}, median of {repeats}, "
        f"x264 {preset})"
    )
    table.add_column("engine", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    for heading in ("fps", "ms/frame", "CPU ms/frame", "peak RSS MiB", "GPU MiB"):
        table.add_column(heading, justify="right")
    for row in report["rows"]:
        table.add_row(
            row["label"],
            row["stage"],
            f"{row['fps']:.{1 if row['fps'] >= 10 else 2}f}",
            f"{row['ms_per_frame']:.1f}",
            f"{row['cpu_ms_per_frame']:.1f}",
            f"{row['peak_rss_mib']:.0f}",
            "-" if row["peak_gpu_mib"] is None else f"{row['peak_gpu_mib']:.0f}",
        )
    Console(width=max(Console().width, 132)).print(table)  # ten columns: never cut a header
    for line in summary_lines(report):
        Console().print(line)
    _bench_failed(report)


def _bench_failed(report: dict) -> None:
    """After the rows measured so far: the engine that failed, as the error line (exit 1)."""
    if report.get("failed"):
        raise fail(f"{report['failed']['engine']}: {report['failed']['reason']}")


def eval_cmd(
    model: Annotated[str, typer.Argument(help="model to score (see `nightvid models`)")],
    data: Annotated[Path, typer.Option(help="paired folder; with --sigma, a folder of clean images")],
    weights: Weights = None,
    sigma: Annotated[float | None, typer.Option(help="denoising: add N(0, S/255) noise (seeded)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="score only the first N images")] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N")] = "cpu",
    exposure: Exposure = "default",
    backend: Annotated[
        str, typer.Option(help="a backend as enhance's --backend; eager (the default) is the reference")
    ] = "eager",
    precision: Precision = "auto",
    deblock: Deblock = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON on stdout")] = False,
) -> None:
    """RGB PSNR/SSIM of MODEL per image and mean, beside plain baselines on the same images.

    --exposure 0.45 scores MODEL at the global-gain baseline's brightness (like for like)."""
    from nightvid.trainers.evaluate import evaluate_model

    setup_logging(quiet=as_json)
    with reported(), ProgressLine(f"eval {model}", quiet=False, unit="images", json=as_json) as progress:
        spec = engine_spec(
            model,
            weights=weights,
            backend=backend,
            precision=precision,
            exposure=exposure,
            deblock=deblock,
            device=device,
        )
        report = evaluate_model(spec, data, sigma=sigma, limit=limit, on_progress=progress)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    _print_eval(report)


def _print_eval(report: EvalReport) -> None:
    methods = list(report.scores)
    table = Table(
        "image",
        *(f"{m} PSNR / SSIM" for m in methods),
        title=f"{report.model} on {report.data}"
        + (f", sigma {report.sigma:g}" if report.sigma else "")
        + ("" if report.exposure == "default" else f", exposure {report.as_dict()['exposure']}"),
    )
    for i, name in enumerate(report.images):
        table.add_row(name, *(f"{report.scores[m][i][0]:.2f} / {report.scores[m][i][1]:.3f}" for m in methods))
    table.add_section()
    table.add_row("[bold]mean[/]", *(f"[bold]{report.mean(m)[0]:.2f} / {report.mean(m)[1]:.3f}[/]" for m in methods))
    if report.dark:
        table.add_row("dark SSIM", *(f"{report.mean_dark(m):.3f}" for m in methods))
    Console(width=max(Console().width, 132)).print(table)  # ten columns: never cut a header
    for name, what in report.as_dict()["baselines"].items():
        Console().print(f"{name}: {what}", highlight=False)


def _parse_times(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(t) for t in split_list(text)]
    except ValueError:
        raise NightvidError(f"--at takes seconds separated by commas (1.5,4,10), got {text!r}") from None


def compare(
    src: Annotated[Path, typer.Argument(help="a video, or a folder of images")],
    out: Annotated[Path, typer.Option("--out", "-o", help="contact sheet to write (PNG)")] = Path("compare.png"),
    models: Annotated[
        str, typer.Option(help="models to show, comma-separated (see `nightvid models`)")
    ] = "noiser,lednet,kind",
    baselines: Annotated[
        str, typer.Option(help="baselines to show: gain (mean to 0.45), gamma (1/2.2); '' for none")
    ] = "gain,gamma",
    frames: Annotated[int, typer.Option(help="frames spread evenly over the video (or images of the folder)")] = 4,
    at: Annotated[str | None, typer.Option(help="times in seconds instead, e.g. 1.5,4,10")] = None,
    max_side: Annotated[int, typer.Option(help="scale frames down to this longer side first (0: full size)")] = 640,
    cell_width: Annotated[int, typer.Option(min=32, help="width of each frame on the sheet, in pixels")] = 320,
    flicker_frames: Annotated[int, typer.Option(help="consecutive frames run for the flicker figure (0: skip)")] = 24,
    video: Annotated[Path | None, typer.Option(help="also write a labelled side-by-side clip (H.264 .mp4)")] = None,
    video_seconds: Annotated[float | None, typer.Option(min=0, help="only the first S seconds in --video")] = None,
    temporal: Temporal = DEFAULT_TEMPORAL,
    exposure: Exposure = "default",
    backend: Backend = "auto",
    precision: Precision = "auto",
    deblock: Deblock = True,
    device: Device = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace the sheet (--out) and the --video clip if they exist")
    ] = False,
    quiet: Quiet = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON on stdout")] = False,
) -> None:
    """Input, baselines and models side by side on a labelled contact sheet, with no-reference figures."""
    from nightvid.jobs.compare import baseline_method, check_compare, model_method, run_compare, write_side_by_side

    setup_logging(quiet or as_json)
    with reported():
        times = _parse_times(at)
        names = split_list(models)
        # one frame at a time (workers=1): the sheet's frames are run one by one
        spec = engine_spec(
            "noiser", backend=backend, precision=precision, exposure=exposure, deblock=deblock, device=device, workers=1
        )
        engines = [spec.for_model(name) for name in names]
        # every cheap check before any model is built
        check_compare(src, sheet=out, at=times, video=video, engines=engines, overwrite=overwrite, frames=frames)
        check_temporal(temporal)
        with ProgressLine(f"compare {src.name}", quiet=quiet, json=as_json) as progress:
            methods = [baseline_method(b) for b in split_list(baselines)]
            for engine in engines:
                progress(0, None, f"building {engine.model}")
                methods.append(model_method(engine))
            report = run_compare(
                src,
                methods=methods,
                frames=frames,
                at=times,
                sheet=out,
                max_side=max_side or None,
                flicker_frames=flicker_frames,
                cell_width=cell_width,
                on_progress=progress,
            )
        if video is not None:
            if src.is_dir():
                raise NightvidError("--video needs a video input, not a folder of images")
            with ProgressLine(f"side by side {src.name}", quiet=quiet, json=as_json) as progress:
                report["side_by_side"] = write_side_by_side(
                    src,
                    video,
                    methods=methods,
                    seconds=video_seconds,
                    max_side=max_side or None,
                    temporal=temporal,
                    on_progress=lambda n: progress(n, None),
                )
    if as_json:
        print(json.dumps(report, indent=2))
        return
    if not quiet:
        _print_compare(report)


def _print_compare(report: dict) -> None:
    from nightvid.jobs.compare.figures import FIGURES

    columns = [*FIGURES, "flicker", "temporal_noise"]
    short = {
        "mean_luma": "luma",
        "colourfulness": "colour",
        "colour_vs_gain": "vs gain",
        "border_excess": "border",
        "dark_detail": "dark",
        "temporal_noise": "boiling",
    }
    table = Table(
        "method",
        *(short.get(c, c) for c in columns),
        title=f"{report['input']}: {counted(len(report['frames']), 'frame')}",
    )
    for name, row in report["methods"].items():
        table.add_row(name, *("-" if row[c] is None else f"{row[c]:.3f}" for c in columns))
    Console(width=max(Console().width, 132)).print(table)  # ten columns: never cut a header
    err_console.print(f"contact sheet -> [bold]{report['sheet']}[/]", highlight=False, soft_wrap=True)
    if "side_by_side" in report:
        clip = report["side_by_side"]
        err_console.print(
            f"side-by-side clip ({counted(clip['frames'], 'frame')}) -> [bold]{clip['video']}[/]",
            highlight=False,
            soft_wrap=True,
        )
