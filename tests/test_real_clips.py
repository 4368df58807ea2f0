"""Real camera files, and files made the way cameras make them, against FFmpeg's own decode.

Every clip in ``../shared/data/video`` and the bundled clip is enhanced with default
options and must hold the frames ``ffmpeg -i IN -f null -`` outputs, at the times
ffprobe reads from the input, with every audio packet byte for byte. Edit lists and
the discard-flagged packets they trim (5 of 8 real clips seen have them) are the
common case: a damage check that counted those packets refused most real footage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from nightvid.cli.enhance import DEMO_CLIP
from tests.ffmpeg_ref import (
    audio_packets,
    ffmpeg,
    ffmpeg_frame_count,
    ffprobe_frame_times,
    needs_ffmpeg,
    packet_flags,
)

pytestmark = needs_ffmpeg
runner = CliRunner()
VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def _shared(name: str, seconds: float | None) -> Callable[[Path], Path]:
    """A shared real clip, whole or its first ``seconds`` cut by stream copy (edit list and discards kept)."""

    def make(tmp: Path) -> Path:
        src = VIDEO / name
        if not src.is_file():
            pytest.skip(f"shared clip not found: {src}")
        if seconds is None:
            return src
        cut = tmp / name
        ffmpeg("-i", src, "-t", seconds, "-map", "0", "-c", "copy", cut)
        return cut

    return make


def _made(name: str, *args: str, seek: str | None = None) -> Callable[[Path], Path]:
    """A clip made from the bundled one with ``ffmpeg [-ss SEEK] -i DEMO ARGS OUT``."""

    def make(tmp: Path) -> Path:
        out = tmp / name
        ffmpeg(*(("-ss", seek) if seek else ()), "-i", DEMO_CLIP, *args, out)
        return out

    return make


def _open_gop_hevc(tmp: Path) -> Path:
    """A phone's HEVC: open GOPs (CRA with leading pictures), B-frames, tagged hvc1, cut after a CRA."""
    whole = tmp / "hevc-whole.mp4"
    x265 = "keyint=24:min-keyint=24:open-gop=1:bframes=3:scenecut=0:log-level=error"
    ffmpeg("-i", DEMO_CLIP, "-t", "3", "-c:v", "libx265", "-x265-params", x265, "-tag:v", "hvc1", "-c:a", "copy", whole)
    cut = tmp / "hevc-open-gop.mp4"
    ffmpeg("-ss", "0.9", "-i", whole, "-map", "0", "-c", "copy", cut)
    return cut


CLIPS: dict[str, Callable[[Path], Path]] = {
    "bundled": lambda tmp: DEMO_CLIP,
    "cctv-highway": _shared("night-cctv-highway.mp4", None),
    "dashcam (3 s cut)": _shared("night-dashcam.mp4", 3),
    "phone (2 s cut)": _shared("night-phone-portrait.mp4", 2),
    # edit list with a leading trim: the frames before the cut are decoded for reference, flagged discard
    "mp4 -ss cut": _made("ss-cut.mp4", "-t", "1.5", "-map", "0", "-c", "copy", seek="0.55"),
    # H.264 with B-pyramid: the muxer writes an elst for the reorder delay
    "mp4 elst b-frames": _made(
        "elst-b.mp4", "-t", "1.5", "-c:v", "libx264", "-bf", "3", "-preset", "veryfast", "-c:a", "copy"
    ),
    "hevc open gop (phone)": _open_gop_hevc,
    "mov with timecode": _made("tc.mov", "-t", "1.5", "-c", "copy", "-timecode", "01:02:03:04"),
    "mpeg-ts from a DVR": _made("dvr.ts", "-t", "1.5", "-c:v", "mpeg2video", "-q:v", "4", "-c:a", "mp2"),
    "fragmented mp4 (browser)": _made(
        "frag.mp4", "-t", "1.5", "-c", "copy", "-movflags", "frag_keyframe+empty_moov+default_base_moof"
    ),
}


@pytest.mark.parametrize("name", list(CLIPS))
def test_real_clip_enhanced_with_ffmpegs_frames_times_and_audio(tmp_path: Path, name: str) -> None:
    src = CLIPS[name](tmp_path)
    out = tmp_path / f"out{src.suffix}"
    result = runner.invoke(app, ["enhance", str(src), str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["damage"]["skipped_packets"] == 0 and summary["damage"]["truncated"] is None, summary

    expected = ffmpeg_frame_count(src)
    assert summary["frames"] == expected
    assert ffmpeg_frame_count(out) == expected
    times_in, times_out = ffprobe_frame_times(src), ffprobe_frame_times(out)
    assert len(times_in) == len(times_out) == expected
    # the same times, counted from each file's first frame (an MPEG-TS starts at its mux delay)
    shift = times_out[0] - times_in[0]
    assert max(abs(b - a - shift) for a, b in zip(times_in, times_out, strict=True)) < 0.0015
    if src.suffix in (".mp4", ".mov"):
        assert abs(shift) < 0.0015, f"the output starts {shift:.4f} s off the input"
    assert audio_packets(out) == audio_packets(src)


def test_the_shared_cuts_keep_their_discarded_packets(tmp_path: Path) -> None:
    """The dashcam cut is still the hard case: packets flagged discard that FFmpeg never shows."""
    cut = CLIPS["dashcam (3 s cut)"](tmp_path)
    flags = packet_flags(cut)
    assert sum("D" in f for f in flags) >= 30, flags[:40]
    assert sum("D" in f for f in packet_flags(CLIPS["mp4 -ss cut"](tmp_path))) > 0


def _damaged_ts(tmp: Path) -> Path:
    """An H.264/AAC MPEG-TS with 6 KiB of garbage a third of the way in (a bad sector on a DVR disk)."""
    ts = tmp / "clean.ts"
    ffmpeg("-i", DEMO_CLIP, "-t", "3", "-c:v", "libx264", "-g", "30", "-preset", "veryfast", "-c:a", "copy", ts)
    data = bytearray(ts.read_bytes())
    at = len(data) // 3 // 188 * 188
    data[at + 4 : at + 6 * 1024] = bytes((i * 37 + 11) % 256 for i in range(6 * 1024 - 4))
    bad = tmp / "damaged.ts"
    bad.write_bytes(bytes(data))
    return bad


def test_mid_stream_damage_is_skipped_like_ffmpeg_with_a_warning(tmp_path: Path) -> None:
    bad = _damaged_ts(tmp_path)
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["enhance", str(bad), str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    damage = summary["damage"]
    assert damage["skipped_packets"] + damage["corrupt_packets"] + damage["corrupt_frames"] > 0, damage
    assert damage["at_seconds"] and all(0.5 < t < 2.5 for t in damage["at_seconds"]), damage
    assert any(w.startswith("input is damaged: ") for w in summary["warnings"]), summary["warnings"]
    # the frames FFmpeg outputs, at their times: later frames keep their place on the timeline
    assert summary["frames"] == ffmpeg_frame_count(bad)
    times_in, times_out = ffprobe_frame_times(bad), ffprobe_frame_times(out)
    assert len(times_out) == len(times_in)
    shift = times_out[0] - times_in[0]
    assert max(abs(b - a - shift) for a, b in zip(times_in, times_out, strict=True)) < 0.0015

    quiet_run = runner.invoke(app, ["enhance", str(bad), str(tmp_path / "o2.mp4")])
    assert quiet_run.exit_code == 0 and "warning: input is damaged:" in quiet_run.output


def test_strict_turns_damage_into_one_error_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = _damaged_ts(tmp_path)
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["enhance", str(bad), str(out), "--strict"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if not line.startswith(("enhance ", "INFO: "))]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "corrupt" in errors[0], result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["clean.ts", "damaged.ts"]


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_file_cut_at_half_says_it_is_truncated(tmp_path: Path, container: str) -> None:
    whole = tmp_path / f"whole.{container}"
    extra = ["-movflags", "+faststart"] if container == "mp4" else []
    ffmpeg("-i", DEMO_CLIP, "-t", "3", "-c", "copy", *extra, whole)
    data = whole.read_bytes()
    half = tmp_path / f"half.{container}"
    half.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.mp4"

    result = runner.invoke(app, ["enhance", str(half), str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["truncated"] is True and summary["damage"]["truncated"], summary
    assert any(w.startswith("input is truncated: ") for w in summary["warnings"])
    assert 0 < summary["frames"] < 90

    strict = runner.invoke(app, ["enhance", str(half), str(tmp_path / "strict.mp4"), "--strict"])
    last = strict.output.strip().splitlines()[-1]
    assert strict.exit_code == 1 and last.startswith("error: input is corrupt or truncated"), strict.output
    assert not (tmp_path / "strict.mp4").exists()
