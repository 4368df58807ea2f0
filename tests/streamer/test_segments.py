"""Cutting a video at its keyframes (``streamer.segments``): the pieces decode to exactly
the frames and pts of one pass over the whole file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nightvid.errors import NightvidError
from nightvid.streamer.segments import Cut, plan_spans, span_frames, span_with_context
from tests.clips import make_clip

#: 40 frames at 25 fps (1.6 s), a closed GOP every 10 frames (0.4 s), with B-frames.
GOPS = {"frames": 40, "options": {"g": "10", "bf": "2"}}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("segments") / "gops.mp4", **GOPS)  # type: ignore[arg-type]


def single_pass(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(frame.pts, frame.to_ndarray()) for frame in container.decode(video=0)]


def test_every_keyframe_a_piece_apart_is_a_cut(clip: Path) -> None:
    spans = plan_spans(clip, 0.4)
    # MP4's time base here is 1/12800: 0.4 s is 5120 ticks; each keyframe's dts is its pts less two frames.
    cuts = [Cut(5120, 4096), Cut(10240, 9216), Cut(15360, 14336)]
    assert [(s.index, s.start, s.stop) for s in spans] == [
        (0, None, cuts[0]),
        (1, cuts[0], cuts[1]),
        (2, cuts[1], cuts[2]),
        (3, cuts[2], None),
    ]
    assert [s.seconds for s in spans] == pytest.approx([0.4, 0.4, 0.4, 0.36])


def test_the_pieces_decode_to_the_frames_of_one_pass(clip: Path) -> None:
    whole = single_pass(clip)
    pieces = [(f.pts, f.to_ndarray()) for span in plan_spans(clip, 0.4) for f in span_frames(clip, span)]
    assert [pts for pts, _ in pieces] == [pts for pts, _ in whole]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(pieces, whole, strict=True))


def test_matroska_is_cut_at_the_same_times(tmp_path: Path) -> None:
    mkv = make_clip(tmp_path / "gops.mkv", **GOPS)  # type: ignore[arg-type]
    starts = [s.start.pts * Fraction(1, 1000) for s in plan_spans(mkv, 0.4) if s.start is not None]
    assert starts == [Fraction(2, 5), Fraction(4, 5), Fraction(6, 5)]


def test_a_piece_reads_its_neighbours_last_and_first_frames_as_context(clip: Path) -> None:
    first, middle, last = plan_spans(clip, 0.4)[:3]
    frames, context = span_with_context(clip, middle, first, last, (2, 2))
    own = list(range(5120, 10240, 512))
    assert [f.pts for f in frames] == [4096, 4608, *own, 10240, 10752]
    assert context == {4096, 4608, 10240, 10752}


def test_without_a_neighbour_or_a_radius_there_is_no_context(clip: Path) -> None:
    first, second = plan_spans(clip, 0.4)[:2]
    frames, context = span_with_context(clip, first, None, second, (1, 1))
    assert [f.pts for f in frames] == [*range(0, 5120, 512), 5120]
    assert context == {5120}
    frames, context = span_with_context(clip, second, first, None, (0, 0))
    assert [f.pts for f in frames] == list(range(5120, 10240, 512))
    assert context == frozenset()


def test_a_piece_length_must_be_positive(clip: Path) -> None:
    with pytest.raises(NightvidError, match="must be above 0, got 0"):
        plan_spans(clip, 0)
