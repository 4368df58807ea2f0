"""10-bit video stays 10-bit where the codec can store it; containers follow the extension."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from tests.clips import make_clip, read_video

runner = CliRunner()


def pix_fmt_of(path: Path) -> str:
    with av.open(str(path)) as inp:
        return inp.streams.video[0].codec_context.pix_fmt


def write_ramp_10bit(path: Path, width: int = 1024, height: int = 16) -> Path:
    """A grey ramp with ~880 distinct 10-bit luma codes (8-bit video has at most 220)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        rgb = (np.linspace(0, 65535, width)[None, :, None] * np.ones((height, 1, 3))).astype(np.uint16)
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(format="yuv420p10le")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def luma_codes(path: Path) -> int:
    with av.open(str(path)) as inp:
        frame = next(inp.decode(video=0))
        return len(np.unique(frame.to_ndarray(format="gray10le")))


def test_ten_bit_input_stays_ten_bit_and_keeps_precision(tmp_path: Path) -> None:
    import torch

    from nightvid.engines.base import Engine
    from nightvid.streamer.encode_options import EncodeOptions
    from nightvid.streamer.pipeline import enhance_video

    identity = Engine(fn=lambda x: x, backend="identity", device=torch.device("cpu"))
    src = write_ramp_10bit(tmp_path / "in10.mkv")
    out = tmp_path / "out.mkv"
    enhance_video(src, out, identity, encode=EncodeOptions(crf=0, preset="ultrafast"))
    assert pix_fmt_of(out) == "yuv420p10le"
    assert luma_codes(src) > 800
    assert luma_codes(out) > 0.9 * luma_codes(src)  # an 8-bit path would leave <= 220


def test_codec_without_ten_bit_falls_back_to_eight_with_a_warning(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in10.mkv", frames=3, size=(64, 48), pix_fmt="yuv420p10le", audio=False)
    out = tmp_path / "out.webm"
    result = runner.invoke(app, ["enhance", str(src), str(out), "--codec", "libvpx-vp9"])
    assert result.exit_code == 0, result.output
    assert "cannot write 10-bit" in result.output
    assert pix_fmt_of(out) == "yuv420p"


def test_explicit_pix_fmt_is_used(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    out = tmp_path / "out.mp4"
    assert runner.invoke(app, ["enhance", str(src), str(out), "--pix-fmt", "yuv444p", "-q"]).exit_code == 0
    assert pix_fmt_of(out) == "yuv444p"


@pytest.mark.parametrize("suffix", [".mkv", ".mov", ".webm"])
def test_other_containers_by_extension(suffix: str, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=5, audio=suffix != ".webm")
    out = tmp_path / f"out{suffix}"
    codec = ["--codec", "libvpx-vp9"] if suffix == ".webm" else []
    result = runner.invoke(app, ["enhance", str(src), str(out), "-q", *codec])
    assert result.exit_code == 0, result.output
    assert read_video(out)["frames"] == 5


def test_audio_codec_the_container_cannot_hold_is_a_clear_error(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=3)  # AAC audio: WebM only takes Opus/Vorbis
    out = tmp_path / "out.webm"
    result = runner.invoke(app, ["enhance", str(src), str(out), "--codec", "libvpx-vp9"])
    assert result.exit_code == 1 and "audio codec aac cannot be stored" in result.output
    assert not out.exists()
