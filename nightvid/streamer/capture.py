"""Live sources for the preview, and the capture thread that keeps only the newest frame.

``open_source`` turns the ``--source`` text into a ``Source``:

- a digit (``0``) or ``/dev/videoN``: a camera through ``cv2.VideoCapture``, which knows
  every platform's camera API (V4L2, AVFoundation, DirectShow/MSMF) and negotiates the
  camera's formats itself;
- ``scheme://...`` (rtsp, http, udp, ...): a network stream through PyAV, opened with
  timeouts, RTSP over TCP and slice-threaded decoding (frame threading would hold frames
  back, i.e. add latency);
- anything else: a video file through PyAV and ``decode.open_input``, so a bad file gives
  the same one-line errors as ``nightvid enhance`` and colours follow the file's tags.

Files are not live: the capture thread releases their frames at their pts (wall clock),
so a file behaves like a camera of the file's frame rate, and ``loop=True`` replays it.

``LatestFrameCapture`` reads a source in its own thread (a ``Stage``) into a queue of one
slot: a new frame replaces the one the consumer has not taken yet, and the replaced frame
is counted as dropped. However slow the consumer, the frame it takes is at most one
source frame interval old.
"""

from __future__ import annotations

import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.colour import tags_for
from nightvid.streamer.decode import iter_frames, open_input
from nightvid.streamer.stages import END, Stage, get

__all__ = ["Captured", "LatestFrameCapture", "Source", "open_source", "redact"]

log = logging.getLogger(__name__)

_CAMERA_PATH = re.compile(r"^/dev/video(\d+)$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
#: Seconds to wait for a network stream to open, and for each read.
NETWORK_TIMEOUT_S = 10.0
#: A paced file that falls this far behind its clock (slow decoding) resynchronises
#: instead of releasing a burst of late frames.
_MAX_LAG_S = 0.5


class Source(Protocol):
    """Something that yields RGB frames until it ends, is stopped, or fails."""

    #: How the source is named in messages (URL passwords redacted).
    name: str
    #: True for cameras and network streams (they pace themselves); False for files.
    live: bool

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float | None]]:
        """``(uint8 (H, W, 3) RGB, time in seconds or None)`` until the end or ``stop``."""
        ...

    def close(self) -> None: ...


def redact(url: str) -> str:
    """``rtsp://user:secret@host/`` -> ``rtsp://user:***@host/`` for messages and logs."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


class CameraSource:
    """A local camera through ``cv2.VideoCapture`` (index or device path)."""

    live = True

    def __init__(self, device: int | str) -> None:
        import cv2

        self.name = f"camera {device}"
        if sys.platform.startswith("linux"):
            path = device if isinstance(device, str) else f"/dev/video{device}"
            if not Path(path).exists():
                raise NightvidError(
                    f"no camera at {path} (no such device); pass a video file or an rtsp:// URL as --source"
                )
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            self._cap.release()
            raise NightvidError(
                f"cannot open {self.name}: the device exists but does not "
                "open as a camera (busy, or not a capture device)"
            )
        self._cv2 = cv2

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float | None]]:
        count = 0
        while not stop.is_set():
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                if count == 0:
                    raise NightvidError(f"{self.name} opened but delivers no frames")
                raise NightvidError(f"{self.name} stopped delivering frames after {count}")
            count += 1
            yield self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB), None

    def close(self) -> None:
        self._cap.release()


class FileSource:
    """A video file through PyAV; ``loop=True`` starts it again at its end."""

    live = False

    def __init__(self, path: Path, *, loop: bool = False) -> None:
        self.path, self.loop, self.name = path, loop, str(path)
        self._container, self.info = open_input(path)  # clear errors for bad files, now

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float | None]]:
        interval = float(1 / self.info.rate) if self.info.rate else 1 / 25
        offset = 0.0
        while True:
            tags, first, last, count = None, 0.0, 0.0, 0
            for frame in iter_frames(self._container):
                if stop.is_set():
                    return
                tags = tags or tags_for(frame)
                t = frame.time if frame.time is not None else count * interval
                first = t if count == 0 else first
                last, count = t, count + 1
                yield tags.to_rgb(frame), offset + t - first
            if not self.loop or count == 0 or stop.is_set():
                return
            offset += last - first + interval  # the replay continues the clock
            self._container.close()
            self._container, _ = open_input(self.path)

    def close(self) -> None:
        self._container.close()


class StreamSource:
    """A network stream (rtsp://, http://, udp://, ...) through PyAV."""

    live = True

    def __init__(self, url: str) -> None:
        self.url, self.name = url, redact(url)
        options = {"rtsp_transport": "tcp"} if url.startswith(("rtsp://", "rtsps://")) else {}
        try:
            self._container = av.open(
                url, options=options, metadata_errors="ignore", timeout=(NETWORK_TIMEOUT_S, NETWORK_TIMEOUT_S)
            )
        except av.error.FFmpegError as err:
            reason = getattr(err, "strerror", None) or str(err)
            raise NightvidError(f"cannot open stream {self.name} ({reason})") from None
        if not self._container.streams.video:
            self._container.close()
            raise NightvidError(f"stream {self.name} has no video")

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float | None]]:
        stream = self._container.streams.video[0]
        stream.thread_type = "SLICE"  # frame threads would delay every frame by a few
        tags = None
        try:
            for frame in self._container.decode(stream):
                if stop.is_set():
                    return
                tags = tags or tags_for(frame)
                yield tags.to_rgb(frame), frame.time
        except av.error.FFmpegError as err:
            reason = getattr(err, "strerror", None) or str(err)
            raise NightvidError(f"stream {self.name} failed ({reason})") from None

    def close(self) -> None:
        self._container.close()


def open_source(text: str, *, loop: bool = False) -> Source:
    """The source named by ``--source``; a ``NightvidError`` says why it cannot be read.

    Example:
        >>> open_source("/no/such/clip.mp4")
        Traceback (most recent call last):
        ...
        nightvid.errors.NightvidError: input not found: /no/such/clip.mp4
    """
    text = text.strip()
    if not text:
        raise NightvidError("empty --source; pass a camera index, /dev/videoN, a file or a URL")
    if text.isdigit():
        return CameraSource(int(text))
    if _CAMERA_PATH.match(text):
        return CameraSource(text)
    if _URL.match(text) and not text.startswith("file://"):
        if loop:
            log.warning("--loop has no effect on a live stream")
        return StreamSource(text)
    return FileSource(Path(text.removeprefix("file://")), loop=loop)


@dataclass(frozen=True)
class Captured:
    """One frame as the capture thread got it."""

    #: uint8 ``(H, W, 3)`` RGB.
    frame: np.ndarray
    #: ``time.monotonic()`` when the frame was captured (released, for a paced file).
    at: float
    #: 0, 1, 2, ... in source order; a gap means frames were dropped.
    index: int


class LatestFrameCapture:
    """Reads ``source`` in a thread and keeps only its newest frame for the consumer.

    Files are paced by their timestamps (``paced=None`` means: unless the source is
    live). ``read`` returns the newest frame not yet taken, ``None`` when none arrived
    within ``timeout``, or ``END`` once the source ended or failed; ``close`` stops the
    thread, joins it and re-raises the error it died of.
    """

    def __init__(self, source: Source, *, paced: bool | None = None) -> None:
        self.source = source
        self.paced = (not source.live) if paced is None else paced
        self.captured = 0
        self.dropped = 0
        self._slot: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._stage = Stage("capture", self._body, self._stop, out=self._slot)
        self._stage.start()

    def _body(self, stop: threading.Event) -> None:
        origin: float | None = None  # monotonic time of the source's t = 0
        try:
            for frame, t in self.source.frames(stop):
                if self.paced and t is not None:
                    now = time.monotonic()
                    origin = now - t if origin is None else origin
                    delay = origin + t - now
                    if delay > 0 and stop.wait(delay):
                        return
                    if delay < -_MAX_LAG_S:
                        origin = now - t
                self._offer(Captured(frame, time.monotonic(), self.captured))
                if stop.is_set():
                    return
        finally:
            self.source.close()

    def _offer(self, item: Captured) -> None:
        """Put ``item`` in the slot, replacing (dropping) a frame nobody took yet."""
        self.captured += 1
        while True:
            try:
                self._slot.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._slot.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass  # the consumer took it meanwhile

    def read(self, timeout: float = 0.05) -> Captured | object | None:
        """The newest untaken frame, ``None`` after ``timeout`` without one, or ``END``."""
        if self._stop.is_set() and self._slot.empty():
            return END
        try:
            return self._slot.get(timeout=timeout)
        except queue.Empty:
            return None

    def frames(self) -> Iterator[Captured]:
        """Every frame the consumer gets, until the source ends (for tests and scripts)."""
        while (item := get(self._slot, threading.Event())) is not END:
            yield item

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading, join the thread (bounded) and re-raise what it died of."""
        self._stop.set()
        self._stage.join(timeout)
        if self._stage.is_alive():
            log.warning("capture thread of %s did not stop within %.0f s", self.source.name, timeout)
        if self._stage.error is not None:
            raise self._stage.error
