"""`nightvid enhance` and `nightvid demo`: one video through one model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

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
from nightvid.jobs.enhance import DEFAULT_TEMPORAL, EnhanceJob, output_path
from nightvid.streamer.encode_options import EncodeOptions

__all__ = ["DEMO_CLIP", "DEMO_OUTPUT", "Duration", "Scale", "Start", "demo", "enhance", "run_job"]

DEMO_CLIP = Path(__file__).resolve().parent.parent / "assets" / "night-demo.mp4"
#: Where ``demo`` writes when not told: its own file, replaced on every run.
DEMO_OUTPUT = Path("nightvid-demo.mp4")
#: The encoding defaults, from the one place that sets them.
ENCODE = EncodeOptions()

Start = Annotated[
    str | None,
    typer.Option(
        help="enhance from this time of SRC: seconds (90, 1.5) or [HH:]MM:SS[.ms]; the output starts at 0",
        show_default="the beginning",
    ),
]
Duration = Annotated[
    str | None,
    typer.Option(
        help="enhance this long a part (seconds or [HH:]MM:SS[.ms]), as ffmpeg -ss START -i SRC -t DURATION",
        show_default="to the end",
    ),
]
Scale = Annotated[
    str | None,
    typer.Option(
        help="output size, scaled after the model: WIDTHxHEIGHT (1280x720), a height (720p) or a factor (0.5)",
        show_default="the source's",
    ),
]


def run_job(job: EnhanceJob, *, quiet: bool, as_json: bool) -> None:
    """Run ``job`` with a progress line; print its summary (or JSON); errors as one line."""
    setup_logging(quiet)
    with reported(interrupted="interrupted; no output written", terminate=True, writing=job.dst):
        with ProgressLine(f"enhance {job.src.name}", quiet=quiet, json=as_json) as progress:
            summary = job.run(on_progress=progress)
    if not quiet:
        for line in summary.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps(summary.as_dict()))
    elif not quiet:
        if summary.truncated and job.strict:
            err_console.print(
                f"[yellow]warning:[/] input was corrupt part-way; kept the "
                f"{counted(summary.frames, 'frame')} decoded before the damage"
            )
        err_console.print(
            f"{counted(summary.frames, 'frame')} in {summary.seconds:.1f} s ({summary.fps:.1f} fps) "
            f"-> [bold]{summary.output}[/]",
            highlight=False,
            soft_wrap=True,
        )


def enhance(
    src: Annotated[Path, typer.Argument(help="input video, or a photo")],
    dst: Annotated[
        str, typer.Argument(help="output video (its extension picks the container), or image for a photo (.png, .jpg)")
    ],
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
    overwrite: Annotated[bool, typer.Option(help="replace DST if it exists")] = False,
    strict: Annotated[
        bool,
        typer.Option(help="fail on any damage in SRC (default: skip what does not decode, as FFmpeg does, and warn)"),
    ] = False,
    keep_partial: Annotated[
        bool, typer.Option(help="with --strict: if SRC is damaged, keep the frames decoded before the damage")
    ] = False,
    stabilize: Stabilize = True,
    temporal: Temporal = DEFAULT_TEMPORAL,
    tile: Tile = "auto",
    start: Start = None,
    duration: Duration = None,
    scale: Scale = None,
    quiet: Quiet = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary on stdout")] = False,
) -> None:
    """Enhance every frame of SRC into DST; audio is copied untouched. A photo goes into an image."""
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
    encode = encode_options(
        codec=codec,
        crf=crf,
        preset=preset,
        pix_fmt=pix_fmt,
        encoder_opt=encoder_opt,
        quiet=quiet,
        bitrate=bitrate,
        audio_codec=audio_codec,
    )
    with reported():
        dst_path = output_path(dst)  # as typed: "out.mp4/" names a folder
    job = EnhanceJob(
        src,
        dst_path,
        engine=engine,
        encode=encode,
        overwrite=overwrite,
        keep_partial=keep_partial,
        strict=strict,
        stabilize=stabilize,
        temporal=temporal,
        start=start,
        duration=duration,
        scale=scale,
    )
    run_job(job, quiet=quiet, as_json=as_json)


def demo(
    dst: Annotated[
        Path | None,
        typer.Argument(
            help="where to write the result; an existing file is replaced only with --overwrite",
            show_default=f"{DEMO_OUTPUT}, replaced if it exists",
        ),
    ] = None,
    model: Model = "noiser",
    overwrite: Annotated[bool, typer.Option(help="replace DST if it exists")] = False,
    quiet: Quiet = False,
) -> None:
    """Enhance the bundled dark dashcam clip (with its audio) and say where the result is."""
    out = DEMO_OUTPUT if dst is None else dst
    job = EnhanceJob(DEMO_CLIP, out, engine=engine_spec(model), overwrite=overwrite or dst is None)
    run_job(job, quiet=quiet, as_json=False)
    print(out.resolve())
