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
        if sound is not None:
            seconds = frames / rate
            samples = int(44100 * seconds)
            t = np.arange(samples) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            chunk = 1024
            for start in range(0, samples, chunk):
                part = av.AudioFrame.from_ndarray(tone[:, start : start + chunk].copy(), format="fltp", layout="mono")
                part.sample_rate = 44100
                part.pts = start
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
