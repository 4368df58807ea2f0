"""`nightvid compare` on a small clip and an image folder: sheet layout, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from nightvid.cli import app
from nightvid.engines import EngineSpec
from nightvid.errors import NightvidError
from nightvid.jobs import compare as C
from nightvid.jobs.compare.sheet import contact_sheet
from tests.clips import make_clip

runner = CliRunner()


def _sheet_size(rows: int, columns: int, cell: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of a sheet: a 30 px header, rows of the cell height, 4 px gaps, a 110 px label column."""
    width, height = cell
    return 30 + rows * (height + 4), 110 + columns * (width + 4)


def test_compare_a_clip_writes_the_sheet_and_json(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", frames=30, size=(96, 64), rate=10)
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(
        app,
        [
            "compare",
            str(clip),
            "--models",
            "noiser",
            "--baselines",
            "gain,gamma",
            "--frames",
            "3",
            "--out",
            str(sheet),
            "--json",
            "--flicker-frames",
            "5",
            "--backend",
            "eager",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [f["label"] for f in report["frames"]] == ["0.50 s", "1.50 s", "2.50 s"]
    assert list(report["methods"]) == ["input", "gain", "gamma", "noiser"]
    for row in report["methods"].values():
        assert {"mean_luma", "clipped", "colourfulness", "colour_vs_gain", "noise", "border_excess", "flicker"} <= set(
            row
        )
        assert len(row["frames"]) == 3 and row["flicker"] is not None
    assert report["methods"]["noiser"]["mean_luma"] > 2 * report["methods"]["input"]["mean_luma"]
    image = cv2.imread(str(sheet))
    assert image.shape[:2] == _sheet_size(3, 4, (320, round(64 * 320 / 96)))


def test_compare_at_given_times_and_the_table(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", frames=30, size=(64, 48), rate=10)
    result = runner.invoke(
        app,
        [
            "compare",
            str(clip),
            "--models",
            "",
            "--baselines",
            "gain",
            "--at",
            "0.35,2.0",
            "--out",
            str(tmp_path / "s.png"),
            "--flicker-frames",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "gain" in result.stdout and "border" in result.stdout


def test_compare_an_image_folder(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg", "c.png"):
        cv2.imwrite(str(folder / name), (rng.random((40, 56, 3)) * 50).astype(np.uint8))
    (folder / "notes.txt").write_text("not an image")
    report = C.run_compare(folder, methods=[C.baseline_method("gamma")], frames=2, sheet=tmp_path / "s.png")
    assert [f["label"] for f in report["frames"]] == ["a.png", "c.png"]
    assert report["methods"]["gamma"]["flicker"] is None  # photos have no sequence
    assert cv2.imread(str(tmp_path / "s.png")).shape[:2] == _sheet_size(2, 2, (320, round(40 * 320 / 56)))
    with pytest.raises(NightvidError, match="--at"):
        C.run_compare(folder, methods=[], at=[1.0])


def test_a_model_that_fails_is_one_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def enhance_frames(self, frames: np.ndarray) -> np.ndarray:
            raise RuntimeError("kernel exploded")

    monkeypatch.setattr("nightvid.engines.create_engine", lambda *a, **k: Broken())
    method = C.model_method(EngineSpec(model="noiser"))
    with pytest.raises(NightvidError, match="model noiser failed on a 8x6 frame: kernel exploded"):
        method.run(np.zeros((6, 8, 3), np.uint8))
    clip = make_clip(tmp_path / "night.mp4", frames=10)
    for args in (["--models", "nope"], ["--baselines", "sepia"], ["--frames", "0"], ["--at", "x"]):
        result = runner.invoke(app, ["compare", str(clip), "--out", str(tmp_path / "s.png"), *args])
        assert result.exit_code == 1 and result.output.startswith("error: "), (args, result.output)
        assert len(result.output.strip().splitlines()) == 1
    missing = runner.invoke(app, ["compare", str(tmp_path / "none.mp4"), "--models", ""])
    assert missing.exit_code == 1 and "not found" in missing.output


def test_contact_sheet_rejects_ragged_rows() -> None:
    frame = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(NightvidError):
        contact_sheet([[frame, frame], [frame]], ["a", "b"], ["1", "2"])


def test_side_by_side_clip_keeps_every_frame_and_its_time(tmp_path: Path) -> None:
    from tests.clips import read_video

    clip = make_clip(tmp_path / "night.mp4", frames=12, size=(64, 48), rate=10)
    video = tmp_path / "sbs.mp4"
    result = runner.invoke(
        app,
        [
            "compare",
            str(clip),
            "--models",
            "",
            "--baselines",
            "gain",
            "--frames",
            "1",
            "--out",
            str(tmp_path / "s.png"),
            "--video",
            str(video),
            "--json",
            "--flicker-frames",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["side_by_side"]["columns"] == ["input", "gain"]
    source, made = read_video(clip), read_video(video)
    assert made["frames"] == source["frames"] == 12
    assert made["seconds"] == pytest.approx([s - source["seconds"][0] for s in source["seconds"]], abs=1e-3)
    assert made["width"] == 2 * 64 + 4 and made["audio"] == []
    assert not list(tmp_path.glob(".*partial*"))
    short = runner.invoke(
        app,
        [
            "compare",
            str(clip),
            "--models",
            "",
            "--baselines",
            "",
            "--frames",
            "1",
            "--out",
            str(tmp_path / "t.png"),
            "--video",
            str(tmp_path / "short.mp4"),
            "--video-seconds",
            "0.45",
            "--flicker-frames",
            "0",
        ],
    )
    assert short.exit_code == 0, short.output
    assert read_video(tmp_path / "short.mp4")["frames"] == 5
    bad = runner.invoke(
        app,
        ["compare", str(clip), "--models", "", "--out", str(tmp_path / "u.png"), "--video", str(tmp_path / "clip.gif")],
    )
    assert bad.exit_code == 1 and "--video" in bad.output


def test_side_by_side_clip_of_a_variable_rate_video_with_a_model(tmp_path: Path) -> None:
    """Frames closer than 1/rate (a phone clip) keep their own times; the model sees the fused frames."""
    from fractions import Fraction

    from tests.clips import read_video

    stamps = [0, 30, 40, 41, 42, 90, 95, 150]  # 1/1000 s: 1 ms apart where the average rate is 50 fps
    clip = make_clip(tmp_path / "vfr.mp4", frames=len(stamps), size=(64, 48), pts=stamps, time_base=Fraction(1, 1000))
    video = tmp_path / "sbs.mp4"
    command = ["compare", str(clip), "--models", "noiser", "--baselines", "", "--backend", "eager", "--frames", "1"]
    command += ["--out", str(tmp_path / "s.png"), "--video", str(video), "--flicker-frames", "0", "--json"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    source, made = read_video(clip), read_video(video)
    assert made["frames"] == len(stamps)
    assert made["seconds"] == pytest.approx([s - source["seconds"][0] for s in source["seconds"]], abs=1e-3)
    assert json.loads(result.stdout)["side_by_side"]["columns"] == ["input", "noiser"]


def test_compare_refuses_an_existing_output_and_shows_its_progress(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", frames=12, size=(64, 48), rate=10)
    sheet = tmp_path / "s.png"
    sheet.write_bytes(b"an earlier sheet")
    args = ["compare", str(clip), "--models", "", "--baselines", "gain", "--frames", "2", "--flicker-frames", "0"]
    refused = runner.invoke(app, [*args, "--out", str(sheet)])
    assert (
        refused.exit_code == 1 and refused.output == f"error: output exists: {sheet} (pass --overwrite to replace it)\n"
    )
    assert sheet.read_bytes() == b"an earlier sheet"
    clip_out = tmp_path / "sbs.mp4"
    clip_out.write_bytes(b"an earlier clip")
    video = runner.invoke(app, [*args, "--out", str(tmp_path / "new.png"), "--video", str(clip_out)])
    assert video.exit_code == 1 and "output exists" in video.output and not (tmp_path / "new.png").exists()
    done = runner.invoke(app, [*args, "--out", str(sheet), "--overwrite"])
    assert done.exit_code == 0, done.output
    assert cv2.imread(str(sheet)) is not None
    # input and gain on 2 frames: 4 frames run, each line on stderr
    assert "compare night.mp4: 0/4 frames" in done.stderr and "compare night.mp4: 4/4 frames" in done.stderr
    assert "contact sheet" in done.stderr and "2 frames" in done.stdout


def test_run_compare_reports_progress_with_its_total(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", frames=20, size=(64, 48), rate=10)
    calls: list[tuple[int, int, str]] = []
    C.run_compare(
        clip, methods=[C.baseline_method("gamma")], frames=2, flicker_frames=4, on_progress=lambda *a: calls.append(a)
    )
    # 2 columns (input, gamma) on 2 picked frames, then on 4 consecutive frames for the flicker figure
    assert calls[0] == (0, 12, "input on 0.50 s") and calls[-1] == (12, 12, "")
    assert [done for done, _, _ in calls] == list(range(13))
    assert calls[5][2] == "input: flicker over 4 frames"
