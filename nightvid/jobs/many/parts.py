"""Enhance one piece of a long video into a part file, for ``streamer.join`` to join.

Each piece is decoded from its keyframe (``streamer.segments.span_frames``), run
through the same staged pipeline as ``enhance`` and encoded, video only, with the
encoding of the final output, into an MP4 part (``streamer.join.PART_SUFFIX``: the
container that keeps every pts and dts exactly). Its output is opened as ``enhance``
opens one (``pipeline.video_facts``, ``pipeline.video_output``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nightvid.engines.base import Engine
from nightvid.errors import NightvidError
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.pipeline import ProgressCallback, run_stages, video_facts, video_output
from nightvid.streamer.segments import Span, span_with_context
from nightvid.streamer.stabilise import BrightnessStabiliser
from nightvid.streamer.temporal import context_frames

__all__ = ["enhance_span"]


def enhance_span(
    src: Path,
    span: Span,
    part: Path,
    engine: Engine,
    *,
    encode: EncodeOptions,
    batch: int = 1,
    temporal: int = 0,
    neighbours: tuple[Span | None, Span | None] = (None, None),
    stabilize: bool = False,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Enhance the frames of ``span`` into the part file ``part`` (written atomically); frames written.

    ``encode`` must be resolved (``check_encoding`` against the final output): the
    part is encoded exactly as the output would be. ``temporal`` (the filter's radius)
    reads the frames of the ``neighbours`` (the spans before and after) that the filter
    needs as context (``streamer.temporal.context_frames``), so each frame is fused as in
    a single pass and the joins do not show.
    ``stabilize``: smooth the brightness over time within the part; its average starts
    at the part's first frame, as after a scene cut (the stabiliser follows the enhanced
    frames, which the neighbours' context does not give).
    """
    if encode.codec == "auto":
        raise NightvidError("internal error: a part needs the codec resolved for the final output")
    facts = video_facts(src)
    facts = dataclasses.replace(facts, info=dataclasses.replace(facts.info, carried=()))  # video only
    info = facts.info
    with video_output(part, facts, encode=encode) as writer:
        frames, context = span_with_context(src, span, *neighbours, context_frames(temporal))
        done, _ = run_stages(
            frames,
            writer,
            engine,
            facts.colour,
            size=(info.width, info.height),
            batch=batch,
            keep_partial=False,
            stabiliser=BrightnessStabiliser() if stabilize else None,
            total=None,
            on_progress=on_progress,
            temporal=temporal,
            context=context,
        )
    return done
