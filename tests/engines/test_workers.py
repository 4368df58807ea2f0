"""Several batches at once on the CPU: results in order, equal to one at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from nightvid.engines import Engine, create_engine, default_workers
from nightvid.errors import NightvidError
from tests.engines.conftest import TEST_RANGE


def frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(count)]


def test_two_workers_really_run_two_batches_at_once() -> None:
    # Each call waits until a second call is inside the net too: with one worker this
    # would time out (BrokenBarrierError); with two, every pair meets.
    meet = threading.Barrier(2, timeout=10)
    threads: set[str] = set()

    def net(x: torch.Tensor) -> torch.Tensor:
        threads.add(threading.current_thread().name)
        meet.wait()
        return x

    engine = Engine(fn=net, backend="eager", device=torch.device("cpu"), workers=2)
    batches = [(f[None], i) for i, f in enumerate(frames(4))]
    out = list(engine.enhance_batches(batches))
    assert [tag for _, tag in out] == [0, 1, 2, 3]
    assert all(np.array_equal(got, b) for (got, _), (b, _) in zip(out, batches, strict=False))
    assert len(threads) == 2 and all(t.startswith("nightvid-infer") for t in threads)


def test_one_worker_runs_on_the_calling_thread() -> None:
    seen: list[str] = []

    def net(x: torch.Tensor) -> torch.Tensor:
        seen.append(threading.current_thread().name)
        return x

    engine = Engine(fn=net, backend="eager", device=torch.device("cpu"))
    assert engine.ahead == 0
    list(engine.enhance_batches((f[None], None) for f in frames(3)))
    assert seen == [threading.current_thread().name] * 3


def test_a_failing_batch_raises_from_result() -> None:
    def net(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    engine = Engine(fn=net, backend="eager", device=torch.device("cpu"), workers=2)
    with pytest.raises(RuntimeError, match="boom"):
        list(engine.enhance_batches((f[None], None) for f in frames(3)))


def test_onnx_workers_match_one_session(engine_cache: Path) -> None:
    torch.manual_seed(0)
    one = create_engine(
        "noiser", weights=None, backend="onnx", device="cpu", shape_range=TEST_RANGE, cache_dir=engine_cache, workers=1
    )
    torch.manual_seed(0)
    two = create_engine(
        "noiser", weights=None, backend="onnx", device="cpu", shape_range=TEST_RANGE, cache_dir=engine_cache, workers=2
    )
    assert (one.workers, two.workers, two.ahead) == (1, 2, 1)
    clip = frames(5)
    expected = [one.enhance_frames(f[None]) for f in clip]
    got = [out for out, _ in two.enhance_batches((f[None], None) for f in clip)]
    for a, b in zip(expected, got, strict=False):
        np.testing.assert_array_equal(a, b)


def test_workers_only_where_a_backend_can_split_threads(engine_cache: Path) -> None:
    with pytest.raises(NightvidError, match="only the fused or onnx backend on the CPU"):
        create_engine("noiser", weights=None, backend="eager", workers=2)
    with pytest.raises(NightvidError, match="at least 1"):
        create_engine("noiser", weights=None, backend="onnx", workers=0, cache_dir=engine_cache, shape_range=TEST_RANGE)
    assert create_engine("noiser", weights=None, backend="eager", workers=None).workers == 1


def test_default_workers() -> None:
    cpu = torch.device("cpu")
    expected = 2 if torch.get_num_threads() >= 2 else 1
    assert default_workers("onnx", cpu) == default_workers("fused", cpu) == expected
    assert default_workers("inductor", cpu) == 1
    assert default_workers("onnx", torch.device("cuda")) == 1
