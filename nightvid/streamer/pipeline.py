"""``enhance_video``: decode -> engine -> encode, as concurrent stages.

Decoding and encoding run in their own threads; inference is driven from the calling
thread (one CUDA context, no locking), with the next batches already submitted while one
is handed to the encoder (``Engine.enhance_batches``). Bounded queues between them keep
memory flat and let the slowest stage set the pace. Every decoded frame produces exactly
one encoded frame, in order, with its pts.

Each piece of a long video, and their join (``streamer.join``), take what they are
encoded with from the source as ``enhance_video`` does (``first_frame``, ``video_facts``)
and write through the same temporary output (``video_output``).
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from nightvid.engines.base import Engine
from nightvid.errors import NightvidError
from nightvid.streamer.colour import ColourTags, HdrMetadata, hdr_metadata, tags_for
from nightvid.streamer.decode import (
    CorruptInputError,
    DamageReport,
    VideoInfo,
    deinterlaced,
    demuxer_errors,
    display_matrix,
    field_order,
    has_exact_index,
    iter_frames,
    open_input,
)
from nightvid.streamer.encode import VideoWriter
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.scale import Scale
from nightvid.streamer.stabilise import BrightnessStabiliser
from nightvid.streamer.stages import END, Stage, items, put
from nightvid.streamer.target import check_output, temporary_output
from nightvid.streamer.temporal import context_frames, temporal_items, to_8bit
from nightvid.streamer.trim import Trim, open_at, trimmed

__all__ = [
    "run_stages",
    "EnhanceSummary",
    "ProgressCallback",
    "VideoFacts",
    "batched",
    "decoded_items",
    "enhance_video",
    "first_frame",
    "queue_depth",
    "stabilised",
    "video_facts",
    "video_output",
]

T = TypeVar("T")

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
    #: True when the input ends early (cut, or damaged and ``strict`` with ``keep_partial``).
    truncated: bool = False
    #: What was repaired or left out, one line each (timestamps moved, deinterlaced, dropped streams).
    warnings: tuple[str, ...] = ()
    #: Source streams the output does not hold: index, type, codec and reason each.
    dropped: tuple[dict, ...] = ()
    #: What decoding skipped, as ``decode.DamageReport.as_dict`` (all zero for a sound file).
    damage: dict = dataclasses.field(default_factory=dict)

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
    strict: bool = False,
    stabilize: bool = False,
    temporal: int = 0,
    on_progress: ProgressCallback | None = None,
    trim: Trim | None = None,
    scale: Scale | None = None,
) -> EnhanceSummary:
    """Enhance every frame of ``src`` into ``dst``; audio and subtitles are copied as is.

    ``dst`` appears only when everything succeeded. Damage in ``src`` is handled as
    FFmpeg handles it (``decode.iter_frames``): what does not decode is skipped, every
    other frame is enhanced at its time, and the summary's ``damage`` and ``warnings``
    say what was skipped and where. With ``strict`` any damage fails the call and
    nothing is written, unless ``keep_partial`` is set too: then the frames decoded before
    the damage are kept and the summary says ``truncated``. ``stabilize`` smooths
    the output brightness over time (see ``streamer.stabilise``); ``temporal`` fuses each
    decoded frame with that many aligned neighbours on either side before the net
    (``streamer.temporal``; 0: none). Large frames run in tiles where the engine was
    built to (``EngineSpec.tile``, ``engines.wrappers.tiled``): the streamer runs the
    engine it is given as it is.

    ``trim`` enhances only that span of ``src``, from 0 in the output, as FFmpeg's
    ``-ss S -i IN -t D`` (``streamer.trim``); ``scale`` writes frames of that size, scaled
    after the net (``streamer.scale``).
    """
    if batch < 1:
        raise NightvidError(f"batch must be at least 1, got {batch}")
    src, dst = Path(src), Path(dst)
    lead = context_frames(temporal)[0]
    container, info, seeked = open_at(src, trim, lead=lead) if trim is not None else (*open_input(src), False)
    try:
        check_output(src, dst, overwrite=overwrite)
        damage = DamageReport()
        # what only the demuxer's log says (a cut MKV), unless a span ends before the end; no thread runs yet
        if not has_exact_index(container) and (trim is None or trim.duration is None):
            damage.add_demuxer_errors(demuxer_errors(src), strict=strict)
        frames = iter_frames(container, strict=strict, report=damage, seeked=seeked)
        neighbours: set[int] = set()
        total = info.frames_hint
        if trim is not None:
            rate = container.streams.video[0].guessed_rate or info.rate
            frames = trimmed(frames, trim, info, rate=rate, context=context_frames(temporal), neighbours=neighbours)
            total = trim.frames_hint(info)
        first, facts = first_frame(src, info, frames)
        info = facts.info
        size = scale.size(info.width, info.height, info.aspect) if scale is not None else None
        started = time.perf_counter()
        source: Iterator[av.VideoFrame] = itertools.chain([first], frames)
        fields = field_order(first, container.streams.video[0])
        if fields is not None:
            source = deinterlaced(source, info.time_base)
        options = encode or EncodeOptions()
        with video_output(
            dst, facts, encode=options, overwrite=overwrite, hdr=hdr_metadata(first), size=size, trim=trim
        ) as writer:
            if fields is not None:
                writer.warnings.append(f"input is interlaced ({fields}); deinterlaced (bwdif, a frame per frame)")
            done, truncated = run_stages(
                source,
                writer,
                engine,
                facts.colour,
                size=(info.width, info.height),
                batch=batch,
                keep_partial=keep_partial,
                stabiliser=BrightnessStabiliser() if stabilize else None,
                temporal=temporal,
                total=total,
                on_progress=on_progress,
                context=neighbours,
            )
        seconds = time.perf_counter() - started
    finally:
        container.close()
    return EnhanceSummary(
        input=str(src),
        output=str(dst),
        frames=done,
        seconds=round(seconds, 3),
        fps=round(done / seconds, 2) if seconds > 0 else 0.0,
        width=size[0] if size else info.width,
        height=size[1] if size else info.height,
        pix_fmt=writer.pix_fmt,
        truncated=truncated or damage.truncated is not None,
        warnings=tuple(damage.warnings()) + tuple(writer.notes()),
        dropped=tuple(d.as_dict() for d in writer.dropped),
        damage=damage.as_dict(),
    )


@dataclass(frozen=True)
class VideoFacts:
    """What an enhanced video is encoded with, taken from its source's first frame: the
    stream's header may leave out the size, the colour tags or the rotation."""

    info: VideoInfo
    colour: ColourTags
    matrix: tuple[int, ...] | None


def first_frame(src: Path, info: VideoInfo, frames: Iterator[av.VideoFrame]) -> tuple[av.VideoFrame, VideoFacts]:
    """The first frame of ``frames`` (decoded from ``src``, described by ``info``) and the facts it gives.

    Raises NightvidError when no frame decodes: there is nothing to enhance, and no
    size or colour to open an output with.
    """
    try:
        first = next(frames, None)
    except CorruptInputError as err:
        raise NightvidError(f"{src}: no frame could be decoded ({err})") from None
    if first is None:
        raise NightvidError(f"{src}: the video stream holds no decodable frame")
    info = dataclasses.replace(info, width=first.width, height=first.height)
    return first, VideoFacts(info, tags_for(first), display_matrix(first))


def video_facts(src: Path) -> VideoFacts:
    """``src``'s facts, read from its first frame (the file is closed again): the pieces of
    a long video, and their join, take the size, colour tags and rotation from the frame a
    single pass takes them from."""
    container, info = open_input(src)
    with container:
        return first_frame(src, info, iter_frames(container))[1]


@contextmanager
def video_output(
    dst: Path,
    facts: VideoFacts,
    *,
    encode: EncodeOptions,
    overwrite: bool | None = None,
    hdr: HdrMetadata | None = None,
    size: tuple[int, int] | None = None,
    trim: Trim | None = None,
) -> Iterator[VideoWriter]:
    """A ``VideoWriter`` for ``dst``, set up from ``facts``: closed and renamed into place when
    the block succeeds, aborted (nothing under ``dst``) when it raises.

    ``overwrite`` is ``temporary_output``'s; ``size`` and ``trim`` the writer's. The writer
    stays readable after the block (its notes, dropped streams and pixel format go into
    the summary).
    """
    with temporary_output(dst, overwrite=overwrite) as tmp:
        writer = VideoWriter(
            tmp,
            facts.info,
            colour=facts.colour,
            options=encode,
            display_matrix=facts.matrix,
            hdr=hdr,
            size=size,
            trim=trim,
        )
        try:
            yield writer
            writer.close()
        except BaseException:
            writer.abort()
            raise


def decoded_items(
    frames: Iterator[av.VideoFrame], *, size: tuple[int, int], colour: ColourTags, deep: bool, keep_partial: bool
) -> Generator[tuple[np.ndarray, int | None], None, bool]:
    """``(rgb, pts)`` of each frame, at ``size`` (a mid-stream size change is scaled back).

    Returns True when the input turned corrupt part-way and ``keep_partial`` kept the
    frames before the damage (without it the ``CorruptInputError`` propagates).
    """
    width, height = size
    try:
        for frame in frames:
            if (frame.width, frame.height) != size:
                frame = frame.reformat(width=width, height=height)
            yield colour.to_rgb(frame, deep=deep), frame.pts
    except CorruptInputError:
        if not keep_partial:
            raise
        return True
    return False


#: Bytes of frames one queue between two stages may hold (a bound, not a reservation).
QUEUE_BYTES = 64 * 2**20


def queue_depth(frame_bytes: int, batch: int) -> int:
    """Frames each queue between stages holds: ``2 * batch + 2``, fewer for large frames.

    Two batches plus slack let decode and encode run ahead of inference; at 4K (25 MB
    per RGB frame) that was 100 MB a queue, so the depth is capped by ``QUEUE_BYTES``,
    but never below 2, which still lets a stage hand over one frame while making the next.

    Example:
        >>> queue_depth(640 * 360 * 3, 1), queue_depth(3840 * 2160 * 3, 1)
        (4, 2)
    """
    return max(2, min(2 * batch + 2, QUEUE_BYTES // max(frame_bytes, 1)))


def batched(source: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items of ``source`` (the last may be shorter); ``itertools.batched`` of 3.12."""
    iterator = iter(source)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def stabilised(
    outputs: np.ndarray, chunk: list[tuple[np.ndarray, int | None]], stabiliser: BrightnessStabiliser | None
) -> Iterator[tuple[np.ndarray, int | None]]:
    """``(enhanced frame, pts)`` of one batch, through the stabiliser if there is one."""
    for (source, pts), out in zip(chunk, outputs, strict=True):
        yield (out if stabiliser is None else stabiliser(source, out)), pts


def run_stages(
    frames: Iterator[av.VideoFrame],
    writer: VideoWriter,
    engine: Engine,
    colour: ColourTags,
    *,
    size: tuple[int, int],
    batch: int,
    keep_partial: bool,
    stabiliser: BrightnessStabiliser | None,
    total: int | None,
    on_progress: ProgressCallback | None,
    temporal: int = 0,
    context: Collection[int] = frozenset(),
) -> tuple[int, bool]:
    """Decode and encode threads around inference in this thread; (frames written, truncated).

    ``temporal`` > 0 runs the temporal filter (``streamer.temporal``) in the decode
    thread, beside inference, on the dark frames before the net: it holds ``temporal``
    frames back and hands them on at the end, as 16-bit frames (an 8-bit video's net
    output is rounded back to 8 bits here). Frames whose pts are in ``context`` only serve
    the filter as neighbours and are neither enhanced nor written (a part of a long video,
    the frames around a trim's span; a trim adds them as it reads them).
    """
    stop = threading.Event()
    deep_frames = writer.deep or temporal > 0
    depth = queue_depth(size[0] * size[1] * 3 * (2 if deep_frames else 1), batch)
    decoded: queue.Queue = queue.Queue(maxsize=depth)
    enhanced: queue.Queue = queue.Queue(maxsize=depth)
    source = decoded_items(frames, size=size, colour=colour, deep=writer.deep, keep_partial=keep_partial)
    if temporal:
        source = temporal_items(source, temporal, context=context)
    decoder = Stage.producing("nightvid-decode", source, stop, out=decoded)
    back_to_8bit = temporal > 0 and not writer.deep

    def write(item: tuple[np.ndarray, int | None]) -> None:
        frame, pts = item
        writer.write(to_8bit(frame) if back_to_8bit else frame, pts)

    encoder = Stage.consuming("nightvid-encode", enhanced, write, stop)
    decoder.start()
    encoder.start()
    done = 0
    try:
        # The next batches are already submitted while this one is emitted: CPU workers
        # run frames side by side, and on CUDA the next upload and compute overlap this
        # batch's download and encoding (see engines.transfer).
        chunks = batched(items(decoded, stop), batch)
        outputs = engine.enhance_batches(([rgb for rgb, _ in chunk], chunk) for chunk in chunks)
        for enhanced_batch, chunk in outputs:
            if not all(put(enhanced, item, stop) for item in stabilised(enhanced_batch, chunk, stabiliser)):
                break  # stopped: another stage failed
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
        outputs.close()
        put(enhanced, END, stop)
        encoder.finish()
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        decoder.finish()
        encoder.finish()
    decoder.raise_error()
    encoder.raise_error()
    return done, bool(decoder.result)
