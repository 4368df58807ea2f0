"""Live preview: a camera, stream or file, enhanced as it plays, original beside result.

Threads (the rules of ``stages.py``):

- capture (``capture.LatestFrameCapture``): reads the source, keeps only the newest frame;
- main (the caller's): runs the engine, composes the view, shows it (OpenCV's GUI must
  stay on the main thread) or publishes it to the MJPEG server, and handles keys;
- record (only while recording): encodes the view to a file with PyAV;
- the MJPEG server's threads (``serve.MjpegServer``), with ``--serve``.

Keys are pure functions of a small frozen ``PreviewState`` (``handle_key``); the loop
compares the state before and after a key and does what changed (switch engine, apply
exposure, save a snapshot, start or stop a recording), so the key logic is tested
without a window. The preview stops on ``q`` (or Esc), a closed window, Ctrl-C, the end
of a file source (unless ``loop``), ``max_frames`` or ``seconds``; every path runs the
same ``finally`` that stops and joins the threads.

What is saved: ``s`` writes the current view (original | enhanced, without the fps
and latency text) as a PNG into ``snapshot_dir``; ``r`` records the same view to an MP4
(H.264, wall-clock timestamps) named by ``record`` or by the time, never overwriting a
file. ``+``/``-`` change KinD's exposure ratio on the eager backend and the output
gain otherwise (compiled engines bake KinD's ratio in).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

# isort: off
# cv2 before av: both wheels bundle libxcb extension libraries under the same names, and
# OpenCV's Qt window hangs in the X handshake if it gets PyAV's (see _xcb_conflict).
import cv2
import av

# isort: on
import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer.capture import Captured, LatestFrameCapture, open_source
from nightvid.streamer.stages import END, Stage, get, put

if TYPE_CHECKING:
    from nightvid.engines.base import Engine

__all__ = [
    "EXPOSURE_STEP",
    "PreviewOptions",
    "PreviewState",
    "PreviewSummary",
    "apply_exposure",
    "check_display",
    "compose",
    "handle_key",
    "key_name",
    "model_cycle",
    "preview",
    "run_preview",
]

log = logging.getLogger(__name__)

#: One press of + or - multiplies the exposure by this (gain, or KinD's ratio).
EXPOSURE_STEP = 1.25
#: + and - stop this many steps from neutral (gain 0.17x to 5.96x).
MAX_EXPOSURE_STEPS = 8
#: KinD's ratio at the first manual step (the middle of the 0-5 its authors suggest);
#: step 0 is KinD's own automatic exposure.
KIND_BASE_RATIO = 3.0
#: Small frames are shown enlarged (nearest neighbour) to at least this many pixels wide.
MIN_VIEW_WIDTH = 640
WINDOW_TITLE = "nightvid preview"
LAYOUTS = ("side", "split")
HELP = "q quit, m next model, +/- exposure, s snapshot, r record"


# --- keys: pure functions of a small state -------------------------------------------


@dataclass(frozen=True)
class PreviewState:
    """What the keys change. The loop acts on the difference between two states."""

    models: tuple[str, ...]
    model_index: int = 0
    #: Exposure steps from neutral: gain ``EXPOSURE_STEP ** exposure`` (KinD: ratio).
    exposure: int = 0
    #: Where the split layout divides original (left) from enhanced (right), 0..1.
    split: float = 0.5
    recording: bool = False
    #: Snapshots asked for so far; the loop saves one each time this grows.
    snapshots: int = 0
    quit: bool = False

    @property
    def model(self) -> str:
        return self.models[self.model_index]


def key_name(code: int) -> str | None:
    """``cv2.waitKey`` code -> the preview key it means (``None``: no key or unused).

    ``=`` counts as ``+`` (same key without shift), ``_`` as ``-``, Esc as ``q``.

    Example:
        >>> [key_name(c) for c in (-1, ord("q"), 27, ord("="), ord("M"), ord("x"))]
        [None, 'q', 'q', '+', 'm', None]
    """
    if code < 0:
        return None
    char = chr(code & 0xFF).lower()
    return {"\x1b": "q", "=": "+", "_": "-"}.get(char, char if char in "qm+-sr" else None)


def handle_key(state: PreviewState, key: str) -> PreviewState:
    """The state after ``key`` (one of ``q m + - s r``); other keys change nothing.

    Example:
        >>> s = handle_key(PreviewState(models=("noiser", "kind")), "m")
        >>> s.model, handle_key(s, "m").model, handle_key(s, "+").exposure
        ('kind', 'noiser', 1)
    """
    replace = dataclasses.replace
    if key == "q":
        return replace(state, quit=True)
    if key == "m":
        return replace(state, model_index=(state.model_index + 1) % len(state.models))
    if key in ("+", "-"):
        step = 1 if key == "+" else -1
        exposure = max(-MAX_EXPOSURE_STEPS, min(MAX_EXPOSURE_STEPS, state.exposure + step))
        return replace(state, exposure=exposure)
    if key == "s":
        return replace(state, snapshots=state.snapshots + 1)
    if key == "r":
        return replace(state, recording=not state.recording)
    return state


def set_split(state: PreviewState, fraction: float) -> PreviewState:
    """The state with the split layout's divider at ``fraction`` of the width (clamped)."""
    return dataclasses.replace(state, split=min(1.0, max(0.0, fraction)))


# --- exposure -------------------------------------------------------------------------


def _ratio_module(engine: Engine) -> Any | None:
    """The module of an eager ``engine`` with a run-time ``ratio`` attribute (KinD).

    The eager backend keeps its module in its callable's closure (``Engine`` exposes no
    module); a module attribute or bound method is looked at too. Compiled backends
    (onnx, inductor, tensorrt) bake the ratio into the artifact: for them this returns
    ``None`` and the exposure keys use the output gain.
    """
    from torch import nn

    if engine.backend != "eager":
        return None
    fn = getattr(engine, "fn", None)
    roots = [getattr(engine, name, None) for name in ("module", "net", "enhancer")]
    roots.append(getattr(fn, "__self__", None))
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            roots.append(cell.cell_contents)
        except ValueError:  # empty cell
            continue
    for root in roots:
        if isinstance(root, nn.Module):
            for module in root.modules():
                if "ratio" in vars(module):
                    return module
    return None


def apply_exposure(engine: Engine, steps: int) -> str:
    """Set ``engine``'s exposure to ``steps`` from neutral; returns the overlay label.

    KinD (run-time ``ratio``): step 0 is its automatic exposure, other steps set the
    ratio ``KIND_BASE_RATIO * EXPOSURE_STEP ** steps``. Any other net: the engine's output
    gain ``EXPOSURE_STEP ** steps``.
    """
    holder = _ratio_module(engine)
    if holder is not None:
        engine.gain = 1.0
        holder.ratio = None if steps == 0 else KIND_BASE_RATIO * EXPOSURE_STEP**steps
        return "ratio auto" if steps == 0 else f"ratio {holder.ratio:.2f}"
    engine.gain = EXPOSURE_STEP**steps
    return f"gain x{engine.gain:.2f}"


# --- the view -------------------------------------------------------------------------


def compose(
    original: np.ndarray,
    enhanced: np.ndarray,
    *,
    layout: str = "side",
    split: float = 0.5,
    min_width: int = MIN_VIEW_WIDTH,
) -> np.ndarray:
    """Original and enhanced uint8 ``(H, W, 3)`` frames -> one view, same channel order.

    ``side``: original left, enhanced right (``(H, 2W, 3)``); ``split``: one frame, the
    original left of ``split * W`` and the enhanced right of it, with a divider line.
    Views narrower than ``min_width`` are enlarged by a whole factor (nearest), and sizes
    are padded to even numbers so that 4:2:0 recordings need no resizing.

    Example:
        >>> a, b = np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)
        >>> compose(a, b).shape, compose(a, b, layout="split", min_width=0).shape
        ((240, 640, 3), (48, 64, 3))
    """
    if enhanced.shape != original.shape:
        enhanced = cv2.resize(enhanced, (original.shape[1], original.shape[0]))
    if layout == "side":
        view = np.concatenate([original, enhanced], axis=1)
    elif layout == "split":
        view = enhanced.copy()
        cut = int(round(split * original.shape[1]))
        view[:, :cut] = original[:, :cut]
        if 0 < cut < view.shape[1]:
            view[:, max(cut - 1, 0) : cut + 1] = 255
    else:
        raise NightvidError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    factor = math.ceil(min_width / view.shape[1]) if view.shape[1] < min_width else 1
    if factor > 1:
        view = cv2.resize(view, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    pad_h, pad_w = view.shape[0] % 2, view.shape[1] % 2
    if pad_h or pad_w:
        view = cv2.copyMakeBorder(view, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(view)


def draw_overlay(
    view: np.ndarray, lines: Sequence[str], *, labels: tuple[str, str] | None = None, split: float = 0.5
) -> np.ndarray:
    """Draw ``lines`` top left and the two ``labels`` at the bottom of each part, in place."""
    height, width = view.shape[:2]
    scale = min(1.0, max(0.4, height / 700))
    thick = 1 if scale < 0.7 else 2
    step = int(28 * scale) + 4

    def text(s: str, x: int, y: int) -> None:
        cv2.putText(view, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(view, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)

    for i, line in enumerate(lines):
        text(line, 8, step * (i + 1))
    if labels is not None:
        text(labels[0], 8, height - 8)
        text(labels[1], int(width * split) + 8, height - 8)
    return view


class _Rate:
    """Frames per second over the last ``window`` frames, and latency statistics."""

    def __init__(self, window: int = 30) -> None:
        self.times: deque[float] = deque(maxlen=window)
        self.latencies: list[float] = []

    def tick(self, captured_at: float) -> None:
        now = time.monotonic()
        self.times.append(now)
        self.latencies.append(now - captured_at)

    @property
    def fps(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-9)


# --- recording and snapshots ------------------------------------------------------------


_MS = Fraction(1, 1000)


class _Recorder:
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


def _free_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``... if it exists."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


# --- where the view goes ----------------------------------------------------------------


def _fix_qt_fonts() -> None:
    """opencv-python points Qt at a font folder its wheel does not ship; use the system's."""
    fonts = os.environ.get("QT_QPA_FONTDIR")
    if fonts and not Path(fonts).is_dir():
        for candidate in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
            if Path(candidate).is_dir():
                os.environ["QT_QPA_FONTDIR"] = candidate
                return


_PROBE = "import cv2\ncv2.namedWindow('nightvid-probe')\ncv2.waitKey(1)\ncv2.destroyAllWindows()\ncv2.waitKey(1)\n"


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


class _WindowView:
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

    def events(self) -> list[tuple[str, Any]]:
        events: list[tuple[str, Any]] = []
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


class _ServeView:
    """The MJPEG server as a view: each shown view becomes a JPEG part of the stream."""

    closed = False

    def __init__(self, host: str, port: int, title: str) -> None:
        from nightvid.streamer.serve import MjpegServer

        self.server = MjpegServer(host, port, title=title)
        self.url = self.server.url

    def show(self, view_rgb: np.ndarray) -> None:
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(view_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            self.server.publish(jpeg.tobytes())

    def events(self) -> list[tuple[str, Any]]:
        return [("key", key) for key in self.server.keys()]

    def close(self) -> None:
        self.server.close()


# --- the loop ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewOptions:
    """How the preview runs; every field has a CLI option."""

    layout: str = "side"
    #: ``HOST:PORT`` to serve an MJPEG page instead of opening a window.
    serve: str | None = None
    #: Record from the start to this file (``r`` toggles; later recordings get -2, -3...).
    record: Path | None = None
    #: Where snapshots (and recordings started without ``record``) go.
    snapshot_dir: Path = Path(".")
    #: Stop after this many shown frames / seconds (None: no limit).
    max_frames: int | None = None
    seconds: float | None = None
    #: Replay a file source at its end instead of stopping.
    loop: bool = False


@dataclass
class PreviewSummary:
    """What a preview did; the CLI prints it."""

    source: str
    reason: str = ""
    frames: int = 0
    captured: int = 0
    dropped: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    latency_ms: float = 0.0
    max_latency_ms: float = 0.0
    snapshots: list[str] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    url: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Session:
    """The main loop's mutable parts: engines by model, recorder, view, summary."""

    def __init__(
        self,
        models: Sequence[str],
        make_engine: Callable[[str], Engine],
        options: PreviewOptions,
        announce: Callable[[str], None],
        summary: PreviewSummary,
    ) -> None:
        self.make_engine, self.options, self.announce = make_engine, options, announce
        self.summary = summary
        self.state = PreviewState(models=tuple(models), recording=options.record is not None)
        self.engines: dict[str, Engine] = {self.state.model: make_engine(self.state.model)}
        self.exposure_label = apply_exposure(self.engine, 0)
        self.recorder: _Recorder | None = None

    @property
    def engine(self) -> Engine:
        return self.engines[self.state.model]

    def on_event(self, event: tuple[str, Any], view: np.ndarray | None) -> None:
        kind, value = event
        before = self.state
        after = handle_key(before, value) if kind == "key" else set_split(before, value)
        if kind == "key" and value == "m" and len(before.models) == 1:
            self.announce(
                f"no other model to switch to: only {before.model} is available "
                "(the others have no shipped weights yet)"
            )
        if after.model != before.model:
            try:
                if after.model not in self.engines:
                    self.engines[after.model] = self.make_engine(after.model)
            except NightvidError as err:
                self.announce(f"cannot switch to {after.model}: {err}")
                after = dataclasses.replace(after, model_index=before.model_index)
            else:
                self.announce(f"model: {after.model}")
        self.state = after
        if (after.model, after.exposure) != (before.model, before.exposure):
            self.exposure_label = apply_exposure(self.engine, after.exposure)
        if after.snapshots > before.snapshots and view is not None:
            self.snapshot(view)
        if before.recording and not after.recording:
            self.stop_recording()  # starting waits for the loop's next frame

    def snapshot(self, view: np.ndarray) -> None:
        folder = self.options.snapshot_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self.announce(f"snapshot not saved: cannot create {folder} ({err.strerror})")
            return
        path = _free_path(folder / f"nightvid-{_stamp()}.png")
        if not cv2.imwrite(str(path), cv2.cvtColor(view, cv2.COLOR_RGB2BGR)):
            self.announce(f"snapshot not saved: cannot write {path}")
            return
        self.summary.snapshots.append(str(path))
        self.announce(f"snapshot: {path}")

    def start_recording(self, view: np.ndarray) -> None:
        if self.options.record is not None:
            path = _free_path(Path(self.options.record))  # never overwrites: -2, -3, ...
        else:
            try:
                self.options.snapshot_dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise NightvidError(f"cannot record into {self.options.snapshot_dir} ({err.strerror})") from None
            path = _free_path(self.options.snapshot_dir / f"nightvid-{_stamp()}.mp4")
        self.recorder = _Recorder(path, view.shape[1], view.shape[0])
        self.summary.recordings.append(str(path))
        self.announce(f"recording: {path}")

    def stop_recording(self) -> None:
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            recorder.close()
            self.announce(f"recorded: {recorder.path}")


def run_preview(
    source: str,
    *,
    models: Sequence[str] | Callable[[], Sequence[str]],
    make_engine: Callable[[str], Engine],
    options: PreviewOptions = PreviewOptions(),
    announce: Callable[[str], None] | None = None,
) -> PreviewSummary:
    """Show ``source`` enhanced live until a stop condition; returns what happened.

    ``models`` is the ``m`` key's cycle (the first is shown first), or a function that
    returns it (called after the cheap checks); ``make_engine`` builds an engine for one
    of them (lazily, once per model). ``announce`` receives one-line messages for the
    user (URL, snapshot and recording paths). Errors the user can fix (unreadable
    source, no display, busy port, bad record path) are raised as ``NightvidError``
    before any frame is shown, the cheap ones before any engine is built.
    """
    say = announce or (lambda message: None)
    if options.layout not in LAYOUTS:
        raise NightvidError(f"unknown layout {options.layout!r}; choose from {', '.join(LAYOUTS)}")
    if options.record is not None and not Path(options.record).parent.is_dir():
        raise NightvidError(f"cannot record to {options.record}: its folder does not exist")
    address = None
    if options.serve is not None:
        from nightvid.streamer.serve import parse_address

        address = parse_address(options.serve)
    src = open_source(source, loop=options.loop)
    capture: LatestFrameCapture | None = None
    view_sink: _WindowView | _ServeView | None = None
    session: _Session | None = None
    summary = PreviewSummary(source=src.name)
    try:
        if address is None:
            check_display()
        cycle = list(models() if callable(models) else models)
        if not cycle:
            raise NightvidError("no model to preview")
        session = _Session(cycle, make_engine, options, say, summary)
        if address is None:
            view_sink = _WindowView()
        else:
            view_sink = _ServeView(*address, title=src.name)
            summary.url = view_sink.url
            say(f"serving {view_sink.url}")
        say(f"preview of {src.name} with {session.state.model} ({HELP})")
        capture = LatestFrameCapture(src)
        src = None  # the capture thread owns and closes it now
        summary.reason = _loop(capture, view_sink, session, options, summary)
    finally:
        try:
            if capture is not None:
                capture.close()  # joins the thread; re-raises what it died of
        finally:
            _finish(session, view_sink, src)
    if capture is not None:
        summary.captured, summary.dropped = capture.captured, capture.dropped
    return summary


def _finish(session: _Session | None, view_sink: Any, src: Any) -> None:
    try:
        if session is not None:
            session.stop_recording()
    finally:
        if view_sink is not None:
            view_sink.close()
        if src is not None:
            src.close()


def _loop(
    capture: LatestFrameCapture,
    view_sink: _WindowView | _ServeView,
    session: _Session,
    options: PreviewOptions,
    summary: PreviewSummary,
) -> str:
    rate = _Rate()
    started = time.monotonic()
    clean: np.ndarray | None = None
    try:
        while True:
            item = capture.read(timeout=0.02)
            if item is END:
                return "end of source"
            if isinstance(item, Captured):
                engine = session.engine
                enhanced = engine.enhance_frames(item.frame[None])[0]
                state = session.state
                clean = compose(item.frame, enhanced, layout=options.layout, split=state.split)
                rate.tick(item.at)
                lines = [
                    f"{state.model}  {rate.fps:4.1f} fps  {rate.latencies[-1] * 1000:4.0f} ms  "
                    f"drop {capture.dropped}  {session.exposure_label}"
                    + ("  REC" if session.recorder is not None else "")
                ]
                split = 0.5 if options.layout == "side" else state.split
                shown = draw_overlay(clean.copy(), lines, labels=("original", "enhanced"), split=split)
                view_sink.show(shown)
                if session.state.recording and session.recorder is None:
                    session.start_recording(clean)  # --record: from the first frame
                if session.recorder is not None:
                    session.recorder.write(clean)
                summary.frames += 1
            for event in view_sink.events():
                session.on_event(event, clean)
            if session.state.quit:
                return "quit"
            if view_sink.closed:
                return "window closed"
            if options.max_frames is not None and summary.frames >= options.max_frames:
                return "max frames"
            if options.seconds is not None and time.monotonic() - started >= options.seconds:
                return "time limit"
    except KeyboardInterrupt:
        return "interrupted"
    finally:
        summary.seconds = time.monotonic() - started
        summary.fps = summary.frames / max(summary.seconds, 1e-9)
        if rate.latencies:
            summary.latency_ms = 1000 * float(np.mean(rate.latencies))
            summary.max_latency_ms = 1000 * max(rate.latencies)


def model_cycle(first: str) -> list[str]:
    """``first``, then every other registered model whose weights ship with nightvid."""
    from nightvid import nets

    nets.chain_parts(first)  # unknown model: the error lists the known ones
    return [first] + [name for name in nets.list_nets() if name != first and nets.shipped_weights(name) is not None]


def preview(
    source: str,
    *,
    model: str = "noiser",
    weights: Path | str | None = "default",
    backend: str = "auto",
    options: PreviewOptions = PreviewOptions(),
    announce: Callable[[str], None] | None = None,
    exposure: float | None = None,
    device: str | None = None,
) -> PreviewSummary:
    """``nightvid preview``: ``model`` with ``weights`` first; ``m`` cycles to shipped models.

    ``exposure`` (the output's mean luma, 0-1) applies to every model of the cycle."""

    def make_engine(name: str) -> Engine:
        from nightvid.engines import create_engine  # torch: only once the cheap checks passed

        # One frame at a time on all threads: the lowest latency, which a live view needs.
        return create_engine(
            name,
            weights=weights if name == model else "default",
            backend=backend,
            workers=1,
            exposure=exposure,
            device=device,
        )

    return run_preview(
        source, models=lambda: model_cycle(model), make_engine=make_engine, options=options, announce=announce
    )
