"""Hostile streams and options (issue 13): what the output can hold is carried, the rest is
reported (stderr and --json); HDR10, interlacing, encoder options, a quiet x265."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from tests.clips import HDR10_LIGHT, make_clip, make_hdr10, make_interlaced, make_rich_streams, read_video

runner = CliRunner()


def enhance(*args: object) -> object:
    return runner.invoke(app, ["enhance", *map(str, args), "--backend", "eager"])


def summary_of(result: object) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]


def streams_of(path: Path) -> list[tuple[str, str | None, dict[str, str]]]:
    with av.open(str(path)) as container:
        return [
            (s.type, s.codec_context.name if s.codec_context else s.metadata.get("filename"), dict(s.metadata))
            for s in container.streams
        ]


def test_matroska_to_matroska_carries_subtitles_attachments_a_second_video_tags_and_chapters(tmp_path: Path) -> None:
    """The font attachment and the second video were dropped without a word, tags and
    chapters too; now all of them are in the output and the second video is named."""
    clip = make_rich_streams(tmp_path / "in.mkv")
    out = tmp_path / "out.mkv"
    result = enhance(clip, out, "--json")
    assert result.exit_code == 0, result.output
    kinds = [(kind, codec) for kind, codec, _ in streams_of(out)]
    assert kinds == [("video", "h264"), ("video", "h264"), ("subtitle", "srt"), ("attachment", "night.ttf")]
    assert streams_of(out)[0][2]["language"] == "fra" and streams_of(out)[2][2]["language"] == "eng"
    with av.open(str(out)) as container:
        assert container.metadata["title"] == "night drive"
        assert [c["metadata"]["title"] for c in container.chapters()] == ["street", "bridge"]
    summary = summary_of(result)
    assert summary["dropped"] == []
    assert summary["warnings"] == [
        "video stream 1 (h264) copied as it is, not enhanced: nightvid enhances the first video stream only"
    ]
    assert read_video(out)["frames"] == 10


def test_what_an_mp4_cannot_hold_is_dropped_with_a_reason_even_under_quiet_in_json(tmp_path: Path) -> None:
    clip = make_rich_streams(tmp_path / "in.mkv")
    out = tmp_path / "out.mp4"
    result = enhance(clip, out, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --quiet: nothing but errors on stderr ...
    dropped = summary_of(result)["dropped"]  # ... and the --json summary says what was left out
    assert [(d["index"], d["type"], d["codec"]) for d in dropped] == [
        (2, "subtitle", "srt"),
        (3, "attachment", "night.ttf"),
    ]
    assert "a .mkv can" in dropped[0]["reason"] and "cannot hold attachments" in dropped[1]["reason"]
    loud = enhance(clip, tmp_path / "loud.mp4")
    assert "warning: dropped subtitle stream 2 (srt)" in loud.stderr
    assert "warning: dropped attachment stream 3 (night.ttf)" in loud.stderr


def test_mp4_timecode_cover_art_and_mov_text_are_carried(tmp_path: Path) -> None:
    """A tmcd timecode track (a data stream) was dropped silently; now the output gets its
    own, from the video's timecode tag, with the cover art and mov_text subtitles."""
    clip = make_rich_streams(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    assert enhance(clip, out, "--quiet").exit_code == 0
    with av.open(str(out)) as container:
        tracks = [(s.type, dict(s.metadata).get("handler_name")) for s in container.streams]
        assert tracks.count(("data", "TimeCodeHandler")) == 1
        assert container.streams.video[0].metadata["timecode"] == "01:02:03:04"
        assert any(s.disposition & av.stream.Disposition.attached_pic for s in container.streams.video)
        assert [s.codec_context.name for s in container.streams.subtitles] == ["mov_text"]
        assert len(container.chapters()) == 2
    in_mkv = tmp_path / "out.mkv"
    result = enhance(clip, in_mkv, "--json")
    assert result.exit_code == 0, result.output
    with av.open(str(in_mkv)) as container:
        assert container.streams.video[0].metadata["TIMECODE"] == "01:02:03:04"
    assert [d["codec"] for d in summary_of(result)["dropped"]] == ["mov_text"]


def _side_data(path: Path) -> dict[str, bytes]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return {str(item.type).split(".")[-1]: bytes(item) for item in frame.side_data}


@pytest.mark.parametrize("codec", ["libx265", "libx264"])
def test_hdr10_mastering_display_and_light_level_are_carried(tmp_path: Path, codec: str) -> None:
    clip = make_hdr10(tmp_path / "hdr.mkv")
    out = tmp_path / "out.mkv"
    result = enhance(clip, out, "--codec", codec, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    source, made = _side_data(clip), _side_data(out)
    assert made["MASTERING_DISPLAY_METADATA"] == source["MASTERING_DISPLAY_METADATA"]
    assert np.frombuffer(made["CONTENT_LIGHT_LEVEL"], np.uint32).tolist() == list(HDR10_LIGHT)
    assert summary_of(result)["warnings"] == []
    assert read_video(out)["pix_fmt"] == "yuv420p10le"


def test_hdr10_into_an_encoder_that_cannot_write_it_is_said(tmp_path: Path) -> None:
    clip = make_hdr10(tmp_path / "hdr.mkv")
    result = enhance(clip, tmp_path / "out.mkv", "--codec", "mpeg4", "--json")
    assert result.exit_code == 0, result.output
    assert any("HDR10 mastering-display" in w for w in summary_of(result)["warnings"])


def _combing(path: Path) -> float:
    """Mean |row - mean of its neighbours| of the luma over its mean: large when fields disagree."""
    with av.open(str(path)) as container:
        luma = [f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)]
    return float(np.mean([np.abs(y[1:-1] - (y[:-2] + y[2:]) / 2).mean() / y.mean() for y in luma]))


def test_interlaced_input_is_deinterlaced_and_said(tmp_path: Path) -> None:
    """Interlaced input became progressive with no word (the net smeared its fields into
    each other); now bwdif makes one progressive frame of each, with its pts, and says so."""
    clip = make_interlaced(tmp_path / "interlaced.mkv", frames=8, size=(128, 96))
    out = tmp_path / "out.mkv"
    result = enhance(clip, out, "--json")
    assert result.exit_code == 0, result.output
    assert read_video(out)["pts"] == read_video(clip)["pts"]
    assert summary_of(result)["warnings"] == [
        "input is interlaced (top field first); deinterlaced (bwdif, a frame per frame)"
    ]
    with av.open(str(out)) as container:
        assert not any(frame.interlaced_frame for frame in container.decode(video=0))
    assert _combing(out) < 0.6 * _combing(clip)


@pytest.mark.parametrize(
    "opt, words",
    [
        ("tune=bogus", "invalid tune 'bogus'"),
        ("nosuch=1", "has no option 'nosuch'"),
        ("x264-params=keyint=10:bogus=3", "Error parsing option 'bogus = 3'"),
        ("profile=nonsense", "invalid profile"),
        ("novalue", "--encoder-opt takes KEY=VALUE"),
    ],
)
def test_a_wrong_encoder_opt_is_one_line_and_writes_nothing(tmp_path: Path, opt: str, words: str) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    for command in (
        ["enhance", str(clip), str(tmp_path / "out.mp4")],
        ["enhance-many", str(clip), "-o", str(tmp_path / "o")],
    ):
        result = runner.invoke(app, [*command, "--encoder-opt", opt])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error: ") and words in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_encoder_opts_reach_the_encoder(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=12, audio=False)
    out = tmp_path / "out.mp4"
    args = ["--encoder-opt", "x264-params=keyint=4:min-keyint=4:scenecut=0", "--encoder-opt", "profile=high"]
    assert enhance(clip, out, *args, "--quiet").exit_code == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        keys = [i for i, p in enumerate(p for p in container.demux(stream) if p.size) if p.is_keyframe]
        assert stream.codec_context.profile == "High"
    assert keys == [0, 4, 8]


@pytest.mark.parametrize("codec, chatter", [("libx265", "x265 [info]"), ("libsvtav1", "Svt[info]")])
def test_encoders_that_print_themselves_are_silent_under_quiet(tmp_path: Path, codec: str, chatter: str) -> None:
    """x265 and SVT-AV1 print their settings and summary to stderr themselves; --quiet silences them too."""
    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    command = [sys.executable, "-m", "nightvid", "enhance", str(clip), str(tmp_path / "o.mkv"), "--codec", codec]
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    quiet = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""
    loud = subprocess.run([*command, "--overwrite"], capture_output=True, text=True, timeout=300, env=env)
    assert loud.returncode == 0 and chatter in loud.stderr


def test_an_audio_file_with_cover_art_is_not_a_video(tmp_path: Path) -> None:
    """An M4A with album art has a one-picture 'video' stream; it was enhanced into a
    one-frame video. Now it is refused like any file without video."""
    from av.stream import Disposition

    from tests.clips import _jpeg

    song = tmp_path / "song.m4a"
    with av.open(str(song), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=44100)
        sound.layout = "mono"
        art = out.add_mux_stream("mjpeg", width=16, height=16)
        art.disposition = Disposition.attached_pic
        for i in range(10):
            part = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            part.sample_rate, part.pts = 44100, i * 1024
            out.mux(sound.encode(part))
        out.mux(sound.encode(None))
        picture = av.Packet(_jpeg(16, 16))
        picture.pts = picture.dts = 0
        picture.stream = art
        out.mux(picture)
    result = enhance(song, tmp_path / "out.mp4")
    assert result.exit_code == 1 and "only cover art" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out.mp4").exists()


def test_a_ts_output_says_what_it_cannot_hold(tmp_path: Path) -> None:
    """MPEG-TS holds no chapters, timecode or text subtitles: the muxer took them and wrote nothing."""
    clip = make_rich_streams(tmp_path / "in.mov")
    result = enhance(clip, tmp_path / "out.ts", "--json")
    assert result.exit_code == 0, result.output
    summary = summary_of(result)
    assert "2 chapter(s) dropped: a .ts file cannot hold chapters" in summary["warnings"]
    assert [(d["type"], d["codec"]) for d in summary["dropped"]] == [("subtitle", "mov_text"), ("data", "tmcd")]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_anamorphic_pixels_keep_their_shape(tmp_path: Path, suffix: str) -> None:
    """A 16:11 sample aspect ratio (anamorphic DVD/HDV) was dropped: the output showed squeezed."""
    clip = tmp_path / "anamorphic.mkv"
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 72, 48, "yuv420p"
        video.codec_context.sample_aspect_ratio = Fraction(16, 11)
        for i in range(4):
            frame = av.VideoFrame(72, 48, "yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    out_path = tmp_path / f"out{suffix}"
    assert enhance(clip, out_path, "--quiet").exit_code == 0
    with av.open(str(out_path)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(16, 11)
