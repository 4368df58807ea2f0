"""``enhance_video``: decode -> engine -> encode, as concurrent stages.

Decoding and encoding run in their own threads; inference is driven from the calling
thread (one CUDA context, no locking), with the next batches already submitted while one
is handed to the encoder (``Engine.enhance_batches``). Bounded queues between them keep
memory flat and let the slowest stage set the pace. Every decoded frame produces exactly
one encoded frame, in order, with its pts.
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from nightvid.engines.base import Engine
from nightvid.errors import NightvidError
from nightvid.streamer.colour import ColourTags, tags_for
from nightvid.streamer.decode import CorruptInputError, display_matrix, iter_frames, open_input
from nightvid.streamer.encode import EncodeOptions, VideoWriter
from nightvid.streamer.stabilize import BrightnessStabilizer
from nightvid.streamer.stages import END, Stage, get, put
from nightvid.streamer.target import check_output, temporary_output
from nightvid.streamer.tiling import tiled_engine

__all__ = ["EnhanceSummary", "ProgressCallback", "enhance_video"]

#: Called with (frames done, estimated total or None) after each batch.
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class EnhanceSummary:
    """What ``enhance_video`` did; printed by ``nightvid enhance --json``."""

    input: str
    output: str
    frames: int
    seconds: float
    fps: float
    width: int
    height: int
    pix_fmt: str
    #: True when the input was corrupt part-way and ``keep_partial`` kept what decoded.
    truncated: bool = False

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def enhance_video(
    src: Path,
    dst: Path,
    engine: Engine,
    *,
    encode: EncodeOptions | None = None,
    batch: int = 1,
    overwrite: bool = False,
    keep_partial: bool = False,
    stabilize: bool = False,
    tile: int | str | None = "auto",
    on_progress: ProgressCallback | None = None,
) -> EnhanceSummary:
    """Enhance every frame of ``src`` into ``dst``; audio and subtitles are copied as is.

    ``dst`` appears only when everything succeeded. If ``src`` is corrupt part-way the
    call fails and writes nothing, unless ``keep_partial`` is set: then the frames decoded
    before the damage are kept and the summary says ``truncated``. ``stabilize`` smooths
    the output brightness over time (see ``streamer.stabilize``). ``tile`` runs large frames
    in overlapping tiles: ``"auto"`` only when a frame would not fit in memory, an int
    for a fixed tile side, None never (see ``streamer.tiling``).
    """
    if batch < 1:
        raise NightvidError(f"batch must be at least 1, got {batch}")
    src, dst = Path(src), Path(dst)
    container, info = open_input(src)
    try:
        check_output(src, dst, overwrite=overwrite)
        frames = iter_frames(container)
        try:
            first = next(frames, None)
        except CorruptInputError as err:
            raise NightvidError(f"{src}: no frame could be decoded ({err})") from None
        if first is None:
            raise NightvidError(f"{src}: the video stream holds no decodable frame")
        info = dataclasses.replace(info, width=first.width, height=first.height)
        colour = tags_for(first)
        engine = tiled_engine(engine, info.height, info.width, tile=tile)
        started = time.perf_counter()
        with temporary_output(dst) as tmp:
            writer = VideoWriter(
                tmp, info, colour=colour, options=encode or EncodeOptions(), display_matrix=display_matrix(first)
            )
            try:
                done, truncated = _run_stages(
                    itertools.chain([first], frames),
                    writer,
                    engine,
                    colour,
                    size=(info.width, info.height),
                    batch=batch,
                    keep_partial=keep_partial,
                    stabilizer=BrightnessStabilizer() if stabilize else None,
                    total=info.frames_hint,
                    on_progress=on_progress,
                )
                writer.close()
            except BaseException:
                writer.abort()
                raise
        seconds = time.perf_counter() - started
    finally:
        container.close()
    return EnhanceSummary(
        input=str(src),
        output=str(dst),
        frames=done,
        seconds=round(seconds, 3),
        fps=round(done / seconds, 2) if seconds > 0 else 0.0,
        width=info.width,
        height=info.height,
        pix_fmt=writer.pix_fmt,
        truncated=truncated,
    )


def _run_stages(
    frames: Iterator[av.VideoFrame],
    writer: VideoWriter,
    engine: Engine,
    colour: ColourTags,
    *,
    size: tuple[int, int],
    batch: int,
    keep_partial: bool,
    stabilizer: BrightnessStabilizer | None,
    total: int | None,
    on_progress: ProgressCallback | None,
) -> tuple[int, bool]:
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=2 * batch + 2)
    enhanced: queue.Queue = queue.Queue(maxsize=2 * batch + 2)
    truncation: list[CorruptInputError] = []
    width, height = size

    def decode_body(stop: threading.Event) -> None:
        try:
            for frame in frames:
                if (frame.width, frame.height) != size:  # mid-stream size change: keep ours
                    frame = frame.reformat(width=width, height=height)
                if not put(decoded, (colour.to_rgb(frame, deep=writer.deep), frame.pts), stop):
                    return
        except CorruptInputError as err:
            if not keep_partial:
                raise
            truncation.append(err)

    def encode_body(stop: threading.Event) -> None:
        while (item := get(enhanced, stop)) is not END:
            writer.write(*item)

    decoder = Stage("nightvid-decode", decode_body, stop, out=decoded)
    encoder = Stage("nightvid-encode", encode_body, stop)
    decoder.start()
    encoder.start()

    def batches() -> Iterator[tuple[list, list]]:
        """Up to ``batch`` decoded (rgb, pts) items at a time, with the frames apart."""
        while True:
            items: list = []
            while len(items) < batch and (item := get(decoded, stop)) is not END:
                items.append(item)
            if items:
                yield [rgb for rgb, _ in items], items
            if len(items) < batch:  # the decoder ended (or the run was stopped)
                return

    done = 0

    def emit(enhanced_batch: np.ndarray, items: list) -> bool:
        nonlocal done
        for (source, pts), out in zip(items, enhanced_batch, strict=False):
            if stabilizer is not None:
                out = stabilizer(source, out)
            if not put(enhanced, (out, pts), stop):
                return False
        done += len(items)
        if on_progress is not None:
            on_progress(done, total)
        return True

    try:
        # The next batches are already submitted while this one is emitted: CPU workers
        # run frames side by side, and on CUDA the next upload and compute overlap this
        # batch's download and encoding (see engines.transfer).
        outputs = engine.enhance_batches(batches())
        for enhanced_batch, items in outputs:
            if not emit(enhanced_batch, items):
                break  # stopped: another stage failed
        outputs.close()
        put(enhanced, END, stop)
        _join(encoder)
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        _join(decoder)
        _join(encoder)
    for stage in (decoder, encoder):
        if stage.error is not None:
            raise stage.error
    return done, bool(truncation)


def _join(thread: threading.Thread, poll_s: float = 0.1) -> None:
    """Join in short waits so Ctrl-C still reaches the main thread."""
    while thread.is_alive():
        thread.join(poll_s)
