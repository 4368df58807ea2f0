"""Where the view goes: an OpenCV window (with its Qt/X11 workarounds) or the MJPEG web page.

Both are a ``View``: ``show`` a view, collect the ``events`` (keys, the split divider
dragged by the mouse) since the last call, tell whether the user ``closed`` it, ``close``.
Everything here runs on the main thread: OpenCV's GUI must.

Why the workarounds:

- ``cv2.imshow`` without a usable display aborts the whole process (Qt calls abort), so
  ``check_display`` opens a window in a throw-away subprocess first;
- opencv-python points Qt at a font folder its wheel does not ship (``_fix_qt_fonts``);
- OpenCV's and PyAV's wheels bundle libxcb extension libraries under the same names: if
  PyAV's are loaded first, OpenCV's Qt waits forever for the X server's reply to a
  MIT-SHM query (``_xcb_conflict``). ``nightvid.streamer.preview`` imports cv2 before
  anything imports av for that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.preview.keys import key_name
from nightvid.streamer.preview.serve import MjpegServer

__all__ = ["WINDOW_TITLE", "Event", "ServeView", "View", "WindowView", "check_display"]

WINDOW_TITLE = "nightvid preview"
#: ``("key", "q")`` or ``("split", 0.3)``: a key pressed, or the divider moved to a fraction of the width.
Event = tuple[Literal["key"], str] | tuple[Literal["split"], float]

_PROBE = "import cv2\ncv2.namedWindow('nightvid-probe')\ncv2.waitKey(1)\ncv2.destroyAllWindows()\ncv2.waitKey(1)\n"


class View(Protocol):
    """A place to show the preview's view and take the user's input from."""

    @property
    def closed(self) -> bool:
        """Whether the user closed it."""
        ...

    def show(self, view_rgb: np.ndarray) -> None: ...

    def events(self) -> list[Event]:
        """Input since the last call, oldest first."""
        ...

    def close(self) -> None: ...


def check_display() -> None:
    """Raise a clear ``NightvidError`` unless an OpenCV window can open here.

    ``cv2.imshow`` without a usable display aborts the whole process (Qt calls abort),
    which no ``try`` catches. So: on Linux, no ``DISPLAY``/``WAYLAND_DISPLAY`` is an
    error at once; otherwise a throw-away subprocess opens a window first, and its
    failure (a stale ``DISPLAY``, a headless OpenCV build) becomes the error instead.
    """
    hint = "use --serve HOST:PORT to watch the preview in a browser"
    if sys.platform.startswith("linux"):
        display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        if not display:
            raise NightvidError(f"no display (DISPLAY is not set): {hint}")
    else:
        display = "the desktop"
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise NightvidError(f"opening a window on {display} did not finish in 30 s: {hint}") from None
    if probe.returncode != 0:
        lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
        reason = next(
            (line for line in lines if "display" in line.lower()),
            lines[-1] if lines else f"exit status {probe.returncode}",
        )
        raise NightvidError(f"cannot open a window on display {display} ({reason}): {hint}")


def _fix_qt_fonts() -> None:
    """opencv-python points Qt at a font folder its wheel does not ship; use the system's."""
    fonts = os.environ.get("QT_QPA_FONTDIR")
    if fonts and not Path(fonts).is_dir():
        for candidate in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
            if Path(candidate).is_dir():
                os.environ["QT_QPA_FONTDIR"] = candidate
                return


def _xcb_conflict() -> bool:
    """True if PyAV's bundled xcb extension libraries are loaded (PyAV imported before cv2).

    OpenCV's Qt would then bind to them with its own libxcb and wait forever for the X
    server's reply to a MIT-SHM query; a clear error is better than a hung window.
    """
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    return re.search(r"/av\.libs/libxcb-[a-z]", maps) is not None


class WindowView:
    """An OpenCV window (main thread only); the mouse moves the split divider."""

    def __init__(self, title: str = WINDOW_TITLE) -> None:
        if _xcb_conflict():
            raise NightvidError(
                "cannot open a window in this process: PyAV was imported before "
                "OpenCV (import cv2 first); use --serve HOST:PORT"
            )
        _fix_qt_fonts()
        self.title = title
        self._shown = False
        self._splits: list[float] = []
        self._width = 1
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
            cv2.setMouseCallback(title, self._on_mouse)
        except cv2.error as err:
            raise NightvidError(f"cannot open a window ({err.err}); use --serve HOST:PORT") from None

    def _on_mouse(self, event: int, x: int, y: int, flags: int, param: object) -> None:
        dragging = event == cv2.EVENT_MOUSEMOVE and flags & cv2.EVENT_FLAG_LBUTTON
        if event == cv2.EVENT_LBUTTONDOWN or dragging:
            self._splits.append(x / self._width)

    def show(self, view_rgb: np.ndarray) -> None:
        self._width = view_rgb.shape[1]
        cv2.imshow(self.title, cv2.cvtColor(view_rgb, cv2.COLOR_RGB2BGR))
        self._shown = True

    def events(self) -> list[Event]:
        events: list[Event] = []
        key = key_name(cv2.waitKey(1))
        if key is not None:
            events.append(("key", key))
        if self._splits:
            events.append(("split", self._splits[-1]))
            self._splits.clear()
        return events

    @property
    def closed(self) -> bool:
        return self._shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass  # already closed by the user


class ServeView:
    """The MJPEG server as a view: each shown view becomes a JPEG part of the stream."""

    closed = False

    def __init__(self, host: str, port: int, title: str) -> None:
        self.server = MjpegServer(host, port, title=title)
        self.url = self.server.url

    def show(self, view_rgb: np.ndarray) -> None:
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(view_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            self.server.publish(jpeg.tobytes())

    def events(self) -> list[Event]:
        return [("key", key) for key in self.server.keys()]

    def close(self) -> None:
        self.server.close()
