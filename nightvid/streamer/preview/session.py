"""The preview's session: capture -> engine -> view, keys acted on, until a stop condition.

Threads (the rules of ``stages.py``):

- capture (``capture.LatestFrameCapture``): reads the source, keeps only the newest frame;
- main (the caller's): runs the engine, composes the view, shows it (OpenCV's GUI must
  stay on the main thread) or publishes it to the MJPEG server, and handles keys;
- record (only while recording): encodes the view to a file with PyAV;
- the MJPEG server's threads (``serve.MjpegServer``), with ``--serve``.

The preview stops on ``q`` (or Esc), a closed window, Ctrl-C, the end of a file source
(unless ``loop``), ``max_frames`` or ``seconds``; every path runs the same ``finally``
that stops and joins the threads.

Engines come from the caller (``ModelEngines``: the models the ``m`` key cycles
through, and an engine for one of them); the preview never builds one by name.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from nightvid.errors import NightvidError
from nightvid.streamer import DEFAULT_TEMPORAL
from nightvid.streamer.capture import Captured, LatestFrameCapture, Source, open_source
from nightvid.streamer.preview.gain import apply_gain
from nightvid.streamer.preview.keys import HELP, PreviewState, handle_key, set_split
from nightvid.streamer.preview.record import Recorder, recording_path, save_snapshot
from nightvid.streamer.preview.serve import parse_address
from nightvid.streamer.preview.view import check_layout, compose, draw_overlay
from nightvid.streamer.preview.window import Event, ServeView, View, WindowView, check_display
from nightvid.streamer.stages import END
from nightvid.streamer.temporal import CausalTemporalFilter, to_8bit

if TYPE_CHECKING:
    from nightvid.engines.base import Engine

__all__ = ["ModelEngines", "PreviewOptions", "PreviewSummary", "run_preview"]


class ModelEngines(Protocol):
    """What the preview needs to know of engines: the ``m`` key's models and an engine for one.

    ``nightvid.engines.EngineFactory`` is one.
    """

    @property
    def models(self) -> Sequence[str]:
        """The models to cycle through; the first is shown first."""
        ...

    def __call__(self, model: str) -> Engine:
        """The engine of one of ``models`` (called once per model, when first shown)."""
        ...


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
    #: Frames fused against boiling noise before the model (``streamer.temporal``, the
    #: causal form: each frame with the ones before it, no added latency); 1: off.
    temporal: int = DEFAULT_TEMPORAL


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


class _Session:
    """The main loop's mutable parts: engines by model, recorder, summary."""

    def __init__(
        self,
        engines: ModelEngines,
        models: Sequence[str],
        options: PreviewOptions,
        announce: Callable[[str], None],
        summary: PreviewSummary,
    ) -> None:
        self.make_engine, self.options, self.announce = engines, options, announce
        self.summary = summary
        self.state = PreviewState(models=tuple(models), recording=options.record is not None)
        self.engines: dict[str, Engine] = {self.state.model: engines(self.state.model)}
        self.gain_label = apply_gain(self.engine.controls, 0)
        self.recorder: Recorder | None = None

    @property
    def engine(self) -> Engine:
        return self.engines[self.state.model]

    def on_event(self, event: Event, view: np.ndarray | None) -> None:
        before = self.state
        if event[0] == "key":
            key = event[1]
            after = handle_key(before, key)
            if key == "m" and len(before.models) == 1:
                self.announce(
                    f"no other model to switch to: only {before.model} is available "
                    "(the others have no shipped weights yet)"
                )
        else:
            after = set_split(before, event[1])
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
        if (after.model, after.gain_steps) != (before.model, before.gain_steps):
            self.gain_label = apply_gain(self.engine.controls, after.gain_steps)
        if after.snapshots > before.snapshots and view is not None:
            self.snapshot(view)
        if before.recording and not after.recording:
            self.stop_recording()  # starting waits for the loop's next frame

    def snapshot(self, view: np.ndarray) -> None:
        try:
            path = save_snapshot(view, self.options.snapshot_dir)
        except NightvidError as err:
            self.announce(f"snapshot not saved: {err}")
            return
        self.summary.snapshots.append(str(path))
        self.announce(f"snapshot: {path}")

    def start_recording(self, view: np.ndarray) -> None:
        path = recording_path(self.options.record, self.options.snapshot_dir)
        self.recorder = Recorder(path, view.shape[1], view.shape[0])
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
    engines: Callable[[], ModelEngines],
    options: PreviewOptions = PreviewOptions(),
    announce: Callable[[str], None] | None = None,
) -> PreviewSummary:
    """Show ``source`` enhanced live until a stop condition; returns what happened.

    ``engines`` returns the models to cycle through and builds their engines; it is
    called once the cheap checks have passed, so a caller can put the import of torch
    and the check of the model name behind it (an unreadable source is reported first,
    and fast). Each model's engine is built when it is first shown. ``announce``
    receives one-line messages for the user (URL, snapshot and recording paths).
    Errors the user can fix (unreadable source, no display, busy port, bad record path)
    are raised as ``NightvidError`` before any frame is shown, the cheap ones before any
    engine is built.
    """
    say = announce or (lambda message: None)
    check_layout(options.layout)
    if options.record is not None and not Path(options.record).parent.is_dir():
        raise NightvidError(f"cannot record to {options.record}: its folder does not exist")
    address = parse_address(options.serve) if options.serve is not None else None
    opened = open_source(source, loop=options.loop)
    src: Source | None = opened  # None once the capture thread owns it
    capture: LatestFrameCapture | None = None
    view_sink: View | None = None
    session: _Session | None = None
    summary = PreviewSummary(source=opened.name)
    try:
        if address is None:
            check_display()
        factory = engines()
        cycle = list(factory.models)
        if not cycle:
            raise NightvidError("no model to preview")
        session = _Session(factory, cycle, options, say, summary)
        if address is None:
            view_sink = WindowView()
        else:
            served = ServeView(*address, title=opened.name)
            view_sink, summary.url = served, served.url
            say(f"serving {served.url}")
        say(f"preview of {opened.name} with {session.state.model} ({HELP})")
        capture = LatestFrameCapture(opened)
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


def _finish(session: _Session | None, view_sink: View | None, src: Source | None) -> None:
    try:
        if session is not None:
            session.stop_recording()
    finally:
        if view_sink is not None:
            view_sink.close()
        if src is not None:
            src.close()


def _loop(
    capture: LatestFrameCapture, view_sink: View, session: _Session, options: PreviewOptions, summary: PreviewSummary
) -> str:
    rate = _Rate()
    started = time.monotonic()
    clean: np.ndarray | None = None
    fused = CausalTemporalFilter(options.temporal // 2) if options.temporal > 1 else None
    try:
        while True:
            item = capture.read(timeout=0.02)
            if item is END:
                return "end of source"
            if isinstance(item, Captured):
                engine = session.engine
                net_input = item.frame if fused is None else fused(item.frame)
                enhanced = engine.enhance_frames(net_input[None])[0]
                if enhanced.dtype == np.uint16:
                    enhanced = to_8bit(enhanced)
                state = session.state
                clean = compose(item.frame, enhanced, layout=options.layout, split=state.split)
                rate.tick(item.at)
                lines = [
                    f"{state.model}  {rate.fps:4.1f} fps  {rate.latencies[-1] * 1000:4.0f} ms  "
                    f"drop {capture.dropped}  {session.gain_label}" + ("  REC" if session.recorder is not None else "")
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
