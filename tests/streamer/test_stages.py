"""Stage bodies are plain generators and functions: tested here without threads, then threaded."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

from nightvid.errors import NightvidError
from nightvid.streamer.decode import CorruptInputError
from nightvid.streamer.pipeline import batched, decoded_items, stabilised
from nightvid.streamer.stages import END, Stage, items


class _Frame:
    def __init__(self, value: int, size: tuple[int, int] = (4, 2)) -> None:
        self.width, self.height = size
        self.pts = value
        self.value = value

    def reformat(self, *, width: int, height: int) -> _Frame:
        return _Frame(self.value, (width, height))


class _Colour:
    def to_rgb(self, frame: _Frame, *, deep: bool) -> np.ndarray:
        return np.full((frame.height, frame.width, 3), frame.value, np.uint8)


def _frames(n: int, corrupt_after: int | None = None):
    for i in range(n):
        if corrupt_after is not None and i == corrupt_after:
            raise CorruptInputError("damaged packet", frames=i)
        yield _Frame(i, (4, 2) if i != 1 else (8, 6))


def test_decoded_items_scale_a_size_change_back_and_keep_every_pts():
    source = decoded_items(_frames(3), size=(4, 2), colour=_Colour(), deep=False, keep_partial=False)
    got = list(source)
    assert [pts for _, pts in got] == [0, 1, 2]
    assert all(rgb.shape == (2, 4, 3) for rgb, _ in got)


def test_decoded_items_return_whether_they_kept_a_truncated_input():
    source = decoded_items(_frames(5, corrupt_after=3), size=(4, 2), colour=_Colour(), deep=False, keep_partial=True)
    kept = []
    with pytest.raises(StopIteration) as ended:
        while True:
            kept.append(next(source))
    assert len(kept) == 3 and ended.value.value is True
    strict = decoded_items(_frames(5, corrupt_after=3), size=(4, 2), colour=_Colour(), deep=False, keep_partial=False)
    with pytest.raises(CorruptInputError):
        list(strict)


def test_batched_yields_full_lists_then_the_rest():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


def test_stabilised_refuses_a_batch_that_lost_a_frame():
    chunk = [(np.zeros((2, 2, 3), np.uint8), 0), (np.zeros((2, 2, 3), np.uint8), 1)]
    assert [pts for _, pts in stabilised(np.zeros((2, 2, 2, 3), np.uint8), chunk, None)] == [0, 1]
    with pytest.raises(ValueError):
        list(stabilised(np.zeros((1, 2, 2, 3), np.uint8), chunk, None))


def test_a_producing_stage_passes_items_and_its_generators_result_then_end():
    def source():
        yield from range(5)
        return "done"

    stop, out = threading.Event(), queue.Queue(maxsize=2)
    stage = Stage.producing("source", source(), stop, out)
    stage.start()
    assert list(items(out, stop)) == list(range(5))
    stage.finish()
    assert stage.result == "done" and stage.error is None


def test_a_consuming_stage_that_fails_stops_its_neighbours_and_reraises():
    stop, inbox = threading.Event(), queue.Queue()
    seen = []

    def handle(item):
        if item == 2:
            raise OSError("disk full")
        seen.append(item)

    stage = Stage.consuming("sink", inbox, handle, stop)
    stage.start()
    for i in range(4):
        inbox.put(i)
    stage.finish()
    assert seen == [0, 1] and stop.is_set()
    with pytest.raises(OSError, match="disk full"):
        stage.raise_error()


def test_finish_gives_up_on_a_stage_that_never_stops():
    release = threading.Event()
    stage = Stage("stuck", lambda stop: release.wait(5), threading.Event(), out=queue.Queue())
    stage.start()
    started = time.perf_counter()
    with pytest.raises(NightvidError, match="stuck stage did not stop"):
        stage.finish(timeout_s=0.3)
    assert time.perf_counter() - started < 2
    release.set()
    stage.finish()
    assert stage.out.get_nowait() is END
