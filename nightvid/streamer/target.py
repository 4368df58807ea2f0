"""Checks on the output path, and the temporary file that becomes it only on success."""

from __future__ import annotations

import glob
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nightvid.errors import NightvidError

__all__ = ["check_output", "partial_files", "remove_stale_partials", "temporary_output"]


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
    stem = _partial_stem(dst)
    for path in partial_files(dst):
        pid_text = path.name[len(f".{stem}.nightvid-") :].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


#: What a temporary name adds to the output's stem: ``.`` ``.nightvid-`` PID ``-`` 8 hex ``.partial``.
_ADDED = len(".") + len(".nightvid-") + 10 + len("-") + 8 + len(".partial")


def partial_files(dst: Path) -> list[Path]:
    """The temporary files of ``dst`` there are now, this run's and others', alive or not."""
    pattern = f".{glob.escape(_partial_stem(dst))}.nightvid-*.partial{glob.escape(dst.suffix)}"
    return list(dst.parent.glob(pattern))


def _partial_stem(dst: Path) -> str:
    """``dst``'s stem as its temporary name holds it: shortened (a prefix and a hash of the
    whole) when the name would pass the folder's limit, so that any name legal for the
    output has a temporary name too."""
    try:
        limit = os.pathconf(dst.parent if str(dst.parent) else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    room = limit - _ADDED - len(os.fsencode(dst.suffix))
    stem = dst.stem
    if len(os.fsencode(stem)) <= room:
        return stem
    digest = hashlib.sha256(os.fsencode(stem)).hexdigest()[:8]
    keep = os.fsencode(stem)[: max(0, room - len(digest) - 1)].decode(errors="ignore")
    return f"{keep}~{digest}"


@contextmanager
def temporary_output(dst: Path, *, overwrite: bool | None = None) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``dst``; rename it to ``dst`` on success.

    The temporary file keeps ``dst``'s extension so the muxer picks the same format. On
    any exception (Ctrl-C, and SIGTERM/SIGHUP, which the CLI turns into one) it is
    deleted and ``dst`` is left as it was. Its name carries this process's id, so stale
    ones from killed runs can be recognised and removed (``remove_stale_partials``).
    The rename replaces a file under ``dst`` only with ``overwrite`` (None: only if one was
    there at the start, which ``check_output`` allowed): one that appeared meanwhile,
    another run's finished output, is kept and this one discarded (``_rename_into_place``).
    """
    remove_stale_partials(dst)
    replace = dst.exists() if overwrite is None else overwrite
    tmp = dst.with_name(f".{_partial_stem(dst)}.nightvid-{os.getpid()}-{secrets.token_hex(4)}.partial{dst.suffix}")
    try:
        tmp.touch(exist_ok=False)
    except OSError as err:
        raise NightvidError(f"cannot write to {dst.parent}: {err.strerror or err}") from None
    try:
        yield tmp
        _rename_into_place(tmp, dst, replace=replace)
    finally:
        tmp.unlink(missing_ok=True)


def _rename_into_place(tmp: Path, dst: Path, *, replace: bool) -> None:
    """``tmp`` becomes ``dst``; unless ``replace``, never over a file that is there now.

    ``os.link`` fails when ``dst`` exists, atomically (a check and a rename could both
    pass in two runs at once); where hard links are not made (FAT, some network shares)
    the check comes just before the rename.
    """
    if replace:
        os.replace(tmp, dst)
        return
    appeared = NightvidError(
        f"output appeared while this run wrote it: {dst} (another run?); it was kept and nothing was written"
    )
    try:
        os.link(tmp, dst)
    except FileExistsError:
        raise appeared from None
    except OSError:
        if os.path.lexists(dst):
            raise appeared from None
        os.replace(tmp, dst)
