"""`nightvid models`, `train noiser` and `bench` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nightvid import nets
from nightvid.cli import app
from nightvid.errors import NightvidError

runner = CliRunner()


def test_models_lists_every_net_with_counts_and_weights() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(nets.list_nets())
    assert rows["noiser"]["params"] == 1763 and rows["noiser"]["weights"] == "noiser.safetensors"
    assert rows["lednet"]["params"] == 7_408_893
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0 and "noiser" in table.stdout


def test_train_noiser_writes_weights_card_and_refuses_to_clobber(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "noiser", "--out", str(out), "--iters", "20", "--quiet"])
    assert result.exit_code == 0, result.output
    weights = Path(result.stdout.strip().splitlines()[-1])
    assert weights == out / "best.safetensors" and weights.is_file()
    card = json.loads((out / "model_card.json").read_text())
    assert card["iterations"] == 20 and card["seed"] == 0 and card["torch"]
    net = nets.build("noiser")
    nets.load_weights(net, weights, name="noiser")  # loads strictly into the net
    again = runner.invoke(app, ["train", "noiser", "--out", str(out), "--iters", "20"])
    assert again.exit_code == 1 and again.output.startswith("error: ")


def test_bench_json_has_every_stage(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "bench",
            "--size",
            "64x48",
            "--frames",
            "6",
            "--preset",
            "ultrafast",
            "--backend",
            "eager",
            "--repeats",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    stages = {row["stage"] for row in report["rows"]}
    assert stages == {"decode", "inference", "encode", "end-to-end"}
    assert all(row["fps"] > 0 and row["frames"] == 6 and row["runs"] == 2 for row in report["rows"])
    assert all(row["cpu_ms_per_frame"] > 0 for row in report["rows"])
    assert report["repeats"] == 2 and report["x264_preset"] == "ultrafast"
    assert report["end_to_end_over_slowest"]["noiser:eager"] > 0
    stages = {row["stage"]: row for row in report["rows"]}
    slowest = min(stages[s]["fps"] for s in ("decode", "inference", "encode"))
    assert 0 < report["bound_fps"]["noiser:eager"] <= slowest


def test_bench_rejects_bad_size() -> None:
    result = runner.invoke(app, ["bench", "--size", "huge"])
    assert result.exit_code == 1 and "size must be" in result.output


def test_cli_encode_defaults_are_the_encoders() -> None:
    import inspect

    from nightvid.cli.enhance import enhance
    from nightvid.cli.measure import bench
    from nightvid.streamer.encode_options import EncodeOptions

    defaults = EncodeOptions()
    flags = inspect.signature(enhance).parameters
    assert [flags[name].default for name in ("codec", "crf", "preset", "pix_fmt")] == [
        defaults.codec,
        defaults.crf,
        defaults.preset,
        defaults.pix_fmt,
    ]
    assert inspect.signature(bench).parameters["preset"].default == defaults.preset


def test_bench_specs_name_their_workers() -> None:
    from nightvid.jobs.bench import parse_spec

    assert parse_spec("noiser", None) == ("noiser", "auto", None)
    assert parse_spec("noiser:onnx", 2) == ("noiser", "onnx", 2)
    assert parse_spec("kind:onnx:1", 2) == ("kind", "onnx", 1)
    for bad in ("noiser:onnx:two", "noiser:onnx:1:2"):
        with pytest.raises(NightvidError, match="MODEL:BACKEND"):
            parse_spec(bad, None)


def test_workers_with_a_backend_that_cannot_split_is_a_clear_error(tmp_path: Path) -> None:
    from tests.clips import make_clip

    src = make_clip(tmp_path / "in.mp4", frames=2, size=(64, 48), audio=False)
    result = runner.invoke(
        app, ["enhance", str(src), str(tmp_path / "out.mp4"), "--backend", "eager", "--workers", "2"]
    )
    assert result.exit_code == 1 and "only the fused or onnx backend on the CPU" in result.output
    assert not (tmp_path / "out.mp4").exists()
    result = runner.invoke(app, ["bench", "--size", "64x48", "--frames", "2", "--backend", "eager", "--workers", "2"])
    assert result.exit_code == 1 and result.output.startswith("error: ")
