"""`nightvid cache list` and `nightvid cache clear`: what the engine cache holds, and making room."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from nightvid.cli.common import err_console, reported

if TYPE_CHECKING:
    from nightvid.engines.cache import CachedFile

__all__ = ["app", "clear", "list_cmd"]

app = typer.Typer(
    help="The engine cache: compiled engines, what `--backend auto` chose, fused kernels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CacheDir = Annotated[Path | None, typer.Option(help="engine cache (default: $NIGHTVID_CACHE_DIR or the user cache)")]


def _as_dict(entry: CachedFile) -> dict:
    return {
        "kind": entry.kind,
        "model": entry.model,
        "backend": entry.backend,
        "detail": entry.detail,
        "bytes": entry.size,
        "created": entry.created,
        "files": [str(p) for p in entry.paths],
    }


def _size(size: int) -> str:
    """Bytes as B, KiB or MiB."""
    if size < 2**10:
        return f"{size} B"
    return f"{size / 2**10:.1f} KiB" if size < 2**20 else f"{size / 2**20:.1f} MiB"


@app.command("list")
def list_cmd(
    cache_dir: CacheDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="the entries as JSON on stdout")] = False,
) -> None:
    """What the engine cache holds: each engine (model, backend, size, date), `auto`'s choices, the fused kernels."""
    from nightvid.engines.cache import default_cache_dir, list_entries

    with reported():
        folder = cache_dir or default_cache_dir()
        entries = list_entries(folder)
    if as_json:
        print(json.dumps({"folder": str(folder), "entries": [_as_dict(e) for e in entries]}, indent=2))
        return
    total = sum(e.size for e in entries)
    what = "entry" if len(entries) == 1 else "entries"
    err_console.print(f"{folder}: {len(entries)} {what}, {_size(total)}", highlight=False, soft_wrap=True)
    if not entries:
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("kind", "model", "backend", "size", "made", "detail", "file"):
        table.add_column(name, overflow="fold", justify="right" if name == "size" else "left")
    for entry in entries:
        made = entry.created[:16].replace("T", " ")
        table.add_row(
            entry.kind, entry.model, entry.backend, _size(entry.size), made, entry.detail, entry.paths[0].name
        )
    Console().print(table)


@app.command()
def clear(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="only this model's engines and auto choices (and its chains')")
    ] = None,
    cache_dir: CacheDir = None,
) -> None:
    """Delete the engine cache's entries (all, or one model's); they are built again when next needed."""
    from nightvid.engines.cache import default_cache_dir, remove_entries

    with reported():
        folder = cache_dir or default_cache_dir()
        gone = remove_entries(folder, model=model)
    freed = sum(e.size for e in gone)
    what = "entry" if len(gone) == 1 else "entries"
    err_console.print(f"removed {len(gone)} {what} ({_size(freed)}) from {folder}", highlight=False, soft_wrap=True)
