"""FFmpeg's own reading of a file, the reference for frames, timestamps and audio.

What ``ffmpeg -i IN -f null -`` decodes and ``ffprobe`` reports is what a user's player
shows; nightvid's output must hold the same frames at the same times. Tests that use
these skip with a reason where the FFmpeg command-line tools are not installed
(``.ci/run`` installs them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import av
import pytest

__all__ = ["audio_packets", "ffmpeg", "ffmpeg_frame_count", "ffprobe_frame_times", "needs_ffmpeg", "packet_flags"]

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="the FFmpeg command-line tools (ffmpeg, ffprobe) are not installed: apt-get install ffmpeg",
)


def ffmpeg(*args: str | Path) -> None:
    """Run ``ffmpeg -y ARGS`` quietly; a failure shows FFmpeg's own message."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y", *map(str, args)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def ffmpeg_frame_count(path: Path) -> int:
    """Frames ``ffmpeg -i PATH -map 0:v:0 -f null -`` decodes and outputs."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0"]
        + ["-f", "null", "-", "-progress", "pipe:1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(re.findall(r"^frame=(\d+)$", done.stdout, flags=re.M)[-1])


def ffprobe_frame_times(path: Path) -> list[float]:
    """Presentation times (s) of the first video stream's decoded frames, as ffprobe reads them."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time,best_effort_timestamp_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    times = []
    for line in done.stdout.split():
        values = [v for v in line.split(",") if v and v != "N/A"]
        times.append(float(values[0]))
    return times


def packet_flags(path: Path) -> list[str]:
    """ffprobe's flags (``K_``, ``_D``, ...) of each video packet."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0"]
        + ["-show_entries", "packet=flags", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def audio_packets(path: Path) -> list[bytes]:
    """The bytes of every audio packet of the first audio stream, in file order."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]
