"""The record in the output folder of what ``enhance-many`` finished, so a rerun skips it.

``nightvid-manifest.jsonl`` holds one JSON object a line, appended and fsynced as work
happens; for each output the last line wins:

- ``{"event": "start", "output": KEY, "input": ...}`` before a video's first task is
  sent to a worker: an output file that exists later was written by nightvid, and a
  rerun may replace it without ``--overwrite``;
- ``{"event": "done", "output": KEY, "input": ..., "size": ..., "mtime_ns": ...,
  "sha256": ..., "options": {...}, "output_size": ..., "frames": ..., ...}`` after the
  output was renamed into place.

A video is finished when its last line is ``done`` with the same options, its output
exists with the recorded size, and its input has the recorded size and mtime, or,
when only the mtime moved (a copy, a ``touch``), the recorded sha256. A line torn by a
crash is ignored (that video is redone; its output is replaced atomically). Opening
the manifest takes a lock beside it (``filelock``; the lock file is removed when the run
ends), so two runs never share an output folder, and rewrites the file without superseded lines.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from nightvid.errors import NightvidError
from nightvid.files import atomic_write

__all__ = ["LOCK_NAME", "MANIFEST_NAME", "Fingerprint", "Manifest", "file_sha256"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "nightvid-manifest.jsonl"
LOCK_NAME = ".nightvid-manifest.lock"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """An input as it was read: size, mtime and content hash."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        """Stat and hash ``path`` (the stat is taken first: a file changed meanwhile no longer matches it)."""
        size, mtime_ns = stat_of(path)
        return cls(size, mtime_ns, file_sha256(path))

    def same_stat(self, path: Path) -> bool:
        """``path`` has this size and mtime now (False if it is gone)."""
        try:
            return stat_of(path) == (self.size, self.mtime_ns)
        except OSError:
            return False


def stat_of(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_size, info.st_mtime_ns


class Manifest:
    """The manifest of one output folder, open (and locked) inside a ``with`` block."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self._lock = FileLock(str(self.out_dir / LOCK_NAME))
        self._records: dict[str, dict[str, Any]] = {}
        self._handle: IO[str] | None = None

    def __enter__(self) -> Manifest:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:  # (an OSError: checked first)
            raise NightvidError(
                f"another enhance-many is writing to {self.out_dir} (it holds {self._lock.lock_file}); "
                "wait for it or choose another --out-dir"
            ) from None
        except OSError as err:
            raise NightvidError(f"cannot write to {self.out_dir}: {err.strerror or err}") from None
        try:
            self._records = self._read()
            lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self._records.values())
            atomic_write(self.path, lambda handle: handle.write(lines), mode="w")
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        except OSError as err:
            self._unlock()
            raise NightvidError(f"cannot write the manifest {self.path}: {err.strerror or err}") from None
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
        finally:
            self._unlock()

    def _unlock(self) -> None:
        """Remove the lock file while it is held, then release it: no run leaves it behind.

        A run that opened the file just before and locks it after holds a lock on a file
        that is gone; filelock sees that (no links left) and locks the new file instead.
        """
        try:
            with contextlib.suppress(OSError):  # (Windows: an open file stays; filelock removes it on release)
                Path(self._lock.lock_file).unlink(missing_ok=True)
        finally:
            self._lock.release()

    def _read(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return records
        except (OSError, UnicodeDecodeError) as err:
            raise NightvidError(f"cannot read the manifest {self.path}: {err}") from None
        for number, line in enumerate(text.splitlines(), 1):
            try:
                record = json.loads(line)
                key = record["output"]
            except (ValueError, KeyError, TypeError):
                log.warning("%s line %d is damaged (a run was killed while writing it); ignored", self.path, number)
                continue
            records[key] = record
        return records

    def _append(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            raise NightvidError("internal error: the manifest is not open")
        self._records[record["output"]] = record
        try:
            self._handle.write(json.dumps(record, sort_keys=True) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as err:
            raise NightvidError(
                f"cannot write the manifest {self.path}: {err.strerror or err}; "
                "the outputs written so far are complete, rerun to finish"
            ) from None

    def get(self, key: str) -> dict[str, Any] | None:
        """The last record of output ``key``, if any."""
        return self._records.get(key)

    def started(self, key: str, src: Path) -> None:
        """Record that nightvid is about to write output ``key``."""
        if self._records.get(key, {}).get("event") != "start":
            self._append({"event": "start", "output": key, "input": str(src), "at": _now()})

    def finished(self, key: str, src: Path, fingerprint: Fingerprint, options: dict[str, Any], **facts: Any) -> None:
        """Record output ``key`` as done from ``src`` as it was (``fingerprint``) with ``options``."""
        output = self.out_dir / key
        record = {
            "event": "done",
            "output": key,
            "input": str(src),
            "size": fingerprint.size,
            "mtime_ns": fingerprint.mtime_ns,
            "sha256": fingerprint.sha256,
            "options": options,
            "output_size": output.stat().st_size,
            "at": _now(),
            **facts,
        }
        self._append(record)

    def is_finished(self, key: str, src: Path, options: dict[str, Any]) -> bool:
        """Whether output ``key`` is done from ``src`` as it is now, with these ``options``.

        Hashes ``src`` only when its size matches but its mtime does not; a match then
        records the new mtime, so the next run need not hash it again.
        """
        record = self._records.get(key)
        if record is None or record.get("event") != "done" or record.get("options") != options:
            return False
        output = self.out_dir / key
        try:
            if output.stat().st_size != record.get("output_size"):
                return False
            size, mtime_ns = stat_of(src)
        except OSError:
            return False
        if size != record.get("size"):
            return False
        if mtime_ns == record.get("mtime_ns"):
            return True
        try:
            digest = file_sha256(src)
        except OSError:
            return False
        if digest != record.get("sha256"):
            return False
        self._append({**record, "mtime_ns": mtime_ns, "at": _now()})
        return True


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
