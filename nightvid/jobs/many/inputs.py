"""What ``enhance-many`` was given, as a list of videos and the outputs that mirror them.

An input is a video file, a folder (searched recursively for video files by extension),
a glob (``"cam*/2024-*.mp4"``, ``**`` included, for shells that did not expand it) or a
text file (``.txt``/``.list``) with one such input per line (blank lines and ``#``
comments skipped; relative paths are relative to the list's folder).

Outputs mirror the inputs' tree under the output folder: each video's path relative to
the common folder of all inputs (a folder given alone is that folder itself) is
recreated there, with ``suffix`` added to the name and the same extension unless
``ext`` says otherwise. Two inputs that would land on the same output, or an output
that would replace its input, are refused before anything runs.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from nightvid.errors import NightvidError
from nightvid.jobs.many.manifest import MANIFEST_NAME

__all__ = ["LIST_SUFFIXES", "VIDEO_SUFFIXES", "Item", "find_videos", "output_name"]

#: What a folder search takes for a video (files named explicitly are taken as they are).
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .m2ts .mts .mpg .mpeg .flv .wmv .3gp .mxf .ogv .dv .vob .gif".split()
)
#: A file given as input with one of these extensions is a list of inputs, one a line.
LIST_SUFFIXES = frozenset({".txt", ".list", ".lst"})
_MAGIC = set("*?[")


@dataclass(frozen=True)
class Item:
    """One video to enhance: its absolute source and output paths, and its key in the manifest."""

    src: Path
    dst: Path
    #: ``dst`` relative to the output folder, with forward slashes.
    key: str


def find_videos(
    inputs: Sequence[str | Path],
    out_dir: Path,
    *,
    suffix: str = "",
    ext: str | None = None,
    quiet_missing: bool = False,
) -> list[Item]:
    """The videos named by ``inputs``, each with its mirrored output under ``out_dir``.

    Raises NightvidError for an input that does not exist (unless ``quiet_missing``:
    ``--watch`` rescans tolerate files that went away), a glob that matches nothing, a
    list file that cannot be read, two inputs with one output, or an output that is its input.
    """
    out_dir = Path(out_dir).absolute()
    ext = _normal_ext(ext)
    found: list[tuple[Path, Path]] = []  # (root, video)
    for raw in inputs:
        found.extend(_expand(str(raw), out_dir, quiet_missing=quiet_missing, base=Path.cwd(), nested=False))
    if not found:
        return []
    root = Path(os.path.commonpath([str(r) for r, _ in found]))
    items: dict[Path, Item] = {}
    by_output: dict[Path, Path] = {}
    for _, video in found:
        if video in items:
            continue
        rel = video.relative_to(root)
        dst = out_dir / rel.parent / output_name(rel.name, suffix=suffix, ext=ext)
        if dst in by_output:
            raise NightvidError(f"{by_output[dst]} and {video} would both be written to {dst}; use --suffix or --ext")
        if dst == video:
            raise NightvidError(f"the output of {video} would replace it; choose another --out-dir or a --suffix")
        by_output[dst] = video
        items[video] = Item(video, dst, dst.relative_to(out_dir).as_posix())
    # With the output folder inside an input folder, earlier outputs are found again: not inputs.
    outputs = set(by_output)
    return sorted((item for item in items.values() if item.src not in outputs), key=lambda item: item.key)


def output_name(name: str, *, suffix: str = "", ext: str | None = None) -> str:
    """``night.mp4`` -> ``night-bright.mp4`` with ``suffix="-bright"``, or ``night.mkv`` with ``ext=".mkv"``."""
    path = Path(name)
    return f"{path.stem}{suffix}{_normal_ext(ext) or path.suffix}"


def _normal_ext(ext: str | None) -> str | None:
    if not ext:
        return None
    ext = ext if ext.startswith(".") else f".{ext}"
    if "/" in ext or len(ext) < 2:
        raise NightvidError(f"--ext takes an extension such as mkv or .mp4, got {ext!r}")
    return ext


def _expand(text: str, out_dir: Path, *, quiet_missing: bool, base: Path, nested: bool) -> Iterator[tuple[Path, Path]]:
    """(root, video) pairs for one input argument or list line."""
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = base / path
    path = Path(os.path.abspath(path))
    if not path.exists() and _MAGIC & set(text):
        matches = sorted(glob.glob(str(path), recursive=True))
        if not matches and not quiet_missing:
            raise NightvidError(f"no file matches {text!r}")
        root = _glob_root(path)
        for match in map(Path, matches):
            if match.is_dir():
                yield from ((root, video) for video in _folder_videos(match, out_dir))
            elif match.is_file() and not _hidden(match) and not _inside(match, out_dir):
                yield root, match
        return
    if path.is_dir():
        yield from ((path, video) for video in _folder_videos(path, out_dir))
    elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        if nested:
            raise NightvidError(f"{path}: a list of inputs cannot name another list")
        for line in _list_lines(path):
            yield from _expand(line, out_dir, quiet_missing=quiet_missing, base=path.parent, nested=True)
    elif path.exists():
        yield path.parent, path
    elif not quiet_missing:
        raise NightvidError(f"input not found: {text}")


def _list_lines(path: Path) -> Iterable[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise NightvidError(f"cannot read the list of inputs {path}: {err}") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


def _glob_root(pattern: Path) -> Path:
    """The folder part of a glob before its first wildcard."""
    parts = []
    for part in pattern.parts:
        if _MAGIC & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path("/")


def _folder_videos(folder: Path, out_dir: Path) -> Iterator[Path]:
    """Video files under ``folder`` by extension, hidden files and folders and ``out_dir`` left out,
    and so is every folder below that holds a manifest: another run's outputs, not inputs."""
    for here, dirs, files in os.walk(folder):
        top = Path(here)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and not _inside(top / d, out_dir) and not (top / d / MANIFEST_NAME).exists()
        )
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_SUFFIXES:
                yield top / name


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
