"""Small videos made at test time with PyAV: dark content, AAC audio, odd sizes, VFR."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# AVColorSpace tag -> libswscale matrix constant (they number BT.601 differently).
SWS_MATRIX = {1: 1, 5: 5, 6: 5, 9: 9}


def colour_bars(index: int, width: int, height: int) -> np.ndarray:
    """Saturated colour bars plus a grey ramp: a wrong matrix or range shows at once."""
    bars = np.array(
        [
            [255, 255, 255],
            [255, 255, 0],
            [0, 255, 255],
            [0, 255, 0],
            [255, 0, 255],
            [255, 0, 0],
            [0, 0, 255],
            [16, 16, 16],
        ],
        np.uint8,
    )
    x = np.arange(width) * len(bars) // width
    frame = np.repeat(bars[x][None], height, axis=0)
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    frame[height // 2 :] = ramp[None, :, None]
    return frame


def dark_frame(index: int, width: int, height: int, level: float = 18.0) -> np.ndarray:
    """A dim scene with structure: a moving gradient plus a brighter square."""
    y, x = np.mgrid[0:height, 0:width]
    base = level * (0.5 + 0.5 * np.sin((x + 3 * index) / 7.0) * np.cos(y / 5.0))
    frame = np.stack([base * 0.9, base, base * 1.1], axis=-1)
    s = max(2, min(width, height) // 4)
    frame[s : 2 * s, s + index % s : 2 * s + index % s] += level
    return np.clip(frame, 0, 255).astype(np.uint8)


def make_clip(
    path: Path,
    *,
    frames: int = 10,
    size: tuple[int, int] = (64, 48),
    rate: int = 25,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    audio: bool = True,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    rotation: float | None = None,
    colour: dict[str, int] | None = None,
    level: float = 18.0,
    content: Callable[[int, int, int], np.ndarray] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a short clip; ``pts`` (in ``time_base``) makes it variable frame rate."""
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=rate, options=options or {})
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            video.time_base = time_base
            video.codec_context.time_base = time_base
        if colour:
            for key, value in colour.items():
                setattr(video.codec_context, key, value)
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=44100) if audio else None
        if sound is not None:
            sound.layout = "mono"
        tb = time_base or Fraction(1, rate)
        for i in range(frames):
            rgb = content(i, width, height) if content else dark_frame(i, width, height, level)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if colour:  # convert with the matrix/range the stream is tagged with
                frame = frame.reformat(
                    format=pix_fmt,
                    src_color_range=2,
                    dst_colorspace=SWS_MATRIX[colour["colorspace"]],
                    dst_color_range=colour["color_range"],
                )
            else:
                frame = frame.reformat(format=pix_fmt)
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = tb
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:  # from the first frame's time, as long as the frames
            seconds = frames / rate
            first = round((pts[0] if pts is not None else 0) * tb * 44100)
            samples = int(44100 * seconds)
            t = np.arange(samples) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            chunk = 1024
            for start in range(0, samples, chunk):
                part = av.AudioFrame.from_ndarray(tone[:, start : start + chunk].copy(), format="fltp", layout="mono")
                part.sample_rate = 44100
                part.pts = first + start
                out.mux(sound.encode(part))
            out.mux(sound.encode(None))
    return path


def make_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=44100)
        sound.layout = "mono"
        tone = np.zeros((1, 1024), np.float32)
        for i in range(20):
            part = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            part.sample_rate, part.pts = 44100, i * 1024
            out.mux(sound.encode(part))
        out.mux(sound.encode(None))
    return path


def read_video(path: Path) -> dict:
    """Frame count, pts, size, rate, time base, mean luma and audio packet bytes of a file."""
    with av.open(str(path)) as inp:
        stream = inp.streams.video[0]
        info = {
            "width": stream.width,
            "height": stream.height,
            "rate": stream.average_rate,
            "time_base": stream.time_base,
            "pix_fmt": stream.codec_context.pix_fmt,
        }
        pts, lumas, rotations = [], [], []
        for frame in inp.decode(stream):
            pts.append(frame.pts)
            lumas.append(float(frame.to_ndarray(format="gray").mean()))
            rotations.append(frame.rotation)
        info.update(
            frames=len(pts),
            pts=pts,
            luma=float(np.mean(lumas)),
            rotation=rotations[0],
            seconds=[float(p * stream.time_base) for p in pts],
        )
    with av.open(str(path)) as inp:
        audio = inp.streams.audio
        info["audio"] = [bytes(p) for p in inp.demux(audio[0]) if p.size] if audio else []
    return info


def _encoded_segment(path: Path, rate: int, frames: int, first: int) -> Path:
    """An x264 MP4 (B-frames, edit list) of ``frames`` dark frames at ``rate`` fps."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(dark_frame(first + i, 64, 48), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def make_concat_join(path: Path, segments: Sequence[tuple[int, int]] = ((30, 15), (12, 6), (25, 10))) -> Path:
    """Segments of (fps, frames) joined packet by packet as ``ffmpeg -f concat -c copy`` leaves them.

    Each segment starts two of its predecessor's frames before that one ends (the
    concat demuxer's offset misses the B-frame delay), and the muxer's fix-up keeps
    dts increasing by raising a late dts and any pts below it: at each join the pts go
    back and repeat, the dts do not. The file's time base is the first segment's.
    """
    parts = []
    first = 0
    for k, (rate, frames) in enumerate(segments):
        parts.append(_encoded_segment(path.with_name(f".{path.stem}-segment{k}.mp4"), rate, frames, first))
        first += frames
    with av.open(str(parts[0])) as probe:
        time_base = probe.streams.video[0].time_base
    offset, last_dts = Fraction(0), None
    with av.open(str(path), "w") as out:
        copy = None
        for part, (rate, frames) in zip(parts, segments, strict=True):
            with av.open(str(part)) as source:
                stream = source.streams.video[0]
                copy = copy or out.add_stream_from_template(stream)
                copy.time_base = time_base
                for packet in source.demux(stream):
                    if packet.size == 0:
                        continue
                    pts = round((packet.pts * stream.time_base + offset) / time_base)
                    dts = round((packet.dts * stream.time_base + offset) / time_base)
                    if last_dts is not None and dts <= last_dts:
                        pts, dts = max(pts, last_dts + 1), last_dts + 1
                    packet.pts, packet.dts, packet.time_base, packet.stream = pts, dts, time_base, copy
                    last_dts = dts
                    out.mux(packet)
            offset += Fraction(frames - 2, rate)
    for part in parts:
        part.unlink()
    return path


def make_rich_streams(path: Path, *, frames: int = 10) -> Path:
    """A clip with more than audio beside its video: a second video stream, text subtitles
    (subrip, or mov_text in MP4/MOV), a font attachment (Matroska), a timecode (MP4/MOV:
    a tmcd track), cover art (MP4), file tags, a language tag and two chapters."""
    from av.stream import Disposition

    quicktime = path.suffix in (".mp4", ".mov")
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "night drive"
        out.metadata["comment"] = "dashcam 2"
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.metadata["language"] = "fra"
        if quicktime:
            video.metadata["timecode"] = "01:02:03:04"
        rear = out.add_stream("libx264", rate=25)
        rear.width, rear.height, rear.pix_fmt = 32, 24, "yuv420p"
        subtitles = out.add_mux_stream("mov_text" if quicktime else "subrip")
        subtitles.time_base = Fraction(1, 1000)
        subtitles.metadata["language"] = "eng"
        art = out.add_mux_stream("mjpeg", width=16, height=16) if path.suffix == ".mp4" else None
        if art is not None:
            art.disposition = Disposition.attached_pic
        if not quicktime:
            out.add_attachment("night.ttf", "font/ttf", b"\x00\x01\x00\x00 not really a font")
        out.set_chapters(_chapters(frames / 25))
        for i in range(frames):
            for stream, (w, h) in ((video, (64, 48)), (rear, (32, 24))):
                frame = av.VideoFrame.from_ndarray(dark_frame(i, w, h), format="rgb24").reformat(format="yuv420p")
                frame.pts = i
                out.mux(stream.encode(frame))
        out.mux(video.encode(None))
        out.mux(rear.encode(None))
        text = b"\x00\x05hello" if quicktime else b"hello"
        cue = av.Packet(text)
        cue.pts = cue.dts = 100
        cue.duration, cue.time_base, cue.stream = 200, Fraction(1, 1000), subtitles
        out.mux(cue)
        if art is not None:
            picture = av.Packet(_jpeg(16, 16))
            picture.pts = picture.dts = 0
            picture.time_base, picture.stream = Fraction(1, 25), art
            out.mux(picture)
    return path


def _chapters(seconds: float) -> list[dict]:
    half = int(seconds * 500)
    return [
        {"id": 1, "start": 0, "end": half, "time_base": Fraction(1, 1000), "metadata": {"title": "street"}},
        {"id": 2, "start": half, "end": 2 * half, "time_base": Fraction(1, 1000), "metadata": {"title": "bridge"}},
    ]


def _jpeg(width: int, height: int) -> bytes:
    context = av.CodecContext.create("mjpeg", "w")
    context.width, context.height, context.pix_fmt, context.time_base = width, height, "yuvj420p", Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), format="rgb24")
    return bytes(context.encode(frame.reformat(format="yuvj420p"))[0])


#: HDR10 static metadata as x265 takes it, and what a decoder reads back from it.
HDR10_MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
HDR10_LIGHT = (1000, 400)


def make_hdr10(path: Path, *, frames: int = 5) -> Path:
    """A 10-bit HEVC clip tagged BT.2020/PQ with mastering-display and content-light SEI."""
    params = f"master-display={HDR10_MASTER}:max-cll={HDR10_LIGHT[0]},{HDR10_LIGHT[1]}:log-level=error"
    return make_clip(
        path,
        frames=frames,
        audio=False,
        codec="libx265",
        pix_fmt="yuv420p10le",
        colour={"colorspace": 9, "color_primaries": 9, "color_trc": 16, "color_range": 1},
        options={"x265-params": params},
    )


def make_interlaced(path: Path, *, frames: int = 6, size: tuple[int, int] = (64, 48)) -> Path:
    """An interlaced (top field first) H.264 clip whose fields come from different instants."""

    def woven(index: int, width: int, height: int) -> np.ndarray:
        frame = dark_frame(2 * index, width, height, level=60)
        frame[1::2] = dark_frame(2 * index + 1, width, height, level=60)[1::2]
        return frame

    return make_clip(path, frames=frames, size=size, audio=False, content=woven, options={"flags": "+ildct+ilme"})
