"""`nightvid enhance-many` as a command: exit codes, the JSON summary, one-line errors, and a run
interrupted (Ctrl-C) and then killed outright (SIGKILL) that a rerun completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nightvid.cli import app
from nightvid.jobs.many.manifest import MANIFEST_NAME
from tests.clips import make_clip, read_video
from tests.jobs.many_helpers import leftovers, make_long_clip
from tests.procs import interruptible

pytestmark = pytest.mark.timeout(180)

runner = CliRunner()
FAST = ["--backend", "eager", "--jobs", "1", "--quiet"]


def run(*args: object) -> Result:
    return runner.invoke(app, ["enhance-many", *map(str, args)])


def assert_one_error_line(result: Result, expected: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output


def test_json_summary_and_exit_code(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=5, audio=False)
    make_clip(src / "b.mp4", frames=7)
    (src / "c.mp4").write_bytes(b"garbage")
    listing = tmp_path / "inputs.txt"
    listing.write_text("# two clips and a broken file\nin/a.mp4\n\nin/b.mp4\nin/c.mp4\n")

    result = run(listing, "--out-dir", tmp_path / "out", "--suffix", "-bright", "--json", *FAST)

    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["skipped"], summary["failed"], summary["frames"]) == (2, 0, 1, 12)
    rows = {v["name"]: v for v in summary["videos"]}
    assert rows["c-bright.mp4"]["status"] == "failed" and "cannot read" in rows["c-bright.mp4"]["reason"]
    assert read_video(tmp_path / "out" / "b-bright.mp4")["frames"] == 7

    (src / "c.mp4").unlink()
    result = run(src, "--out-dir", tmp_path / "out", "--suffix", "-bright", "--backend", "eager")
    assert result.exit_code == 0, result.output
    assert "0 done, 2 skipped, 0 failed" in result.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_missing_ray_gives_the_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    make_clip(tmp_path / "a.mp4", frames=3, audio=False)
    if how == "environment":
        monkeypatch.setenv("RAY_ADDRESS", "auto")
        result = run(tmp_path / "a.mp4", "--out-dir", tmp_path / "out")
    else:
        result = run(tmp_path / "a.mp4", "--out-dir", tmp_path / "out", "--ray-address", "auto")
    assert_one_error_line(result, "pip install 'nightvid[cluster]'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--chunk-seconds", "0"], "--chunk-seconds must be above 0"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--max-retries", "-1"], "--max-retries"),
        (["--crf", "99"], "--crf for libx264 is 0..51"),
        (["--model", "nope"], "nope"),
    ],
)
def test_bad_options_are_one_line_errors_before_anything_runs(tmp_path: Path, args: list[str], expected: str) -> None:
    make_clip(tmp_path / "a.mp4", frames=3, audio=False)
    assert_one_error_line(run(tmp_path / "a.mp4", "--out-dir", tmp_path / "out", *args), expected)
    assert not (tmp_path / "out" / "a.mp4").exists()


def test_inputs_that_name_nothing(tmp_path: Path) -> None:
    assert_one_error_line(run(tmp_path / "nothing.mp4", "--out-dir", tmp_path / "out"), "input not found")
    assert_one_error_line(run(str(tmp_path / "*.mkv"), "--out-dir", tmp_path / "out"), "no file matches")
    (tmp_path / "empty").mkdir()
    assert_one_error_line(run(tmp_path / "empty", "--out-dir", tmp_path / "out"), "no video files found")


def _done(out: Path) -> set[str]:
    manifest = out / MANIFEST_NAME
    if not manifest.exists():
        return set()
    records = []
    for line in manifest.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return {r["output"] for r in records if r.get("event") == "done"}


def _start(src: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "nightvid", "enhance-many", str(src), "--out-dir", str(out)]
    command += ["--backend", "eager", "--crf", "0", "--jobs", "2", "--chunk-seconds", "0.4", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=interruptible)


def _wait_for(proc: subprocess.Popen, out: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(_done(out)) < count and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()[1]}"
    assert len(_done(out)) >= count


def test_interrupted_then_killed_run_is_completed_by_a_rerun(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    expected = {f"clip{i}.mp4": 30 for i in range(6)}
    for name in expected:
        make_clip(src / name, frames=30, size=(128, 96))
    make_long_clip(src / "long.mp4")
    expected["long.mp4"] = 60
    out = tmp_path / "out"

    # Ctrl-C: the workers unwind, nothing half-written remains, finished videos are kept.
    proc = _start(src, out)
    _wait_for(proc, out, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; finished videos are kept" in err and "Traceback" not in err
    assert [p for p in leftovers(out) if ".partial" in p.name] == []
    first = _done(out)
    assert first and first != set(expected)

    # SIGKILL: no cleanup at all; the workers die with the scheduler.
    proc = _start(src, out)
    _wait_for(proc, out, len(first) + 1)
    proc.kill()
    proc.communicate(timeout=60)
    for name in _done(out):
        assert read_video(out / name)["frames"] == expected[name]

    result = run(src, "--out-dir", out, "--backend", "eager", "--crf", "0", "--chunk-seconds", "0.4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    rows = {v["name"]: v for v in summary["videos"]}
    assert {name for name, v in rows.items() if v["status"] == "skipped"} >= first
    assert summary["failed"] == 0 and set(rows) == set(expected)
    assert sorted(p.name for p in out.glob("*.mp4")) == sorted(expected)
    for name, frames in expected.items():
        assert read_video(out / name)["frames"] == frames
    assert leftovers(out) == []
    assert _done(out) == set(expected)
