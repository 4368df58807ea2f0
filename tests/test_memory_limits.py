"""Memory bounds: a container's cgroup limit for ``--tile auto``, queues sized for the frame."""

from __future__ import annotations

from pathlib import Path

from nightvid.memory import cgroup_headroom
from nightvid.streamer.pipeline import queue_depth


def test_cgroup_v2_and_v1_limits_bound_the_headroom(tmp_path: Path) -> None:
    membership = tmp_path / "cgroup"
    membership.write_text("0::/box\n")
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "memory.max").write_text("4294967296\n")
    (tmp_path / "box" / "memory.current").write_text("1073741824\n")
    assert cgroup_headroom(tmp_path, membership) == 3 * 2**30
    (tmp_path / "box" / "memory.max").write_text("max\n")
    assert cgroup_headroom(tmp_path, membership) is None

    membership.write_text("5:cpu:/\n4:memory:/jail\n0::/\n")
    (tmp_path / "memory" / "jail").mkdir(parents=True)
    (tmp_path / "memory" / "jail" / "memory.limit_in_bytes").write_text(str(2 * 2**30))
    (tmp_path / "memory" / "jail" / "memory.usage_in_bytes").write_text(str(3 * 2**30))
    assert cgroup_headroom(tmp_path, membership) == 0  # over the limit already: nothing left
    (tmp_path / "memory" / "jail" / "memory.limit_in_bytes").write_text("9223372036854771712")
    assert cgroup_headroom(tmp_path, membership) is None  # v1's "no limit"
    assert cgroup_headroom(tmp_path, tmp_path / "missing") is None


def test_queues_hold_fewer_large_frames() -> None:
    assert queue_depth(640 * 360 * 3, 1) == 4 == queue_depth(1920 * 1080 * 3, 1)
    assert queue_depth(640 * 360 * 3, 4) == 10
    assert queue_depth(3840 * 2160 * 3, 1) == 2 == queue_depth(3840 * 2160 * 6, 8)  # 4K, 16-bit: still 2
