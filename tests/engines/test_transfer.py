"""The integer frame path: submit/result on CPU, and the pinned, streamed path on CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightvid.engines import create_engine
from nightvid.engines.transfer import to_frames, to_input

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


def _frames(count: int, seed: int, dtype=np.uint8, size=(24, 40)) -> list[np.ndarray]:
    peak = np.iinfo(dtype).max
    rng = np.random.default_rng(seed)
    return [rng.integers(0, peak // 4, size=(*size, 3), dtype=dtype) for _ in range(count)]


def _reference(frames: list[np.ndarray]) -> np.ndarray:
    """What the noiser engine must return for 8-bit frames, written out in numpy."""
    engine = create_engine("noiser", backend="eager", device="cpu")
    x = torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    with torch.inference_mode():
        y = engine.fn(x).numpy()
    return np.round(np.clip(y * 255.0, 0, 255)).astype(np.uint8).transpose(0, 2, 3, 1)


def test_integer_conversions_round_trip_exactly() -> None:
    for dtype in (torch.uint8, torch.uint16):
        peak = 255 if dtype == torch.uint8 else 65535
        frames = torch.arange(0, peak + 1, max(1, peak // 255), dtype=torch.int64)[: 2 * 4 * 5 * 3]
        frames = frames.to(dtype).reshape(2, 4, 5, 3)
        x = to_input(frames, torch.float32)
        assert x.shape == (2, 3, 4, 5) and float(x.max()) <= 1.0
        assert torch.equal(to_frames(x, dtype), frames)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_white_stays_white_in_16_bit_frames(dtype: torch.dtype) -> None:
    """65535 is not a bfloat16/float16 number: scaled in half precision it rounded to 65536 and wrapped to 0."""
    white = torch.ones(1, 3, 4, 4, dtype=dtype)
    assert int(to_frames(white, torch.uint16).numpy().min()) == 65535
    assert int(to_frames(white, torch.uint8).min()) == 255


def test_cpu_submit_accepts_a_list_and_matches_enhance_frames() -> None:
    engine = create_engine("noiser", backend="eager", device="cpu")
    frames = _frames(3, seed=1)
    pending = engine.submit(frames)
    out = pending.result()
    assert out.dtype == np.uint8 and out.shape == (3, 24, 40, 3)
    np.testing.assert_array_equal(out, engine.enhance_frames(np.stack(frames)))
    np.testing.assert_array_equal(out, _reference(frames))
    assert pending.result() is out  # a second call does not run again


@cuda
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_cuda_pinned_path_matches_cpu_with_batches_in_flight(dtype) -> None:
    engine = create_engine("noiser", backend="eager", device="cuda", precision="fp32")
    batches = [_frames(2, seed=s, dtype=dtype) for s in range(5)]
    # Submit every batch before taking any result: slots are reused while earlier
    # results are still unread, which must not overwrite them.
    pending = [engine.submit(b) for b in batches]
    for frames, p in zip(batches, pending, strict=False):
        cpu = create_engine("noiser", backend="eager", device="cpu").enhance_frames(np.stack(frames))
        out = p.result()
        assert out.dtype == dtype
        assert np.abs(out.astype(np.int64) - cpu.astype(np.int64)).max() <= (1 if dtype == np.uint8 else 64)


@cuda
def test_cuda_path_handles_a_size_change_between_batches() -> None:
    engine = create_engine("noiser", backend="eager", device="cuda")
    small, large = _frames(1, 0, size=(16, 16)), _frames(1, 1, size=(32, 48))
    first, second = engine.submit(small), engine.submit(large)
    assert first.result().shape == (1, 16, 16, 3) and second.result().shape == (1, 32, 48, 3)
