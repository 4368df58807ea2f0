"""The bundled clip and `nightvid demo` (the README's first command)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from nightvid.cli import enhance as enhance_commands
from tests.clips import make_clip, read_video


def test_bundled_clip_is_a_short_dark_video_with_audio() -> None:
    clip = enhance_commands.DEMO_CLIP
    assert clip.is_file() and clip.stat().st_size < 2 * 2**20
    info = read_video(clip)
    assert info["frames"] >= 100 and info["audio"]
    assert info["luma"] < 15  # really dark: mean luma about 6 of 255


def test_demo_writes_the_result_and_prints_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enhance_commands, "DEMO_CLIP", make_clip(tmp_path / "clip.mp4", frames=6))
    out = tmp_path / "demo.mp4"
    result = CliRunner().invoke(app, ["demo", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out.resolve())
    assert read_video(out)["frames"] == 6


def test_demo_replaces_only_its_own_default_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enhance_commands, "DEMO_CLIP", make_clip(tmp_path / "clip.mp4", frames=3))
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"a video of mine")
    refused = CliRunner().invoke(app, ["demo", str(mine), "--quiet"])
    assert refused.exit_code == 1 and refused.output.startswith("error: output exists")
    assert mine.read_bytes() == b"a video of mine"
    default = tmp_path / "nightvid-demo.mp4"
    default.write_bytes(b"an earlier demo")
    monkeypatch.setattr(enhance_commands, "DEMO_OUTPUT", default)
    again = CliRunner().invoke(app, ["demo", "--quiet"])
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == str(default.resolve()) and read_video(default)["frames"] == 3
