"""`nightvid models` and `nightvid compile`: what there is, and building it ahead of time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nightvid.cli.common import Weights, err_console, reported, setup_logging

__all__ = ["compile_cmd", "models"]


def models(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the models, their sizes and whether weights ship with nightvid."""
    from nightvid.jobs.models import describe_models

    rows = describe_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("model", "params", "input range", "multiple", "weights", "what it does")
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['params']:,}",
            str(tuple(row["input_range"])),
            str(row["size_multiple"]),
            row["weights"] or "none (train first)",
            row["summary"],
        )
    Console().print(table)


def compile_cmd(
    model: Annotated[str, typer.Argument(help="see `nightvid models`")],
    weights: Weights = None,
    backend: Annotated[str, typer.Option(help="inductor|onnx|tensorrt")] = "inductor",
    device: Annotated[str | None, typer.Option(help="cpu|cuda|cuda:N (default: cuda if present)")] = None,
    precision: Annotated[str, typer.Option(help="fp32|fp16|bf16")] = "fp32",
    min_shape: Annotated[str | None, typer.Option("--min", help="smallest batch, BxHxW")] = None,
    opt_shape: Annotated[str | None, typer.Option("--opt", help="batch to tune for, BxHxW")] = None,
    max_shape: Annotated[str | None, typer.Option("--max", help="largest batch, BxHxW")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="engine cache (default: $NIGHTVID_CACHE_DIR or the user cache)")
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="build even if a valid artifact is cached")] = False,
) -> None:
    """Compile MODEL into the engine cache (or verify the cached artifact); print its path."""
    from nightvid.engines import compile_engine, default_range

    setup_logging(quiet=False)
    with reported():
        shape_range = default_range(backend).override(min_shape, opt_shape, max_shape)
        entry = compile_engine(
            model,
            weights=weights or "default",
            backend=backend,
            device=device,
            precision=precision,
            shape_range=shape_range,
            cache_dir=cache_dir,
            rebuild=rebuild,
        )
    built = f"built in {entry.build_seconds:.1f} s" if entry.built else "cached"
    verified = entry.meta.get("verified_psnr_db")
    matches = f"matches eager on a test frame ({verified} dB)" if verified != "identical" else "equals eager"
    err_console.print(f"{built}, loads in {entry.load_seconds:.2f} s, {matches}: {shape_range}", highlight=False)
    print(entry.artifact)
