"""`nightvid enhance --start/--duration` against FFmpeg's own `-ss S -i IN -t D`, `--scale`,
and the encoding users of other tools expect: HEVC tagged hvc1 in MP4/MOV, `--bitrate`."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

import nightvid
from nightvid.cli import app
from nightvid.errors import NightvidError
from tests.clips import make_clip, read_video
from tests.ffmpeg_ref import ffprobe_frame_times, needs_ffmpeg

runner = CliRunner()
FAST = ("--backend", "eager", "--quiet")


def enhance(*args: str | Path) -> CliRunner.invoke:
    return runner.invoke(app, ["enhance", *map(str, args)])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s at 25 fps, a keyframe every 12 frames, B-frames, AAC: seeking lands before the start."""
    return make_clip(tmp_path_factory.mktemp("span") / "clip.mp4", frames=50, options={"g": "12", "bf": "2"})


def ffmpeg_kept(clip: Path, start: float | None, duration: float | None) -> list[int]:
    """Which frames of ``clip`` (by index) ``ffmpeg [-ss S] -i CLIP [-t D]`` outputs, matched
    by the checksum of each decoded frame."""

    def checksums(*args: str) -> list[str]:
        done = subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", *args, "-map", "0:v:0", "-f", "framecrc", "-"],
            capture_output=True,
            text=True,
            check=True,
        )
        return [line.split(",")[5].strip() for line in done.stdout.splitlines() if line and line[0] != "#"]

    whole = checksums("-i", str(clip))
    cut = checksums(
        *(["-ss", str(start)] if start is not None else []),
        "-i",
        str(clip),
        *(["-t", str(duration)] if duration is not None else []),
    )
    return [whole.index(crc) for crc in cut]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


@needs_ffmpeg
@pytest.mark.parametrize(
    "start, duration",
    [
        (0.48, 0.2),  # on a frame
        (0.5, 0.4),  # between frames; the last frame's time falls on half a frame, which FFmpeg rounds up
        (0.51, 0.41),
        (0.5, 0.1804),  # 0.18 < 0.1804, yet FFmpeg puts that frame on the 0.2 slot: not kept
        (1.0, None),  # to the end
        (None, 0.3),  # from the beginning
    ],
)
def test_span_holds_the_frames_ffmpeg_keeps_from_0(
    clip: Path, tmp_path: Path, start: float | None, duration: float | None
) -> None:
    out = tmp_path / "cut.mp4"
    span = ["--start", str(start)] if start is not None else []
    span += ["--duration", str(duration)] if duration is not None else []
    result = enhance(clip, out, *FAST, "--json", *span)
    assert result.exit_code == 0, result.output
    kept = ffmpeg_kept(clip, start, duration)
    source = ffprobe_frame_times(clip)
    expected = [0.0] + [source[i] - (start or 0) for i in kept[1:]]
    assert ffprobe_frame_times(out) == pytest.approx(expected, abs=1e-4)
    assert json.loads(result.stdout)["frames"] == len(kept)
    assert leftovers(tmp_path) == []


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@needs_ffmpeg
def test_a_span_is_the_same_frames_as_a_whole_run_with_the_audio_of_the_span(clip: Path, tmp_path: Path) -> None:
    """Lossless output: each frame of the span equals that frame of a whole run (the temporal
    filter sees the frames around the span as neighbours), and the audio packets that start
    in the span are copied byte for byte. Without the stabiliser, whose average starts
    at the span's first frame as at a scene cut."""
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    lossless = ("--codec", "ffv1", "--no-stabilize", *FAST)
    assert enhance(clip, whole, *lossless, "--audio-codec", "none").exit_code == 0
    result = enhance(clip, cut, *lossless, "--start", "0.5", "--duration", "0.4")
    assert result.exit_code == 0, result.output
    kept = ffmpeg_kept(clip, 0.5, 0.4)
    everything, span = _frames(whole), _frames(cut)
    assert len(span) == len(kept) == 9
    for frame, index in zip(span, kept, strict=True):
        np.testing.assert_array_equal(frame, everything[index])
    with av.open(str(clip)) as container:
        audio = container.streams.audio[0]
        packets = [p for p in container.demux(audio) if p.size]
        expected = [bytes(p) for p in packets if Fraction(1, 2) <= p.pts * p.time_base < Fraction(9, 10)]
    assert read_video(cut)["audio"] == expected
    with av.open(str(cut)) as container:  # Matroska's times are milliseconds
        assert [round(float(p.pts * p.time_base), 3) for p in container.demux(audio=0) if p.size][0] == 0.011


@pytest.mark.parametrize(
    "options, message",
    [
        (["--start", "-1"], "--start must be 0 or more seconds, got -1"),
        (["--duration", "0"], "--duration must be above 0 seconds, got 0"),
        (["--start", "soon"], "--start takes seconds (90, 1.5) or [HH:]MM:SS[.ms] (1:30), got 'soon'"),
        (["--start", "5"], "--start 5 is past the end of clip.mp4 (2.00 s long)"),
        (["--start", "0:02"], "--start 2 is past the end of clip.mp4"),
        (["--start", "1.99", "--duration", "0.001"], "no frame of clip.mp4 is shown from 1.99 s to 1.991 s"),
        (["--scale", "33x24"], "--scale 33x24: 4:2:0 video needs even sizes, such as 34x24"),
        (["--scale", "0"], "--scale 0: a factor must be above 0"),
        (["--scale", "big"], "--scale takes WIDTHxHEIGHT (1280x720), a height (720p) or a factor (0.5), got 'big'"),
        (["--scale", "400"], "--scale 400 makes 25600x19200 frames; at most 16384 pixels a side"),
    ],
)
def test_bad_span_or_scale_is_one_line_and_writes_nothing(
    clip: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "out.mp4"
    result = enhance(clip, out, *FAST, *options)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scale, size", [("32x24", (32, 24)), ("0.5", (32, 24)), ("96p", (128, 96))])
def test_scale_sets_the_output_size_after_the_model(clip: Path, tmp_path: Path, scale: str, size: tuple) -> None:
    out = tmp_path / "small.mp4"
    result = enhance(clip, out, *FAST, "--json", "--scale", scale, "--duration", "0.2")
    assert result.exit_code == 0, result.output
    summary, made = json.loads(result.stdout), read_video(out)
    assert (made["width"], made["height"]) == (summary["width"], summary["height"]) == size
    assert made["pix_fmt"] == "yuv420p" and made["frames"] == 5
    assert made["luma"] > read_video(clip)["luma"] + 20


def test_the_api_takes_start_duration_and_scale(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "api.mp4"
    summary = nightvid.enhance(clip, out, start=0.48, duration="0:00.2", scale="32x24", backend="eager")
    assert (summary["frames"], summary["width"], summary["height"]) == (5, 32, 24)
    with pytest.raises(NightvidError, match="^start must be 0 or more seconds"):
        nightvid.enhance(clip, tmp_path / "no.mp4", start=-1, backend="eager")


# ----------------------------------------------------------------------- encoding


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_hevc_in_mp4_and_mov_is_tagged_hvc1_for_apple_players(clip: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"hevc{suffix}"
    result = enhance(clip, out, *FAST, "--codec", "libx265", "--duration", "0.2")
    assert result.exit_code == 0, result.output
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_tag_string"]
        + ["-of", "csv=p=0", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "hvc1"
    assert read_video(out)["frames"] == 5


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_bitrate_sets_the_average_bitrate_of_x264_and_x265(tmp_path: Path, codec: str) -> None:
    """Noise needs more bits than the target: the encoder spends what it is given."""
    rng = np.random.default_rng(0)
    noise = make_clip(
        tmp_path / "noise.mp4",
        frames=25,
        size=(160, 120),
        audio=False,
        content=lambda i, w, h: rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        options={"crf": "0"},
    )
    out = tmp_path / f"{codec}.mp4"
    result = enhance(noise, out, *FAST, "--codec", codec, "--bitrate", "200k", "--temporal", "1")
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        rate = sum(p.size for p in container.demux(stream)) * 8 / float(stream.duration * stream.time_base)
    assert 100_000 < rate < 400_000, rate  # at --crf 18 this noise takes 1.7 Mbit/s
