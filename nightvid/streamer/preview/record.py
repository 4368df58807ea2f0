"""What the preview saves: snapshots (PNG) and recordings (H.264) of the view.

A recording is encoded in its own thread (a ``Stage``), so the main loop only queues
views. Names come from the time or ``--record`` and never overwrite a file: ``-2``,
``-3``, ... are added instead.
"""

from __future__ import annotations

import queue
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.stages import END, Stage, get, put

__all__ = ["Recorder", "free_path", "recording_path", "save_snapshot"]

_MS = Fraction(1, 1000)


def free_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``... if it exists."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def save_snapshot(view: np.ndarray, folder: Path) -> Path:
    """Write the RGB ``view`` as a PNG named by the time into ``folder`` (made if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NightvidError(f"cannot create {folder} ({err.strerror})") from None
    path = free_path(folder / f"nightvid-{_stamp()}.png")
    if not cv2.imwrite(str(path), cv2.cvtColor(view, cv2.COLOR_RGB2BGR)):
        raise NightvidError(f"cannot write {path}")
    return path


def recording_path(record: Path | None, folder: Path) -> Path:
    """Where the next recording goes: ``record`` (or ``record-2``...), else a time-named MP4 in ``folder``."""
    if record is not None:
        return free_path(Path(record))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NightvidError(f"cannot record into {folder} ({err.strerror})") from None
    return free_path(folder / f"nightvid-{_stamp()}.mp4")


class Recorder:
    """Encodes RGB views to ``path`` (H.264 in the file's container) in its own thread.

    Timestamps are wall-clock milliseconds since the start, so the file plays at the
    speed the preview ran, whatever its frame rate was.
    """

    def __init__(self, path: Path, width: int, height: int) -> None:
        self.path = path
        if not path.parent.is_dir():
            raise NightvidError(f"cannot record to {path}: {path.parent} is not a directory")
        try:
            self._container = av.open(str(path), "w")
        except (av.error.FFmpegError, ValueError, OSError) as err:
            raise NightvidError(f"cannot record to {path} ({err})") from None
        stream = self._container.add_stream("libx264", rate=30, options={"preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = _MS
        self._stream, self.size = stream, (width, height)
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._stop = threading.Event()
        self._start: float | None = None
        self._last_pts = -1
        self._stage = Stage("record", self._body, self._stop)
        self._stage.start()

    def write(self, view: np.ndarray) -> None:
        """Queue one RGB view (resized to the file's size if it changed)."""
        self._check()
        put(self._queue, (view, time.monotonic()), self._stop)

    def _check(self) -> None:
        """Raise the encoding thread's error, once."""
        error, self._stage.error = self._stage.error, None
        if error is not None:
            raise NightvidError(f"recording to {self.path} failed ({error})")

    def _body(self, stop: threading.Event) -> None:
        try:
            while (item := get(self._queue, stop)) is not END:
                view, at = item
                if (view.shape[1], view.shape[0]) != self.size:
                    view = cv2.resize(view, self.size)
                self._start = at if self._start is None else self._start
                pts = max(int((at - self._start) * 1000), self._last_pts + 1)
                self._last_pts = pts
                frame = av.VideoFrame.from_ndarray(view, format="rgb24")
                # Milliseconds, stated on every frame: the muxer may change the stream's
                # time base once it writes the header (MP4 picks its own timescale).
                frame.pts, frame.time_base = pts, _MS
                self._container.mux(self._stream.encode(frame))
            self._container.mux(self._stream.encode(None))  # flush what the encoder holds
        finally:
            self._container.close()

    def close(self) -> None:
        """Finish the file: send END, join (bounded), re-raise an encoding error."""
        put(self._queue, END, self._stop)
        self._stage.join(timeout=30.0)
        if self._stage.is_alive():
            self._stop.set()
            self._stage.join(timeout=5.0)
        self._check()
