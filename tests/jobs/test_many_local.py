"""`enhance-many` on this machine's process pool: outputs as `enhance`, long videos in pieces, reruns, failures.

One pool of two worker processes serves the module (each builds its eager NoiSER once);
its runner injects faults for inputs named ``die-once*`` and ``eio*`` and is
``run_task`` for every other input.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nightvid.jobs.many import ManyJob, ManyProgress
from nightvid.jobs.many.local_pool import LocalPool
from nightvid.jobs.many.manifest import MANIFEST_NAME
from nightvid.streamer.encode_options import EncodeOptions
from tests.clips import make_clip, read_video
from tests.jobs.many_helpers import (
    VIDEO,
    assert_same_video,
    faulty_runner,
    frames_of,
    leftovers,
    make_long_clip,
    single_run,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalPool]:
    workers = LocalPool(2, runner=faulty_runner, threads=1)
    workers.start()
    yield workers
    workers.close()


def many(inputs: list[Path], out: Path, **options: object) -> ManyJob:
    options.setdefault("video", VIDEO)
    return ManyJob(tuple(map(str, inputs)), out, **options)  # type: ignore[arg-type]


def by_name(summary) -> dict:  # noqa: ANN001
    return {v.name: v for v in summary.videos}


def test_outputs_equal_single_enhance_and_a_corrupt_input_fails_alone(tmp_path: Path, pool: LocalPool) -> None:
    src = tmp_path / "cams"
    (src / "night" / "deep").mkdir(parents=True)
    make_clip(src / "a.mp4", frames=12)
    make_clip(src / "night" / "b.mkv", frames=9, rate=30)
    make_long_clip(src / "night" / "deep" / "vfr.mp4", vfr=True)
    (src / "night" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    (src / "notes.txt.bak").write_text("not a video")
    progress: list[ManyProgress] = []
    out = tmp_path / "out"

    summary = many([src], out).run(on_progress=progress.append, pool=pool)

    rows = by_name(summary)
    assert set(rows) == {"a.mp4", "night/b.mkv", "night/deep/vfr.mp4", "night/broken.mp4"}
    assert [rows[k].status for k in sorted(rows)] == ["done", "done", "failed", "done"]
    assert "cannot read" in str(rows["night/broken.mp4"].reason) and rows["night/broken.mp4"].attempts == 1
    for key in ("a.mp4", "night/b.mkv", "night/deep/vfr.mp4"):
        reference = tmp_path / f"ref{Path(key).suffix}"
        single_run(src / key, reference)
        assert_same_video(out / key, reference)
    assert rows["a.mp4"].frames == 12 and rows["night/deep/vfr.mp4"].frames == 60
    assert not (out / "night" / "broken.mp4").exists()
    assert leftovers(out) == []
    assert progress and progress[-1].videos_total == 4
    done = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert sorted(r["output"] for r in done if r["event"] == "done") == ["a.mp4", "night/b.mkv", "night/deep/vfr.mp4"]


@pytest.mark.parametrize(
    ("vfr", "temporal"), [(False, 1), (True, 1), (False, 5), (True, 3)], ids=["cfr", "vfr", "cfr-t5", "vfr-t3"]
)
def test_long_clip_in_pieces_equals_one_pass(tmp_path: Path, pool: LocalPool, vfr: bool, temporal: int) -> None:
    """Each piece reads its neighbours' frames as the temporal filter's context: the joins do not show."""
    src = make_long_clip(tmp_path / "long.mp4", vfr=vfr)
    reference = tmp_path / "ref.mp4"
    single_run(src, reference, temporal=temporal)

    summary = many([src], tmp_path / "out", chunk_seconds=0.7, video=replace(VIDEO, temporal=temporal)).run(pool=pool)

    (row,) = summary.videos
    assert row.status == "done" and row.parts == 3 and row.frames == 60, row
    assert_same_video(tmp_path / "out" / "long.mp4", reference)
    assert not (tmp_path / "out" / ".nightvid-parts").exists()


def test_pieces_are_stabilised_each_from_its_first_frame(tmp_path: Path, pool: LocalPool) -> None:
    """--stabilize (the default) with --chunk-seconds: each piece smooths its own brightness,
    its average starting at its first frame; every frame is there and close to one pass."""
    src = make_long_clip(tmp_path / "long.mp4")
    reference = single_run(src, tmp_path / "ref.mp4", stabilize=True)
    summary = many([src], tmp_path / "out", chunk_seconds=0.7, video=replace(VIDEO, stabilize=True)).run(pool=pool)
    (row,) = summary.videos
    assert row.status == "done" and row.parts == 3 and row.frames == 60, row
    pieces, whole = frames_of(tmp_path / "out" / "long.mp4"), frames_of(tmp_path / "ref.mp4")
    assert len(pieces) == len(whole) == len(reference["pts"]) == 60
    differences = [float(np.abs(a - b).mean()) for a, b in zip(pieces, whole, strict=True)]
    assert max(differences) < 3.0, differences  # the restart moves a piece's first frames a little


def test_piece_that_cannot_be_cut_falls_back_to_one_pass(tmp_path: Path, pool: LocalPool) -> None:
    """An open-GOP clip has no clean cut (leading B-frames need the GOP before): one pass, same frames."""
    src = make_clip(
        tmp_path / "open.mkv", frames=40, options={"x264-params": "open-gop=1:keyint=10:scenecut=0", "bf": "3"}
    )
    reference = tmp_path / "ref.mkv"
    single_run(src, reference)

    (row,) = many([src], tmp_path / "out", chunk_seconds=0.4).run(pool=pool).videos

    assert row.status == "done" and row.parts == 1
    assert_same_video(tmp_path / "out" / "open.mkv", reference)


def test_rerun_skips_finished_and_redoes_what_changed(tmp_path: Path, pool: LocalPool) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c", "d"):
        make_clip(src / f"{name}.mp4", frames=6, audio=False)
    out = tmp_path / "out"
    first = many([src], out).run(pool=pool)
    assert first.count("done") == 4
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}

    make_clip(src / "b.mp4", frames=8, audio=False, level=30.0)  # new content
    (out / "c.mp4").unlink()  # output gone
    shutil.copy2(src / "d.mp4", tmp_path / "d-copy.mp4")
    (src / "d.mp4").unlink()
    shutil.copy(tmp_path / "d-copy.mp4", src / "d.mp4")  # same bytes, new mtime: hashed, still done
    second = many([src], out).run(pool=pool)

    rows = by_name(second)
    assert {k: v.status for k, v in rows.items()} == {
        "a.mp4": "skipped",
        "b.mp4": "done",
        "c.mp4": "done",
        "d.mp4": "skipped",
    }
    assert rows["b.mp4"].frames == 8 and read_video(out / "b.mp4")["frames"] == 8
    assert (out / "a.mp4").stat().st_mtime_ns == stamps["a.mp4"]
    assert (out / "d.mp4").stat().st_mtime_ns == stamps["d.mp4"]

    # Options that change the picture redo everything; how it is computed (jobs, batch) does not.
    third = many([src], out, video=replace(VIDEO, engine=replace(VIDEO.engine, batch=2)), jobs=1).run(pool=pool)
    assert third.count("skipped") == 4
    fourth = many([src], out, video=replace(VIDEO, encode=EncodeOptions(crf=1))).run(pool=pool)
    assert fourth.count("done") == 4


def test_existing_output_not_ours_is_refused_without_overwrite(tmp_path: Path, pool: LocalPool) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    src = make_clip(tmp_path / "in" / "a.mp4", frames=4, audio=False)
    (tmp_path / "out" / "a.mp4").write_bytes(b"someone else's file")

    (row,) = many([src], tmp_path / "out").run(pool=pool).videos
    assert row.status == "failed" and "--overwrite" in str(row.reason)
    assert (tmp_path / "out" / "a.mp4").read_bytes() == b"someone else's file"

    (row,) = many([src], tmp_path / "out", video=replace(VIDEO, overwrite=True)).run(pool=pool).videos
    assert row.status == "done" and read_video(tmp_path / "out" / "a.mp4")["frames"] == 4


def test_lost_worker_is_retried_and_storage_errors_are_reported_after_retries(tmp_path: Path, pool: LocalPool) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "die-once.mp4", frames=6, audio=False)
    make_clip(src / "eio.mp4", frames=6, audio=False)
    make_clip(src / "fine.mp4", frames=6, audio=False)

    rows = by_name(many([src], tmp_path / "out", max_retries=1).run(pool=pool))

    assert rows["die-once.mp4"].status == "done" and rows["die-once.mp4"].attempts == 2
    assert read_video(tmp_path / "out" / "die-once.mp4")["frames"] == 6
    assert rows["eio.mp4"].status == "failed" and rows["eio.mp4"].attempts == 2
    assert "Input/output error" in str(rows["eio.mp4"].reason) and "after 2 attempts" in str(rows["eio.mp4"].reason)
    assert rows["fine.mp4"].status == "done" and rows["fine.mp4"].attempts == 1
    assert leftovers(tmp_path / "out") == []


def test_watch_enhances_videos_that_appear(tmp_path: Path) -> None:
    """With ``watch`` the run goes on: a file that appears (and stays unchanged for a scan) is enhanced."""
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "first.mp4", frames=4, audio=False)
    out = tmp_path / "out"
    seen: list[ManyProgress] = []

    def on_progress(progress: ManyProgress) -> None:
        seen.append(progress)
        if progress.videos_finished == 1 and not (src / "second.mp4").exists():
            make_clip(tmp_path / "second.mp4", frames=5, audio=False)
            (tmp_path / "second.mp4").rename(src / "second.mp4")
        if progress.videos_finished == 2:
            raise KeyboardInterrupt  # as Ctrl-C: the way a watch ends, a stop with a summary

    summary = many([src], out, watch=True, watch_every=0.2, jobs=1).run(on_progress=on_progress)

    assert summary.count("done") == 2 and summary.count("failed") == 0
    assert read_video(out / "first.mp4")["frames"] == 4
    assert read_video(out / "second.mp4")["frames"] == 5
    assert leftovers(out) == []
    rerun = many([src], out).run(pool=None)
    assert rerun.count("skipped") == 2


def test_pieces_finished_before_an_interrupt_are_not_made_again(tmp_path: Path, pool: LocalPool) -> None:
    (tmp_path / "in").mkdir()
    src = make_long_clip(tmp_path / "in" / "slow.mp4")
    out = tmp_path / "out"
    parts = out / ".nightvid-parts"

    def stop_after_a_piece(progress: ManyProgress) -> None:
        if list(parts.glob("*/part-*.mp4")):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted = LocalPool(1, runner=faulty_runner, threads=1)
        interrupted.start()
        many([src], out, chunk_seconds=0.7).run(on_progress=stop_after_a_piece, pool=interrupted)
    kept = sorted(p.name for p in parts.glob("*/part-*.mp4"))
    assert kept == ["part-00000.mp4"] and [p for p in leftovers(out) if ".partial" in p.name] == []
    (src.parent / ".tasks.log").unlink()

    (row,) = many([src], out, chunk_seconds=0.7).run(pool=pool).videos

    assert row.status == "done" and row.parts == 3
    made = (src.parent / ".tasks.log").read_text().splitlines()  # parts 1 and 2 run side by side
    assert made[0] == "PlanTask None" and sorted(made[1:3]) == ["PartTask 1", "PartTask 2"]
    assert made[3:] == ["JoinTask None"]
    reference = tmp_path / "ref.mp4"
    single_run(src, reference)
    assert_same_video(out / "slow.mp4", reference)
    assert leftovers(out) == []
