"""Training on several processes (gloo on CPU, 2 ranks): same optimisation, rank 0 writes, no hangs.

Ranks are started two ways: through ``nightvid train --devices 2`` (torchrun's launcher),
and by hand with the environment torchrun would give them (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``/``MASTER_PORT``), which lets a test give each rank its own working
folder (two "machines" without a shared output folder) or kill one of them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import nightvid
from nightvid import nets
from nightvid.cli import app
from nightvid.errors import NightvidError
from nightvid.trainers import distributed
from nightvid.trainers.lednet import LEDNetRecipe, train_lednet
from nightvid.trainers.noiser import NoiserRecipe, train_noiser

REPO = Path(nightvid.__file__).resolve().parents[1]

#: Weights of 2 processes x batch B against 1 process x batch 2B after a few steps: only
#: the order of float additions differs (DDP's gradient average, the batch's reductions).
ATOL = 1e-6

#: One rank of a NoiSER run, as torchrun would start it: ``python -c RANK_SCRIPT OUT KILL_AT``.
#: Rank 0 SIGKILLs itself after logging step KILL_AT (0 = never), a run killed mid-way.
RANK_SCRIPT = """
import os, signal, sys
from nightvid.trainers import distributed
from nightvid.trainers.noiser import NoiserRecipe, train_noiser

out, kill_at = sys.argv[1], int(sys.argv[2])

def on_log(record):
    if record["event"] == "train" and record["step"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

with distributed.session("cpu", timeout_s=20) as world:
    train_noiser(NoiserRecipe(iters=24, patch=24, batch=2), out, resume=True, checkpoint_every=5,
                 log_every=1, on_log=on_log)
"""


def _photo(rng: np.random.Generator, size: int) -> np.ndarray:
    base = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 3)
    base = (base - base.min()) / (base.max() - base.min() + 1e-6)
    ramp = np.linspace(0, 1, size, dtype=np.float32)[None, :, None]
    return (255 * (0.6 * base + 0.4 * ramp)).astype(np.uint8)


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    (root / "low").mkdir()
    (root / "high").mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        high = _photo(rng, 40)
        cv2.imwrite(str(root / "high" / f"{i}.png"), high)
        cv2.imwrite(str(root / "low" / f"{i}.png"), (high * 0.15).astype(np.uint8))
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env(**extra: str) -> dict[str, str]:
    """This environment without a launcher's variables, one thread, and this checkout's nightvid
    first on the path (a rank may run in another folder, and another copy may be installed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TORCHELASTIC_RUN_ID")}
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, **extra}


def _start_ranks(args: list[str], cwds: list[Path], *, one_core: bool = False) -> list[subprocess.Popen[str]]:
    """``python ARGS`` as the ranks of one world, rank r in ``cwds[r]`` (what torchrun sets, by hand).

    ``one_core`` pins every rank to one CPU, where a rank's threads wait longest for their turn
    (gloo's workers after a lost peer: see ``distributed.WORKER_GRACE_S``)."""
    port, size = str(_free_port()), len(cwds)
    core = min(os.sched_getaffinity(0))
    procs = []
    for rank, cwd in enumerate(cwds):
        cwd.mkdir(parents=True, exist_ok=True)
        env = _child_env(
            RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size), MASTER_ADDR="127.0.0.1", MASTER_PORT=port
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, *args],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, {core})) if one_core else None,
            )
        )
    return procs


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str, str]]:
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        done.append((proc.returncode, out, err))
    return done


def _nightvid(args: list[str], devices: int) -> Path:
    """Run ``nightvid ARGS --devices N -q`` (torchrun's launcher); the printed weights' path."""
    done = subprocess.run(
        [sys.executable, "-m", "nightvid", *args, "-q", "--devices", str(devices)],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    [printed] = done.stdout.splitlines()  # rank 0 alone prints it
    return Path(printed)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def _records(run: Path, event: str = "train") -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["event"] == event]


# --------------------------------------------------------------------------- in one process


def test_outside_torchrun_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.session("cpu") as world:
        assert world is None and distributed.is_writer()
        batch = torch.arange(6).view(3, 2)
        assert distributed.shard(batch) is batch and distributed.shard_offset(3) == 0
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc-per-node 1: a plain run too
    with distributed.session("cpu") as world:
        assert world is None


def test_each_rank_takes_its_slice_of_the_global_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = (torch.arange(4), {"t": torch.arange(8).view(4, 2)})
    slices = []
    for rank in (0, 1):
        world = distributed.World(rank, 2, rank, "gloo", "cpu", 10.0)
        monkeypatch.setattr(distributed, "current", lambda world=world: world)
        slices.append(distributed.shard(batch))
        assert distributed.shard_offset(2) == 2 * rank
    assert [s[0].tolist() for s in slices] == [[0, 1], [2, 3]]
    assert torch.equal(torch.cat([s[1]["t"] for s in slices]), batch[1]["t"])
    with pytest.raises(NightvidError, match="a batch of 3 does not split evenly over 2 processes; make --batch a"):
        distributed.shard(torch.zeros(3, 2))


def test_sync_bn_turns_the_denoisers_batchnorm_into_syncbatchnorm(monkeypatch: pytest.MonkeyPatch) -> None:
    """What --sync-bn does to the net (the synchronised statistics themselves need CUDA)."""
    net = nets.build("denoiser")
    keys, params = list(net.state_dict()), list(net.parameters())
    batchnorms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert batchnorms > 0
    monkeypatch.setattr(distributed, "current", lambda: distributed.World(0, 2, 0, "nccl", "cuda:0", 10.0, True))
    synced = distributed.with_sync_batchnorm(net)
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == batchnorms
    assert not any(type(m) is torch.nn.BatchNorm2d for m in synced.modules())
    assert list(synced.state_dict()) == keys and all(a is b for a, b in zip(synced.parameters(), params, strict=True))
    noiser = nets.build("noiser")  # no BatchNorm: left as it is
    assert distributed.with_sync_batchnorm(noiser) is noiser


def test_wrong_requests_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(NightvidError, match="needs --devices N or torchrun"), distributed.session(sync_batchnorm=True):
        pass
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with (
        pytest.raises(NightvidError, match="SyncBatchNorm does not run on CPU"),
        distributed.session("cpu", sync_batchnorm=True),
    ):
        pass
    with pytest.raises(NightvidError, match="LOCAL_RANK; pass --device cuda"), distributed.session("cuda:1"):
        pass
    with pytest.raises(NightvidError, match="under torchrun leave it out"):
        distributed.launch_local(2, ["train", "noiser"])


def test_a_rank_that_never_comes_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    started = time.monotonic()
    with pytest.raises(NightvidError, match=r"rank 0 of 2 could not join the run at 127\.0\.0\.1:\d+ within 2 s"):
        with distributed.session("cpu", timeout_s=2):
            pass
    assert time.monotonic() - started < 30
    assert distributed.current() is None and not torch.distributed.is_initialized()


def test_devices_relaunches_the_same_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--devices N` hands torchrun this very command line (options, --set, flags) minus itself."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    seen: list[tuple[int, list[str], str]] = []
    monkeypatch.setattr(distributed, "launch_local", lambda n, args, device: seen.append((n, list(args), device)))
    given = [
        "train", "lednet", "--out", str(tmp_path), "--data", str(tmp_path), "--iters", "7", "--batch", "4",
        "--set", "lr=2e-4", "--set", "grad_clip=0.5", "--resume", "--dist-timeout", "30", "-q",
    ]  # fmt: skip
    result = CliRunner().invoke(app, [*given, "--devices", "2"])
    assert result.exit_code == 0, result.output
    [(count, args, device)] = seen
    assert (count, device) == (2, "cpu") and "--devices" not in args
    for option in (["--iters", "7"], ["--set", "lr=2e-4"], ["--set", "grad_clip=0.5"], ["--dist-timeout", "30.0"]):
        assert any(args[i : i + 2] == option for i in range(len(args))), (option, args)
    assert args[:2] == ["train", "lednet"] and "--resume" in args and "--quiet" in args
    wrong = CliRunner().invoke(app, ["train", "noiser", "--out", str(tmp_path), "--devices", "2", "--set", "nope=1"])
    assert wrong.exit_code == 1 and "no field 'nope'" in wrong.output and len(seen) == 1  # checked before launching


# --------------------------------------------------------------------------- two processes


def test_two_processes_equal_one_with_twice_the_batch(pairs_dir: Path, tmp_path: Path) -> None:
    """LEDNet with gradient clipping: 2 processes x 1 patch = 1 process x 2 patches, step for step."""
    settings = {"val_images": 1, "val_crop": None, "validate_every": 0, "warmup": 0, "threads": 1, "grad_clip": 0.05}
    one = train_lednet(LEDNetRecipe.cpu_reduced(iters=6, batch=2, patch=32, **settings), pairs_dir, tmp_path / "one")
    sets = [part for k, v in settings.items() for part in ("--set", f"{k}={'none' if v is None else v}")]
    args = ["train", "lednet", "--data", str(pairs_dir), "--out", str(tmp_path / "two"), "--iters", "6"]
    two = _nightvid([*args, "--batch", "2", "--patch", "32", *sets], 2)
    assert two == tmp_path / "two" / "best.safetensors"
    assert _max_diff(_weights(one), _weights(two)) < ATOL
    [first] = _records(tmp_path / "two", "start")
    assert first["world_size"] == 2
    assert _records(tmp_path / "two")[-1]["loss"] == pytest.approx(_records(tmp_path / "one")[-1]["loss"], abs=1e-6)
    card = nets.read_model_card(two)
    assert card["distributed"]["world_size"] == 2 and card["recipe"]["batch"] == 2 and card["iterations"] == 6


def test_rank0_alone_writes_and_resume_after_a_kill_is_exact(tmp_path: Path) -> None:
    """Each rank in its own folder (two machines, no shared output): rank 1's stays empty; a
    run killed after its step-10 checkpoint and resumed equals the uninterrupted run bit for
    bit, and resumed on 1 process it continues the same global batches (within ATOL)."""
    args = ["train", "noiser", "--out", str(tmp_path / "whole"), "--iters", "24", "--patch", "24", "--batch", "2"]
    whole = _nightvid(args, 2)
    losses = [r["loss"] for r in _records(tmp_path / "whole")]
    assert [r["step"] for r in _records(tmp_path / "whole")] == [10, 20, 24] and losses[-1] < losses[0]

    # On one core, rank 1 used to abort (SIGABRT) about one run in seven instead of exiting with 1.
    cut = _finish(_start_ranks(["-c", RANK_SCRIPT, "run", "13"], [tmp_path / "b0", tmp_path / "b1"], one_core=True))
    assert cut[0][0] == -signal.SIGKILL and cut[1][0] == 1, cut
    assert "NightvidError: rank 1 of 2: lost the other processes at step 14" in cut[1][2]  # a script: no CLI
    assert not (tmp_path / "b0" / "run" / "best.safetensors").exists()
    assert not any((tmp_path / "b1").iterdir())  # rank 1 wrote nothing
    shutil.copytree(tmp_path / "b0" / "run", tmp_path / "solo")  # the same checkpoint, for one process

    resumed = _finish(_start_ranks(["-c", RANK_SCRIPT, "run", "0"], [tmp_path / "b0", tmp_path / "b1"]))
    assert [rc for rc, _, _ in resumed] == [0, 0], resumed
    assert not any((tmp_path / "b1").iterdir())  # rank 1 resumed from rank 0's checkpoint, sent to it
    assert [(r["step"], r["resumed"]) for r in _records(tmp_path / "b0" / "run", "start")] == [(0, False), (10, True)]
    assert [r["step"] for r in _records(tmp_path / "b0" / "run")] == list(range(1, 25))  # reads as one run
    assert (tmp_path / "b0" / "run" / "best.safetensors").read_bytes() == whole.read_bytes()

    solo = train_noiser(NoiserRecipe(iters=24, patch=24, batch=2), tmp_path / "solo", resume=True, checkpoint_every=5)
    a, b = _weights(solo), _weights(whole)
    # body.0.bias sits in front of InstanceNorm, which cancels it: its true gradient is 0 and
    # Adam turns the float noise left in it into steps of +-lr. The output does not see it.
    assert (
        _max_diff(
            {k: v for k, v in a.items() if k != "body.0.bias"}, {k: v for k, v in b.items() if k != "body.0.bias"}
        )
        < ATOL
    )
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs = [nets.build_enhancer("noiser", weights=w)(x) for w in (solo, whole)]
    assert (outputs[0] - outputs[1]).abs().max() < ATOL


def test_a_stopped_rank_times_out_the_others_with_one_line(tmp_path: Path) -> None:
    """A rank that stops answering (SIGSTOP: alive, its sockets open) ends the survivor when
    the collective times out, here after 3 s: one `error:` line, exit code 1, no hang. (A
    killed rank, whose connection drops, is the resume test's cut run.)"""
    args = ["-m", "nightvid", "train", "noiser", "--out", "run", "--iters", "100000", "--patch", "16"]
    procs = _start_ranks([*args, "--batch", "2", "--dist-timeout", "3"], [tmp_path / "r0", tmp_path / "r1"])
    metrics = tmp_path / "r0" / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 90
    while not (metrics.exists() and '"train"' in metrics.read_text()):
        assert time.monotonic() < deadline and procs[0].poll() is None, procs[0].communicate()
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        rc, _, err = _finish(procs[:1], timeout=60)[0]
    finally:
        procs[1].kill()
        procs[1].communicate()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1 and lines[-1].startswith("error: rank 0 of 2: lost the other processes at step "), err
    assert "did not answer within 3 s (Timed out waiting 3000ms" in lines[-1] and "Traceback" not in err
    assert time.monotonic() - stopped < 30


def test_joint_denoiser_trains_distributed_with_one_frozen_net(pairs_dir: Path, tmp_path: Path) -> None:
    """The denoiser (BatchNorm) in joint training: every rank trains the offline high-level
    net, takes rank 0's, and only rank 0's folder gets it and the weights."""
    args = ["-m", "nightvid", "train", "denoiser", "--data", str(pairs_dir / "high"), "--out", "run", "-q"]
    args += ["--task", "classify", "--iters", "3", "--batch", "2", "--patch", "16", "--set", "val_images=1"]
    tiny = {"val_crop": "none", "hl_classes": 3, "hl_patch": 16, "hl_iters": 3, "hl_batch": 4, "threads": 1}
    args += [part for k, v in tiny.items() for part in ("--set", f"{k}={v}")]
    done = _finish(_start_ranks(args, [tmp_path / "r0", tmp_path / "r1"]))
    assert [rc for rc, _, _ in done] == [0, 0], done
    assert not any((tmp_path / "r1").iterdir())
    run = tmp_path / "r0" / "run"
    card = nets.read_model_card(run / "best.safetensors")
    assert card["distributed"]["world_size"] == 2 and card["high_level"]["net"].startswith("TinyClassifier")
    assert (run / "high_level.safetensors").exists()
    denoiser = nets.build_enhancer("denoiser", weights=run / "best.safetensors")
    assert torch.isfinite(denoiser(torch.rand(1, 3, 20, 20))).all()


def test_kind_trains_its_three_stages_distributed_under_bf16(pairs_dir: Path, tmp_path: Path) -> None:
    """KinD's three stages each run under DDP, with bf16 autocast where the CPU has it."""
    args = ["train", "kind", "--data", str(pairs_dir), "--out", str(tmp_path), "--iters", "3", "--batch", "2"]
    sets = ["--set", "val_pairs=1", "--set", "val_crop=none", "--set", "validate_every=0", "--set", "cpu_bf16=true"]
    best = _nightvid([*args, "--patch", "32", *sets, "--set", "threads=1"], 2)
    card = nets.read_model_card(best)
    assert card["iterations"] == {"decom": 3, "adjust": 3, "restoration": 3}
    assert card["distributed"]["world_size"] == 2
    for stage in ("decom", "adjust", "restoration"):
        [start] = _records(tmp_path / stage, "start")
        assert start["world_size"] == 2
        assert all(np.isfinite(r["loss"]) for r in _records(tmp_path / stage))
    net = nets.build_enhancer("kind", weights=best)
    assert net(torch.rand(1, 3, 24, 24)).shape == (1, 3, 24, 24)
