"""The stage machinery: order, one output per input, and failures that raise, never hang."""

from __future__ import annotations

import dataclasses
import queue
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from nightvid.engines.base import Engine
from nightvid.streamer.pipeline import enhance_video
from nightvid.streamer.stages import END, Stage, get
from tests.clips import make_clip, read_video


class Boom(RuntimeError):
    pass


def engine_failing_after(calls: int) -> Engine:
    seen = {"n": 0}

    def fn(x: torch.Tensor) -> torch.Tensor:
        seen["n"] += 1
        if seen["n"] > calls:
            raise Boom("inference failed")
        return x

    return Engine(fn=fn, backend="test", device=torch.device("cpu"))


@pytest.mark.timeout(60)
def test_engine_failure_raises_and_leaves_nothing(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=30)
    out = tmp_path / "out.mp4"
    with pytest.raises(Boom):
        enhance_video(src, out, engine_failing_after(5))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


@pytest.mark.timeout(60)
def test_encoder_failure_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nightvid.streamer import encode

    def broken_write(self, rgb, pts):  # noqa: ANN001
        raise Boom("encoder failed")

    monkeypatch.setattr(encode.VideoWriter, "write", broken_write)
    src = make_clip(tmp_path / "in.mp4", frames=30)
    with pytest.raises(Boom):
        enhance_video(src, tmp_path / "out.mp4", engine_failing_after(10**6))
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_every_frame_once_in_order_for_any_batch(batch: int, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=10, audio=False)
    out = tmp_path / "out.mp4"
    summary = enhance_video(src, out, engine_failing_after(10**6), batch=batch)
    assert summary.frames == 10
    assert read_video(out)["pts"] == read_video(src)["pts"]


@pytest.mark.timeout(10)
def test_stage_error_still_sends_end() -> None:
    stop = threading.Event()
    out: queue.Queue = queue.Queue(maxsize=1)
    out.put("full already")  # the sentinel must get through a full queue too

    def body(stop: threading.Event) -> None:
        raise Boom("reader died")

    stage = Stage("t", body, stop, out=out)
    stage.start()
    stage.join(5)
    assert isinstance(stage.error, Boom) and stop.is_set()
    items = [out.get_nowait() for _ in range(out.qsize())]
    assert items[-1] is END
    assert get(queue.Queue(), stop) is END  # a stopped consumer never blocks


def _decoded(path: Path) -> list:
    import av

    with av.open(str(path)) as inp:
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in inp.decode(video=0)]


@pytest.mark.timeout(60)
def test_parallel_workers_write_the_same_video_as_one(tmp_path: Path) -> None:
    # Batches take random times, so with two workers they finish out of order; the
    # output must still be every frame in order, the same as one worker writes.
    import random
    import time

    pause = random.Random(0)

    def slow_identity(x: torch.Tensor) -> torch.Tensor:
        time.sleep(pause.uniform(0, 0.02))
        return x

    from nightvid.streamer.encode_options import EncodeOptions

    src = make_clip(tmp_path / "in.mp4", frames=12, audio=False)
    lossless = EncodeOptions(codec="ffv1")  # no encoder decisions between the two runs
    for workers in (1, 2):
        engine = Engine(fn=slow_identity, backend="test", device=torch.device("cpu"), workers=workers)
        enhance_video(src, tmp_path / f"out{workers}.mkv", engine, batch=2, encode=lossless)
    one, two = _decoded(tmp_path / "out1.mkv"), _decoded(tmp_path / "out2.mkv")
    assert len(one) == len(two) == 12
    for (pts_a, a), (pts_b, b) in zip(one, two, strict=False):
        assert pts_a == pts_b
        np.testing.assert_array_equal(a, b)


@pytest.mark.timeout(60)
def test_failure_in_a_worker_raises_and_leaves_nothing(tmp_path: Path) -> None:
    engine = dataclasses.replace(engine_failing_after(4), workers=2)
    src = make_clip(tmp_path / "in.mp4", frames=30)
    with pytest.raises(Boom):
        enhance_video(src, tmp_path / "out.mp4", engine)
    assert not (tmp_path / "out.mp4").exists()
