"""Hostile timestamps (issue 13): concat joins, late starts, MPEG-TS and AVI output; every frame kept."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from tests.clips import make_clip, make_concat_join, read_video

runner = CliRunner()


def enhance(*args: object) -> object:
    return runner.invoke(app, ["enhance", *map(str, args), "--backend", "eager"])


def first_times(path: Path) -> dict[str, float]:
    """Seconds of the first packet of each stream, by type."""
    times: dict[str, float] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            kind = packet.stream.type
            if packet.size and packet.pts is not None and kind not in times:
                times[kind] = float(packet.pts * packet.time_base)
    return times


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_concat_joins_keep_every_frame_moved_just_past_the_previous(tmp_path: Path, suffix: str) -> None:
    """ffmpeg -f concat -c copy of 30, 12 and 25 fps segments: pts go back and repeat at the
    joins. The muxer refused them (returned 22); now every frame is kept, in order, each
    moved just after the previous one, and the move is said on stderr and in --json."""
    clip = make_concat_join(tmp_path / "joined.mp4")
    source = read_video(clip)
    assert source["pts"] != sorted(set(source["pts"]))  # the input does go back and repeat
    out = tmp_path / f"out{suffix}"
    result = enhance(clip, out, "--json")
    assert result.exit_code == 0, result.output
    made = read_video(out)
    assert made["frames"] == source["frames"] == 31
    assert all(b > a for a, b in zip(made["seconds"], made["seconds"][1:], strict=False))
    moved = [abs(a - b) for a, b in zip(made["seconds"], source["seconds"], strict=True)]
    assert max(moved) < 0.09 and sum(m > 0.002 for m in moved) == 4  # only the frames at the joins
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["warnings"]) == 1 and "4 frame(s)" in summary["warnings"][0]
    assert "warning: 4 frame(s) had a timestamp at or before" in result.stderr


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_ts_starting_at_1001_s_gives_an_output_starting_at_0(tmp_path: Path, suffix: str) -> None:
    """A TS cut from a long recording starts at 1001 s: outputs read 1004 s long (an empty
    first 1001 s); now the output starts at 0 with the audio still in sync. Its ADTS AAC
    cannot go into an AVI (the muxer's `returned 22`): one error line."""
    rate, frames = 25, 25
    clip = make_clip(tmp_path / "late.ts", frames=frames, rate=rate, pts=[1001 * rate + i for i in range(frames)])
    before = first_times(clip)
    out = tmp_path / f"out{suffix}"
    result = enhance(clip, out, "--quiet")
    assert result.exit_code == 0, result.output
    made = read_video(out)
    assert made["frames"] == frames
    after = first_times(out)
    with av.open(str(out)) as container:
        assert container.duration is not None and container.duration / 1e6 < 1.5
    assert after["video"] == pytest.approx(0, abs=0.05)
    assert after["audio"] - after["video"] == pytest.approx(before["audio"] - before["video"], abs=0.03)
    avi = enhance(clip, tmp_path / "out.avi")
    assert avi.exit_code == 1 and avi.output.startswith("error: AAC audio from an MPEG-TS (ADTS)")
    assert len(avi.output.strip().splitlines()) == 1 and not (tmp_path / "out.avi").exists()


def test_ts_output_keeps_the_source_timing_with_the_usual_mux_delay(tmp_path: Path) -> None:
    """A video-only MP4 to .ts was shifted by 67 ms (the muxer made x264's negative first dts
    non-negative); now every frame is at its source time plus the TS muxer's 1.4 s."""
    clip = make_clip(tmp_path / "in.mp4", frames=12, rate=30, audio=False)
    out = tmp_path / "out.ts"
    assert enhance(clip, out, "--quiet").exit_code == 0
    source, made = read_video(clip), read_video(out)
    assert [t - 1.4 for t in made["seconds"]] == pytest.approx(source["seconds"], abs=1e-4)
    with_audio = make_clip(tmp_path / "av.mp4", frames=12, rate=30)
    out2 = tmp_path / "av.ts"
    assert enhance(with_audio, out2, "--quiet").exit_code == 0
    assert [t - 1.4 for t in read_video(out2)["seconds"]] == pytest.approx(source["seconds"], abs=1e-4)


@pytest.mark.parametrize("codec", ["mjpeg", "mpeg4"])
def test_avi_output_is_constant_rate_with_one_slot_per_frame(tmp_path: Path, codec: str) -> None:
    """AVI keeps no pts: frame N is shown at N / rate. The output took the source's 1/15360
    time base (the header claimed 254 frames for 12, the audio shift moved frame 1 to
    slot 2); now it is 1/rate, frame N in slot N, the AAC carried."""
    clip = make_clip(tmp_path / "in.mp4", frames=12, rate=30)
    out = tmp_path / "out.avi"
    pix = ["--pix-fmt", "yuvj420p"] if codec == "mjpeg" else []
    result = enhance(clip, out, "--codec", codec, *pix, "--quiet")
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, 30) and stream.frames == 12
    made = read_video(out)
    assert made["pts"] == list(range(12)) and made["audio"] == read_video(clip)["audio"]


def test_avi_from_variable_rate_moves_frames_that_share_a_slot_and_says_so(tmp_path: Path) -> None:
    pts = [0, 40, 50, 120, 160, 400]  # 50 falls in the slot of 40 at 25 fps
    clip = make_clip(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), audio=False)
    out = tmp_path / "out.avi"
    result = enhance(clip, out, "--codec", "mpeg4", "--json")
    assert result.exit_code == 0, result.output
    assert read_video(out)["frames"] == len(pts)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("same frame slot of the AVI" in w for w in summary["warnings"])


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_seven_fps_with_a_time_base_of_one_seventh(tmp_path: Path, suffix: str) -> None:
    """Issue 13 reported `returned 22` for a 7 fps MP4 made with -video_track_timescale 7;
    the same file made with PyAV (B-frames, an edit list, a 1/7 track time base) is
    enhanced with its timing. The report's file itself was not reproduced (docs/USAGE.md,
    the end of "Bad input")."""
    clip = tmp_path / "seven.mp4"
    with av.open(str(clip), "w", options={"video_track_timescale": "7"}) as out:
        video = out.add_stream("libx264", rate=7)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(14):
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts, frame.time_base = i + 3, Fraction(1, 7)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    source = read_video(clip)
    assert source["time_base"] == Fraction(1, 7)
    out_path = tmp_path / f"out{suffix}"
    result = enhance(clip, out_path, "--quiet")
    assert result.exit_code == 0, result.output
    made = read_video(out_path)
    assert made["frames"] == 14
    assert [t - made["seconds"][0] for t in made["seconds"]] == pytest.approx(
        [t - source["seconds"][0] for t in source["seconds"]], abs=2e-3
    )


def test_enhance_many_reports_each_videos_warnings(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_concat_join(tmp_path / "in" / "joined.mp4")
    result = runner.invoke(app, ["enhance-many", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    video = json.loads(result.stdout.strip().splitlines()[-1])["videos"][0]
    assert video["frames"] == 31 and len(video["warnings"]) == 1 and "moved just after" in video["warnings"][0]
