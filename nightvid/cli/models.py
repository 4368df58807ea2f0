"""`nightvid models` and `nightvid compile`: what there is, and building it ahead of time."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nightvid.cli.common import (
    Deblock,
    Device,
    Exposure,
    Precision,
    Weights,
    engine_spec,
    err_console,
    reported,
    setup_logging,
)

__all__ = ["compile_cmd", "models"]


def models(
    as_json: Annotated[bool, typer.Option("--json", help="every fact of every model as JSON on stdout")] = False,
) -> None:
    """List the models: size, speed class, shipped weights, which is the default, what each does."""
    from nightvid.jobs.models import SPEED_CLASSES, describe_models

    rows = describe_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    console = Console()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("model", overflow="fold")
    table.add_column("params", justify="right", overflow="fold")
    table.add_column("speed", overflow="fold")
    table.add_column("weights", overflow="fold")
    for row in rows:
        speed = "?" if row["speed"] is None else f"{row['speed']} ({_thousands(row['macs_per_pixel'])} MAC/px)"
        weights = (
            "none (train first)" if row["weights"] is None else f"{row['weights']} ({_size(row['weights_bytes'])})"
        )
        table.add_row(row["name"] + (" *" if row["default"] else ""), f"{row['params']:,}", speed, weights)
    console.print(table)
    console.print("* the default: the model that runs when --model is not given", highlight=False)
    classes = ", ".join(
        f"{name} above" if math.isinf(bound) else f"{name} under {_thousands(int(bound))}"
        for name, bound in SPEED_CLASSES
    )
    console.print(f"speed: from the multiply-adds per pixel; {classes}", highlight=False)
    for row in rows:
        console.print(f"[bold]{row['name']}[/]: {escape(row['summary'])}", highlight=False)


def _thousands(count: int) -> str:
    """``1728`` -> ``"1.7k"``, ``525414`` -> ``"525k"``."""
    return f"{count / 1000:.1f}k" if count < 10_000 else f"{count / 1000:.0f}k"


def _size(size: int) -> str:
    """Bytes as KiB or MiB, one decimal."""
    return f"{size / 2**10:.1f} KiB" if size < 2**20 else f"{size / 2**20:.1f} MiB"


def compile_cmd(
    model: Annotated[str, typer.Argument(help="see `nightvid models`")],
    weights: Weights = None,
    backend: Annotated[str, typer.Option(help="inductor|onnx|tensorrt")] = "inductor",
    device: Device = None,
    precision: Precision = "auto",
    exposure: Exposure = "default",
    deblock: Deblock = True,
    min_shape: Annotated[str | None, typer.Option("--min", help="smallest batch, BxHxW")] = None,
    opt_shape: Annotated[str | None, typer.Option("--opt", help="batch to tune for, BxHxW")] = None,
    max_shape: Annotated[str | None, typer.Option("--max", help="largest batch, BxHxW")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="engine cache (default: $NIGHTVID_CACHE_DIR or the user cache)")
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="build even if a valid artifact is cached")] = False,
) -> None:
    """Compile MODEL into the engine cache (or verify the cached artifact); print its path.

    `enhance` with the same model, weights, backend, precision, exposure and --deblock
    loads it."""
    from nightvid.engines import compile_engine, default_range

    setup_logging(quiet=False)
    with reported():
        shape_range = default_range(backend).override(min_shape, opt_shape, max_shape)
        spec = engine_spec(
            model,
            weights=weights,
            backend=backend,
            device=device,
            precision=precision,
            exposure=exposure,
            deblock=deblock,
        )
        entry = compile_engine(spec, shape_range=shape_range, cache_dir=cache_dir, rebuild=rebuild)
    built = f"built in {entry.build_seconds:.1f} s" if entry.built else "cached"
    verified = entry.meta.get("verified_psnr_db")
    matches = f"matches eager on a test frame ({verified} dB)" if verified != "identical" else "equals eager"
    err_console.print(f"{built}, loads in {entry.load_seconds:.2f} s, {matches}: {shape_range}", highlight=False)
    print(entry.artifact)
