"""`enhance-many` on Ray: a local Ray (2 CPUs) started once for the module, two actors that keep
their engines; the same outputs as `enhance`, long videos in pieces, reruns, a lost actor."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip(
    "ray", reason="Ray is not installed (pip install 'nightvid[cluster]'); the local pool is tested"
)

from nightvid.jobs.many import ManyJob  # noqa: E402
from nightvid.jobs.many.ray_pool import RayPool  # noqa: E402
from tests.clips import make_clip, read_video  # noqa: E402
from tests.jobs.many_helpers import VIDEO, assert_same_video, leftovers, make_long_clip, single_run  # noqa: E402

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def pool() -> Iterator[RayPool]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    actors = RayPool("auto", jobs=2)
    try:
        actors.start()
        yield actors
    finally:
        actors.close()
        ray.shutdown()


def many(inputs: list[Path], out: Path, **options: object) -> ManyJob:
    return ManyJob(tuple(map(str, inputs)), out, video=VIDEO, ray_address="auto", **options)  # type: ignore[arg-type]


def test_outputs_equal_single_enhance_and_a_corrupt_input_fails_alone(tmp_path: Path, pool: RayPool) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_clip(src / "a.mp4", frames=10)
    make_clip(src / "sub" / "b.mkv", frames=7, rate=30)
    (src / "sub" / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 64)

    summary = many([src], tmp_path / "out").run(pool=pool)

    rows = {v.name: v for v in summary.videos}
    assert {k: v.status for k, v in rows.items()} == {"a.mp4": "done", "sub/b.mkv": "done", "sub/broken.mkv": "failed"}
    assert rows["sub/broken.mkv"].reason and "Traceback" not in rows["sub/broken.mkv"].reason
    for key in ("a.mp4", "sub/b.mkv"):
        reference = tmp_path / f"ref{Path(key).suffix}"
        single_run(src / key, reference)
        assert_same_video(tmp_path / "out" / key, reference)
    assert "Ray actors" in summary.pool
    assert leftovers(tmp_path / "out") == []


def test_long_clip_in_pieces_equals_one_pass(tmp_path: Path, pool: RayPool) -> None:
    src = make_long_clip(tmp_path / "long.mp4")
    reference = tmp_path / "ref.mp4"
    single_run(src, reference)

    (row,) = many([src], tmp_path / "out", chunk_seconds=0.7).run(pool=pool).videos

    assert row.status == "done" and row.parts == 3
    assert_same_video(tmp_path / "out" / "long.mp4", reference)
    assert leftovers(tmp_path / "out") == []


def test_rerun_skips_finished_and_redoes_a_changed_input(tmp_path: Path, pool: RayPool) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=4, audio=False)
    make_clip(src / "b.mp4", frames=4, audio=False)
    assert many([src], tmp_path / "out").run(pool=pool).count("done") == 2

    make_clip(src / "b.mp4", frames=6, audio=False)
    rows = {v.name: v for v in many([src], tmp_path / "out").run(pool=pool).videos}

    assert (rows["a.mp4"].status, rows["b.mp4"].status) == ("skipped", "done")
    assert read_video(tmp_path / "out" / "b.mp4")["frames"] == 6


def test_a_lost_actor_costs_only_its_task(tmp_path: Path, pool: RayPool) -> None:
    """Kill the actor of slot 0 (as a lost node would): its task is retried on a new actor."""
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=5, audio=False)
    make_clip(src / "b.mp4", frames=5, audio=False)
    ray.kill(pool._actors[0], no_restart=True)

    summary = many([src], tmp_path / "out").run(pool=pool)

    assert summary.count("done") == 2
    assert sorted(v.attempts for v in summary.videos) == [1, 2]
    assert read_video(tmp_path / "out" / "a.mp4")["frames"] == 5
