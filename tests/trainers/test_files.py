"""nightvid.files: atomic writes (fsynced, usual permissions), weights and model cards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from nightvid.errors import NightvidError
from nightvid.files import atomic_write, atomic_write_path, git_commit, save_weights, write_model_card
from nightvid.nets import load_weights, read_model_card


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GELU(), nn.Conv2d(4, 3, 3, padding=1))


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write(target, lambda h: h.write(b"old"))

    def fail(handle) -> None:
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_write_gives_the_usual_permissions_without_touching_the_umask(tmp_path: Path) -> None:
    before = os.umask(0o027)
    try:
        made = atomic_write(tmp_path / "card.json", lambda h: h.write("{}"), mode="w")
        assert made.stat().st_mode & 0o777 == 0o640  # 0o666 under the process umask, as open() gives
        assert os.umask(0o027) == 0o027  # read back: never changed
    finally:
        os.umask(before)


def test_atomic_write_path_keeps_the_suffix_and_may_replace_the_file(tmp_path: Path) -> None:
    seen: list[Path] = []

    def fill(tmp: Path) -> None:  # like exporters that insist on a suffix and write a new file
        seen.append(tmp)
        tmp.unlink()
        tmp.write_bytes(b"artifact")

    made = atomic_write_path(tmp_path / "sub" / "net.pt2", fill)
    assert made.read_bytes() == b"artifact" and seen[0].suffix == ".pt2" and seen[0].parent == made.parent
    with pytest.raises(RuntimeError):
        atomic_write_path(made, lambda tmp: (_ for _ in ()).throw(RuntimeError("build failed")))
    assert made.read_bytes() == b"artifact" and [p.name for p in made.parent.iterdir()] == ["net.pt2"]


def test_save_weights_and_model_card(tmp_path: Path) -> None:
    net = tiny_net()
    path = save_weights(net, tmp_path / "w.safetensors", model_name="tiny")
    assert set(load_file(path)) == set(net.state_dict())
    with pytest.raises(NightvidError, match="for model 'tiny'"):
        load_weights(tiny_net(), path, name="other")
    write_model_card(tmp_path / "model_card.json", {"model": "tiny", "metrics": {"psnr": float("inf")}})
    card = read_model_card(path)  # falls back to model_card.json beside the weights
    assert card["model"] == "tiny" and card["torch"] == torch.__version__
    assert card["metrics"]["psnr"] is None  # strict JSON: non-finite -> null
    assert "commit" in card and (card["commit"] is None or len(card["commit"]) == 40)
    assert git_commit(tmp_path) is None or isinstance(git_commit(tmp_path), str)
