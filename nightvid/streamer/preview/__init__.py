"""Live preview: a camera, stream or file, enhanced as it plays, original beside result.

One job per module:

- ``keys``: the keys as pure functions of a frozen ``PreviewState``;
- ``gain``: what ``+``/``-`` do to an engine's controls (the output gain);
- ``view``: composing original and enhanced into one view, and the overlay text;
- ``record``: snapshots (``s``, PNG) and recordings (``r``, H.264 in its own thread);
- ``window``: where the view goes, an OpenCV window (with its Qt/X11 workarounds) or
  the web page of ``serve``, the MJPEG server (``--serve``);
- ``session``: ``run_preview``, the loop that ties them together.

What is saved: ``s`` writes the current view (original | enhanced, without the fps and
latency text) as a PNG into ``snapshot_dir``; ``r`` records the same view to an MP4
(H.264, wall-clock timestamps) named by ``record`` or by the time, never overwriting a
file.

``run_preview`` is the entry point. It takes its engines from the caller, e.g.
``nightvid.engines.engine_factory``; the preview never builds one by name.
"""

from __future__ import annotations

# cv2 before anything imports av: both wheels bundle libxcb extension libraries under the
# same names, and OpenCV's Qt window hangs in the X handshake if it gets PyAV's (see
# window._xcb_conflict). Every module of this package is imported after this line.
import cv2  # noqa: F401

from nightvid.streamer.preview.gain import GAIN_STEP, MAX_GAIN_STEPS, apply_gain
from nightvid.streamer.preview.keys import HELP, PreviewState, handle_key, key_name, set_split
from nightvid.streamer.preview.session import ModelEngines, PreviewOptions, PreviewSummary, run_preview
from nightvid.streamer.preview.view import LAYOUTS, compose, draw_overlay
from nightvid.streamer.preview.window import check_display

__all__ = [
    "GAIN_STEP",
    "HELP",
    "LAYOUTS",
    "MAX_GAIN_STEPS",
    "ModelEngines",
    "PreviewOptions",
    "PreviewState",
    "PreviewSummary",
    "apply_gain",
    "check_display",
    "compose",
    "draw_overlay",
    "handle_key",
    "key_name",
    "run_preview",
    "set_split",
]
