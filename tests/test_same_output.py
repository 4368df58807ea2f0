"""The restructuring of issue #14 changed no output: `enhance` before and after, bit for bit.

Runs the tree of ``BEFORE`` (the last commit before the restructuring, from this clone's
history) and the current tree on the same clip with the same weights files, on this
machine, and compares the decoded frames and their pts exactly. Both runs use this
checkout's shipped weights, so retraining a model later does not break the comparison;
a later change to what a net computes does, and then ``BEFORE`` moves to that change's
parent with the reason in its commit message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import av
import numpy as np
import pytest

from nightvid import nets
from tests.clips import make_clip

BEFORE = "29a4c42"
ROOT = Path(__file__).resolve().parent.parent
MODELS = ("noiser", "lednet", "kind", "denoiser")


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False)


@pytest.fixture(scope="module")
def before_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _git("cat-file", "-e", f"{BEFORE}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {BEFORE} is not in this clone's history (a shallow clone?)")
    tree = tmp_path_factory.mktemp("before")
    archive = tree / "tree.tar"
    made = _git("archive", "--format=tar", "-o", str(archive), BEFORE, "nightvid")
    assert made.returncode == 0, made.stderr.decode()
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _frames(path: Path) -> tuple[list[np.ndarray], list[int | None]]:
    with av.open(str(path)) as inp:
        decoded = list(inp.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in decoded], [f.pts for f in decoded]


def _enhance(src: Path, dst: Path, model: str, *, tree: Path | None) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    weights = nets.shipped_weights(model)
    # FFV1 (lossless): x264 itself is not bit-reproducible from run to run here (the same
    # YUV frames gave I-frames of 906 or 921 bytes, one run in five), so the frames the
    # nets made are compared, not x264's decisions.
    command = [
        sys.executable,
        "-m",
        "nightvid",
        "enhance",
        str(src),
        str(dst),
        "--model",
        model,
        "-q",
        "--backend",
        "eager",
        "--weights",
        str(weights),
        "--codec",
        "ffv1",
        # The default brightness became "auto" for LEDNet and KinD after the restructuring;
        # "none" is what the default was before. Dark deblocking (session 10) and the
        # temporal filter before the net (default since session 12) are steps the tree
        # before did not have; `--precision auto` (session 13) runs LEDNet and KinD in bf16
        # on a CPU with native bf16, where the tree before ran fp32; `--stabilize` is on by
        # default since session 13.
        *(
            []
            if tree is not None
            else ["--exposure", "none", "--no-deblock", "--temporal", "1", "--precision", "fp32", "--no-stabilize"]
        ),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=dst.parent)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("model", MODELS)
def test_enhance_writes_the_same_frames_as_before_the_restructuring(
    model: str, before_tree: Path, tmp_path: Path
) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=3, size=(72, 40))
    _enhance(src, tmp_path / "before.mkv", model, tree=before_tree)
    _enhance(src, tmp_path / "after.mkv", model, tree=None)
    (old, old_pts), (new, new_pts) = _frames(tmp_path / "before.mkv"), _frames(tmp_path / "after.mkv")
    assert old_pts == new_pts and len(old) == 3
    for a, b in zip(old, new, strict=True):
        np.testing.assert_array_equal(a, b)
