"""Frames in and out of video files and cameras, and the stages between them.

Kept free of imports: the CLI reads ``DEFAULT_TEMPORAL`` from here without loading numpy or OpenCV.
"""

#: Frames fused against boiling noise by default (``streamer.temporal``): on static night
#: clips the output's temporal noise halves against ``--temporal 1`` (docs/BENCHMARKS.md,
#: "Temporal noise filter").
DEFAULT_TEMPORAL = 3
