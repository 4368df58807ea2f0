"""Checks on the output path, and the temporary file that becomes it only on success."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nightvid.errors import NightvidError

__all__ = ["check_output", "remove_stale_partials", "temporary_output"]


def check_output(src: Path, dst: Path, *, overwrite: bool) -> None:
    """Refuse outputs that would lose data or cannot be written, before any work."""
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise NightvidError(f"output is the same file as the input: {dst}")
    if dst.resolve() == src.resolve():
        raise NightvidError(f"output is the same file as the input: {dst}")
    if dst.is_dir():
        raise NightvidError(f"output is a directory: {dst}")
    if dst.exists() and not overwrite:
        raise NightvidError(f"output exists: {dst} (pass --overwrite to replace it)")
    parent = dst.parent
    if not parent.exists():
        raise NightvidError(f"output directory does not exist: {parent}")
    if not parent.is_dir():
        raise NightvidError(f"output directory is not a directory: {parent}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_partials(dst: Path) -> list[Path]:
    """Delete temporary files of ``dst`` left by runs that were killed outright (SIGKILL, power
    loss): ours are named ``.STEM.nightvid-PID-XXXXXXXX.partialEXT``, and a file whose PID
    is no longer running belongs to no one. Returns what was removed."""
    removed = []
    for path in dst.parent.glob(f".{dst.stem}.nightvid-*.partial{dst.suffix}"):
        pid_text = path.name[len(f".{dst.stem}.nightvid-") :].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def temporary_output(dst: Path) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``dst``; rename it to ``dst`` on success.

    The temporary file keeps ``dst``'s extension so the muxer picks the same format. On
    any exception (Ctrl-C, and SIGTERM/SIGHUP, which the CLI turns into one) it is
    deleted and ``dst`` is left as it was. Its name carries this process's id, so stale
    ones from killed runs can be recognised and removed (``remove_stale_partials``).
    """
    remove_stale_partials(dst)
    tmp = dst.with_name(f".{dst.stem}.nightvid-{os.getpid()}-{secrets.token_hex(4)}.partial{dst.suffix}")
    try:
        tmp.touch(exist_ok=False)
    except OSError as err:
        raise NightvidError(f"cannot write to {dst.parent}: {err.strerror or err}") from None
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
