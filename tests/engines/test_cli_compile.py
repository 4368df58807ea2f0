"""`nightvid compile`: builds into the cache, prints the artifact, names bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nightvid.cli import app
from nightvid.engines import create_engine, default_range
from nightvid.engines.shapes import ShapeRange

runner = CliRunner()
RANGE = ["--min", "1x32x32", "--opt", "1x48x64", "--max", "2x64x96"]


def test_compile_writes_artifact_and_metadata_then_hits(tmp_path: Path) -> None:
    args = ["compile", "noiser", "--backend", "onnx", "--device", "cpu", "--cache-dir", str(tmp_path), *RANGE]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    artifact = Path(first.stdout.strip().splitlines()[-1])
    assert artifact.is_file() and artifact.suffix == ".onnx" and artifact.parent == tmp_path
    meta = json.loads(artifact.with_suffix(".json").read_text())
    assert meta["net"] == "noiser" and meta["backend"] == "onnx" and meta["precision"] == "fp32"
    assert meta["shape_range"] == {"min": [1, 32, 32], "opt": [1, 48, 64], "max": [2, 64, 96]}
    assert meta["weights"].endswith("noiser.safetensors")
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and again.stdout.strip().splitlines()[-1] == str(artifact)
    assert "cached" in again.stderr


def test_enhance_loads_the_compiled_range_that_holds_its_frames(tmp_path: Path) -> None:
    """An engine asked for no range takes a compiled one that holds its frames (#26); the
    default range only when none does."""
    args = ["compile", "noiser", "--backend", "onnx", "--device", "cpu", "--cache-dir", str(tmp_path), *RANGE]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    compiled = Path(result.stdout.strip().splitlines()[-1])

    def engine(frame_size: tuple[int, int], batch: int = 1):  # noqa: ANN202
        return create_engine(
            "noiser", backend="onnx", device="cpu", batch=batch, cache_dir=tmp_path, frame_size=frame_size
        )

    inside = engine((48, 64), batch=2)
    assert inside.artifact == compiled and inside.details["cache"] == "hit"
    assert inside.shape_range == ShapeRange.parse(*RANGE[1::2])
    assert list(tmp_path.glob("*.onnx")) == [compiled]

    outside = engine((720, 1280))  # larger than the compiled max: the default range, built
    assert outside.artifact != compiled and outside.shape_range == default_range("onnx")
    assert sorted(tmp_path.glob("*.onnx")) == sorted([compiled, outside.artifact])
    assert engine((48, 64), batch=4).artifact == outside.artifact  # batches up to 4: only the default holds them
    assert engine((48, 64)).artifact == compiled  # both hold it: the nearer opt
    assert len(list(tmp_path.glob("*.onnx"))) == 2


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    cases = [
        (["compile", "noiser", "--backend", "eager"], "no artifact"),
        (["compile", "noiser", "--min", "1x360"], "expected BxHxW"),
        (["compile", "nosuchnet"], "unknown model"),
        (["compile", "noiser", "--backend", "onnx", "--precision", "bf16", "--device", "cpu"], "fp32 only"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--cache-dir", str(tmp_path)])
        assert result.exit_code == 1, (args, result.output)
        assert "error:" in result.stderr and message in result.stderr, (args, result.stderr)


def test_model_without_shipped_weights_is_one_error_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("nightvid.nets.enhancer.shipped_weights", lambda name: None)  # every net ships now
    result = runner.invoke(app, ["compile", "lednet", "--backend", "onnx", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no shipped weights" in result.stderr, result.output
    assert not list(tmp_path.iterdir())
