"""`nightvid preview`: a live before/after view of a camera, a stream or a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nightvid.cli.common import (
    Backend,
    Device,
    Exposure,
    Model,
    Temporal,
    Weights,
    counted,
    engine_spec,
    err_console,
    reported,
    say,
    setup_logging,
)
from nightvid.jobs.enhance import check_temporal
from nightvid.streamer import DEFAULT_TEMPORAL

__all__ = ["preview"]


def preview(
    source: Annotated[
        str, typer.Option("--source", "-s", help="camera index, /dev/videoN, video file or rtsp:// URL")
    ] = "0",
    model: Model = "noiser",
    weights: Weights = None,
    backend: Backend = "auto",
    exposure: Exposure = "default",
    device: Device = None,
    serve: Annotated[
        str | None, typer.Option(help="HOST:PORT: serve the view as an MJPEG web page instead of a window")
    ] = None,
    record: Annotated[Path | None, typer.Option(help="record the view from the start (r toggles)")] = None,
    snapshot_dir: Annotated[Path, typer.Option(help="folder for s snapshots and r recordings")] = Path("."),
    layout: Annotated[str, typer.Option(help="side (side by side) | split (the mouse moves the divider)")] = "side",
    loop: Annotated[bool, typer.Option(help="replay a file source at its end")] = False,
    temporal: Temporal = DEFAULT_TEMPORAL,
    max_frames: Annotated[int | None, typer.Option(min=1, help="stop after N shown frames")] = None,
    seconds: Annotated[float | None, typer.Option(min=0, help="stop after S seconds")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but errors")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary on stdout")] = False,
) -> None:
    """Live preview: original and enhanced side by side (q m + - s r keys); Ctrl-C stops."""
    from nightvid.streamer.preview import ModelEngines, PreviewOptions, run_preview  # cv2 before av; no torch

    setup_logging(quiet)
    options = PreviewOptions(
        layout=layout,
        serve=serve,
        record=record,
        snapshot_dir=snapshot_dir,
        max_frames=max_frames,
        seconds=seconds,
        loop=loop,
        temporal=temporal,
    )

    # one frame at a time on all threads (workers=1): the lowest latency, which a live view needs
    spec = engine_spec(model, weights=weights, backend=backend, exposure=exposure, device=device, workers=1)

    def engines() -> ModelEngines:
        """Called once the preview's cheap checks passed: only then import torch and build."""
        from nightvid.engines import engine_factory

        return engine_factory(spec)

    with reported():
        check_temporal(temporal)
        summary = run_preview(source, engines=engines, options=options, announce=None if quiet else say)
    if as_json:
        print(json.dumps(summary.as_dict()))
    elif not quiet:
        err_console.print(
            f"{counted(summary.frames, 'frame')} in {summary.seconds:.1f} s ({summary.fps:.1f} fps, "
            f"latency {summary.latency_ms:.0f} ms, {summary.dropped} dropped): "
            f"{summary.reason}",
            highlight=False,
        )
