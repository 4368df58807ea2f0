"""Joining enhanced pieces (``streamer.join``): the output holds the frames, pts and audio
of a single pass, each part's timestamps fitted after the one before."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from nightvid.engines.base import Engine
from nightvid.jobs.many.parts import enhance_span
from nightvid.streamer.encode import check_encoding
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.join import PART_SUFFIX, join_parts, unjoinable
from nightvid.streamer.pipeline import enhance_video
from nightvid.streamer.segments import SplitError, plan_spans
from tests.clips import make_clip, read_video

IDENTITY = Engine(fn=lambda x: x, backend="test", device=torch.device("cpu"))
#: Lossless x264: the same enhanced frames decode to the same pixels however the encoder was cut.
LOSSLESS = EncodeOptions(crf=0)
GOPS = {"frames": 40, "options": {"g": "10", "bf": "2"}}


def enhanced_parts(src: Path, dst: Path, encode: EncodeOptions) -> list[Path]:
    """``src`` cut at 0.8 s (two pieces), each enhanced into a part encoded as ``dst`` will be."""
    resolved = check_encoding(encode, dst)
    parts = []
    for span in plan_spans(src, 0.8):
        part = dst.with_name(f"part-{span.index}{PART_SUFFIX}")
        assert enhance_span(src, span, part, IDENTITY, encode=resolved) == 20
        parts.append(part)
    return parts


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


def video_packets(path: Path) -> tuple[Fraction, list[tuple[int, int]]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return Fraction(stream.time_base), [(p.pts, p.dts) for p in container.demux(stream) if p.size]


def test_two_parts_join_into_the_single_pass_video(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", **GOPS)  # type: ignore[arg-type]
    joined = tmp_path / "joined.mp4"
    assert join_parts(src, enhanced_parts(src, joined, LOSSLESS), joined, encode=check_encoding(LOSSLESS, joined)) == 40
    single = tmp_path / "single.mp4"
    enhance_video(src, single, IDENTITY, encode=LOSSLESS)
    got, want = read_video(joined), read_video(single)
    assert (got["frames"], got["time_base"]) == (40, want["time_base"])
    assert got["pts"] == want["pts"]
    assert got["audio"] == want["audio"] and len(got["audio"]) > 0
    assert all(np.array_equal(a, b) for a, b in zip(decoded(joined), decoded(single), strict=True))


def test_a_part_whose_first_dts_overlaps_the_previous_part_is_moved_after_it(tmp_path: Path) -> None:
    """Variable intervals: the second part's encoder starts its dts before the first part's last."""
    steps = [40, 20, 100, 33, 40, 60]
    pts = [0]
    for i in range(39):
        pts.append(pts[-1] + steps[i % len(steps)])
    src = make_clip(tmp_path / "vfr.mp4", pts=pts, time_base=Fraction(1, 1000), **GOPS)  # type: ignore[arg-type]
    joined = tmp_path / "joined.mp4"
    encode = EncodeOptions()  # x264 with B-frames: dts run behind pts
    parts = enhanced_parts(src, joined, encode)
    (base_a, first), (base_b, second) = video_packets(parts[0]), video_packets(parts[1])
    assert second[0][1] * base_b <= first[-1][1] * base_a  # the overlap this test is about
    join_parts(src, parts, joined, encode=check_encoding(encode, joined))
    _, packets = video_packets(joined)
    dts = [d for _, d in packets]
    assert all(a < b for a, b in zip(dts, dts[1:], strict=False))
    single = tmp_path / "single.mp4"
    enhance_video(src, single, IDENTITY, encode=encode)
    assert read_video(joined)["pts"] == read_video(single)["pts"]


def test_parts_whose_timestamps_cannot_follow_each_other_are_refused(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", **GOPS)  # type: ignore[arg-type]
    joined = tmp_path / "joined.mp4"
    first = enhanced_parts(src, joined, LOSSLESS)[0]
    with pytest.raises(SplitError, match="overlap at a join"):
        join_parts(src, [first, first], joined, encode=check_encoding(LOSSLESS, joined))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "part-0.mp4", "part-1.mp4"]


@pytest.mark.parametrize(
    "suffix, why",
    [
        (".mkv", None),
        (".mov", None),
        (".avi", "a .avi file keeps no presentation timestamps"),
        (".h264", "a .h264 file keeps no presentation timestamps"),
        (".nosuch", ".nosuch cannot be written"),
        ("", "files without an extension cannot be written"),
    ],
)
def test_only_containers_that_keep_pts_are_joined(suffix: str, why: str | None) -> None:
    reason = unjoinable(suffix)
    assert (reason is None) == (why is None)
    assert (reason or "").startswith(why or "")
