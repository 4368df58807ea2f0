"""`nightvid enhance-many`: folders, lists and archives of videos, on this machine or a Ray cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from nightvid.cli.common import (
    AudioCodec,
    Backend,
    Batch,
    Bitrate,
    Codec,
    Crf,
    Deblock,
    Device,
    EncoderOpt,
    Exposure,
    Model,
    PixFmt,
    Precision,
    Preset,
    ProgressLine,
    Quiet,
    Stabilize,
    Temporal,
    Tile,
    Weights,
    Workers,
    counted,
    encode_options,
    engine_spec,
    err_console,
    reported,
    setup_logging,
)
from nightvid.jobs.enhance import DEFAULT_TEMPORAL, EnhanceJob
from nightvid.streamer.encode_options import EncodeOptions

__all__ = ["enhance_many", "print_summary"]

if TYPE_CHECKING:  # PyAV loads only when the command runs (the preview imports OpenCV first)
    from nightvid.jobs.many import ManyProgress, ManySummary

ENCODE = EncodeOptions()
#: Rows of skipped videos are listed one by one up to this many, then counted.
SKIPPED_ROWS = 20


def enhance_many(
    inputs: Annotated[
        list[str], typer.Argument(help="video files, folders (searched recursively), globs, or .txt lists of these")
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="where the outputs go, mirroring the inputs' tree")],
    model: Model = "noiser",
    weights: Weights = None,
    backend: Backend = "auto",
    precision: Precision = "auto",
    workers: Workers = None,
    exposure: Exposure = "default",
    deblock: Deblock = True,
    device: Device = None,
    codec: Codec = ENCODE.codec,
    audio_codec: AudioCodec = ENCODE.audio_codec,
    crf: Crf = ENCODE.crf,
    bitrate: Bitrate = None,
    preset: Preset = ENCODE.preset,
    pix_fmt: PixFmt = ENCODE.pix_fmt,
    encoder_opt: EncoderOpt = None,
    batch: Batch = 1,
    overwrite: Annotated[
        bool, typer.Option(help="replace outputs that exist but were not written by an earlier enhance-many")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="fail a video on any damage (default: skip what does not decode and warn)")
    ] = False,
    keep_partial: Annotated[
        bool, typer.Option(help="with --strict: keep the frames before the damage of inputs corrupt part-way")
    ] = False,
    stabilize: Stabilize = True,
    temporal: Temporal = DEFAULT_TEMPORAL,
    tile: Tile = "auto",
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            show_default="one per GPU, else one per 2 CPU cores; on Ray one per GPU, or per CPU without GPUs",
            help="videos (or pieces) enhanced at once, each by a worker that keeps its engine",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            envvar="RAY_ADDRESS",
            help="run on a Ray cluster: auto, ray://HOST:PORT, or local (needs pip install 'nightvid\\[cluster]'); "
            "default: processes on this machine",
        ),
    ] = None,
    gpus_per_job: Annotated[
        float | None,
        typer.Option(show_default="1 where there are GPUs, else 0", help="GPUs each worker reserves (0.5: two a GPU)"),
    ] = None,
    max_retries: Annotated[
        int, typer.Option(help="retries of a video whose failure may be transient (I/O error, lost worker)")
    ] = 2,
    chunk_seconds: Annotated[
        float | None,
        typer.Option(help="cut videos longer than this at keyframes and enhance the pieces in parallel"),
    ] = None,
    suffix: Annotated[str, typer.Option(help="added to each output's name, e.g. -bright")] = "",
    ext: Annotated[
        str | None, typer.Option(help="output container by extension, e.g. mkv (default: the input's)")
    ] = None,
    watch: Annotated[
        bool, typer.Option(help="keep running: enhance videos that appear or change under the inputs (Ctrl-C stops)")
    ] = False,
    quiet: Quiet = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary on stdout")] = False,
) -> None:
    """Enhance many videos into OUT_DIR; a rerun skips what is done. Exit 1 if any video failed."""
    engine = engine_spec(
        model,
        weights=weights,
        backend=backend,
        precision=precision,
        workers=workers,
        exposure=exposure,
        deblock=deblock,
        device=device,
        batch=batch,
        tile=tile,
    )
    video = EnhanceJob(
        Path("in"),
        Path("out"),
        engine=engine,
        encode=encode_options(
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            encoder_opt=encoder_opt,
            quiet=quiet,
            bitrate=bitrate,
            audio_codec=audio_codec,
        ),
        overwrite=overwrite,
        keep_partial=keep_partial,
        strict=strict,
        stabilize=stabilize,
        temporal=temporal,
    )
    from nightvid.jobs.many import ManyJob

    many = ManyJob(
        tuple(inputs),
        out_dir,
        video=video,
        jobs=jobs,
        ray_address=ray_address or None,
        gpus_per_job=gpus_per_job,
        max_retries=max_retries,
        chunk_seconds=chunk_seconds,
        suffix=suffix,
        ext=ext,
        watch=watch,
    )
    setup_logging(quiet)
    with reported(
        interrupted="interrupted; finished videos are kept: rerun the same command to resume", terminate=True
    ):
        with ProgressLine("enhance-many", quiet=quiet, json=as_json) as progress:
            summary = many.run(on_progress=lambda p: progress(p.frames, p.frames_total, note=_videos(p)))
    if as_json:
        print(json.dumps(summary.as_dict()))
    elif not quiet:
        print_summary(summary)
    if summary.count("failed"):
        raise typer.Exit(code=1)


def _videos(progress: ManyProgress) -> str:
    failed = f", {progress.videos_failed} failed" if progress.videos_failed else ""
    return f"{progress.videos_finished}/{progress.videos_total} videos{failed}"


def print_summary(summary: ManySummary) -> None:
    """The table of videos (done, failed and why; skipped ones counted when many) and the totals, on stderr."""
    table = Table(show_edge=False, pad_edge=False)
    for name, justify in (("video", "left"), ("status", "left"), ("frames", "right"), ("fps", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("seconds", justify="right")
    table.add_column("note", overflow="fold")
    skipped = [v for v in summary.videos if v.status == "skipped"]
    for v in summary.videos:
        if v.status == "skipped" and len(skipped) > SKIPPED_ROWS:
            continue
        style = {"done": "green", "failed": "red"}.get(v.status, "dim")
        note = v.reason or v.note or ""
        if v.parts > 1:
            note = f"{v.parts} parts" + (f"; {note}" if note else "")
        if v.attempts > 1:
            note = f"{note}; {v.attempts} attempts".lstrip("; ")
        if v.warnings:
            note = "; ".join([note, *v.warnings]).lstrip("; ")
        fps = f"{v.fps:.1f}" if v.status == "done" else ""
        seconds = f"{v.seconds:.1f}" if v.status == "done" else ""
        table.add_row(v.name, f"[{style}]{v.status}[/]", str(v.frames), fps, seconds, note)
    err_console.print(table, highlight=False)
    if len(skipped) > SKIPPED_ROWS:
        err_console.print(f"{len(skipped)} skipped (done before; see nightvid-manifest.jsonl)", highlight=False)
    stopped = f", {summary.count('stopped')} stopped" if summary.count("stopped") else ""
    err_console.print(
        f"{summary.count('done')} done, {summary.count('skipped')} skipped, {summary.count('failed')} failed{stopped}; "
        f"{counted(summary.frames, 'frame')} in {summary.seconds:.1f} s ({summary.fps:.1f} fps) on {summary.pool}",
        highlight=False,
        soft_wrap=True,
    )
