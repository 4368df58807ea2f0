"""Chains: `kind+denoiser` is one module, one engine, one pass, equal to the two nets in turn."""

from __future__ import annotations

import pytest
import torch

from nightvid import nets
from nightvid.engines import auto_backend, create_engine
from nightvid.errors import NightvidError
from tests.clips import make_clip, read_video


def test_a_chain_equals_running_the_two_nets_in_turn() -> None:
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0)) * 0.2
    chain = nets.build_enhancer("kind+denoiser")
    first, second = nets.build_enhancer("kind"), nets.build_enhancer("denoiser", exposure=None)
    with torch.no_grad():
        torch.testing.assert_close(chain(x), second(first(x)), atol=0, rtol=0)
    assert isinstance(chain, nets.Chain) and len(chain.stages) == 2


def test_exposure_goes_to_the_first_model_of_a_chain() -> None:
    chain = nets.build_enhancer("noiser+denoiser", weights=None, exposure=0.3)
    assert chain.stages[0].exposure == 0.3 and chain.stages[1].exposure is None


def test_chain_names_are_checked() -> None:
    assert nets.chain_parts("noiser+denoiser") == ["noiser", "denoiser"]
    for bad in ("noiser+", "+denoiser", "noiser+nope"):
        with pytest.raises(NightvidError):
            nets.chain_parts(bad)
    with pytest.raises(NightvidError, match="--weights"):
        nets.build_enhancer("noiser+denoiser", weights="some.safetensors")


def test_a_chain_compiles_to_one_artifact_that_matches_eager(tmp_path) -> None:
    engine = create_engine("noiser+denoiser", backend="onnx", cache_dir=tmp_path)
    assert engine.artifact is not None and engine.artifact.name.startswith("noiser+denoiser-onnx")
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(1)) * 0.2
    with torch.no_grad():
        torch.testing.assert_close(engine(x), nets.build_enhancer("noiser+denoiser")(x), atol=2e-4, rtol=0)
    assert auto_backend("kind+denoiser", "cpu") == "onnx"  # KinD's order, less what the denoiser lacks


def test_enhance_runs_a_chain_end_to_end(tmp_path) -> None:
    from typer.testing import CliRunner

    from nightvid.cli import app

    clip = make_clip(tmp_path / "in.mp4", frames=4, size=(48, 32))
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(
        app, ["enhance", str(clip), str(out), "--model", "noiser+denoiser", "--backend", "eager", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert read_video(out)["frames"] == 4
