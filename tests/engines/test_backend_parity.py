"""Every backend gives eager's pixels on the machine at hand, fed frames as the decoder lays them out.

The AOTInductor engine once wrote 10-15 dB garbage on AVX2 CPUs (its program read NHWC
frame memory as NCHW) while every test on AVX-512 passed: the tests fed contiguous
tensors. These feed uint8 frames through ``Engine.enhance_frames``, the streamer's path,
and one runs in a process whose ATen and oneDNN take their AVX2 paths, so the AVX2
case is checked on whatever x86 CPU runs the suite.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nightvid.engines import create_engine
from nightvid.engines.verify import MIN_PSNR_DB, psnr_db
from nightvid.errors import NightvidError

FRAMES = np.stack(
    [
        np.clip(
            np.random.default_rng(i).normal(18, 6, (45, 70, 3)) + np.linspace(0, 30, 70)[None, :, None], 0, 255
        ).astype(np.uint8)
        for i in range(2)
    ]
)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr_db(torch.from_numpy(a).float() / 255, torch.from_numpy(b).float() / 255)


@pytest.mark.parametrize("backend", ["inductor", "onnx", "fused"])
def test_each_cpu_backend_matches_eager_on_decoder_frames(backend: str, tmp_path: Path) -> None:
    eager = create_engine("noiser", backend="eager", deblock=False)
    engine = create_engine("noiser", backend=backend, deblock=False, cache_dir=tmp_path)
    expected = eager.enhance_frames(FRAMES)
    for frames in (FRAMES[:1], FRAMES):  # batch 1 (the default) and a batch of 2
        got = engine.enhance_frames(frames)
        assert _psnr(got, expected[: len(frames)]) > MIN_PSNR_DB, backend


AVX2_CHILD = """
import sys, numpy as np, torch
from nightvid.engines import create_engine
from nightvid.engines.verify import psnr_db
frames = np.load(sys.argv[1])
eager = create_engine("noiser", backend="eager", deblock=False).enhance_frames(frames)
built = create_engine("noiser", backend="inductor", deblock=False, cache_dir=sys.argv[2]).enhance_frames(frames)
score = psnr_db(torch.from_numpy(built) / 255.0, torch.from_numpy(eager) / 255.0)
print(torch.backends.cpu.get_cpu_capability(), score)
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the AVX2 paths exist on x86-64 only")
def test_inductor_matches_eager_where_onednn_takes_its_avx2_path(tmp_path: Path) -> None:
    np.save(tmp_path / "frames.npy", FRAMES[:1])
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", AVX2_CHILD, str(tmp_path / "frames.npy"), str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    capability, score = done.stdout.split()[-2:]
    assert capability == "AVX2"
    assert float(score) > MIN_PSNR_DB  # it was 10.6 dB before inputs were made contiguous


def _wrong_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    """An onnx backend whose 'artifact' mirrors every frame: a build that runs but is wrong."""
    from nightvid.engines.onnxrt import OnnxBackend

    monkeypatch.setattr(OnnxBackend, "build", lambda self, enhancer, path, **k: Path(path).write_bytes(b"fake"))
    monkeypatch.setattr(OnnxBackend, "load", lambda self, path, **k: lambda x: x.flip(-1))


def test_an_engine_that_does_not_match_eager_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _wrong_onnx(monkeypatch)
    with pytest.raises(NightvidError, match=r"the onnx engine gives wrong pixels on this machine \(\d+\.\d dB"):
        create_engine("noiser", backend="onnx", deblock=False, cache_dir=tmp_path)


def test_auto_moves_on_to_the_next_backend_when_one_is_wrong(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from nightvid import engines

    _wrong_onnx(monkeypatch)
    monkeypatch.setitem(engines.AUTO_CPU, "noiser", ("onnx", "eager"))
    engine = create_engine("noiser", backend="auto", deblock=False, cache_dir=tmp_path)
    assert engine.backend == "eager"
    assert any("backend auto: onnx failed (the onnx engine gives wrong pixels" in r.message for r in caplog.records)


def test_a_cached_artifact_is_checked_again_when_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    create_engine("noiser", backend="onnx", deblock=False, cache_dir=tmp_path)  # a good entry
    from nightvid.engines.onnxrt import OnnxBackend

    monkeypatch.setattr(OnnxBackend, "load", lambda self, path, **k: lambda x: x * 0.5)
    with pytest.raises(NightvidError, match="wrong pixels"):
        create_engine("noiser", backend="onnx", deblock=False, cache_dir=tmp_path)


def test_precisions_a_cpu_cannot_run_fast_are_said_in_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    create_engine("noiser", backend="eager", precision="bf16", device="cpu")
    create_engine("noiser", backend="eager", precision="fp16", device="cpu")
    said = [r.message for r in caplog.records]
    assert any(m.startswith("bf16 on this CPU is emulated") for m in said), said
    assert any(m.startswith("fp16 on a CPU is emulated") for m in said), said
