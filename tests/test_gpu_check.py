"""scripts/gpu_check.sh (docs/GPU.md) without a GPU: one clear line, exit 0, nothing written.

Every run here hides the GPU (no nvidia-smi on PATH, CUDA_VISIBLE_DEVICES empty), so
these tests take seconds on any machine, one with a GPU too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
NO_GPU = "gpu_check: no NVIDIA GPU here ("
NOTHING = "); nothing to check"
BASH = shutil.which("bash") or "/bin/bash"


#: What the script runs before it decides there is no GPU (and for --help and usage errors).
TOOLS = ("bash", "cat", "dirname", "grep", "mkdir", "mktemp", "rm", "sed", "tail", "tee", "timeout")


def no_gpu_env(tmp_path: Path, *, extra_path: Path | None = None) -> dict[str, str]:
    """The environment with the GPU hidden; results and temporary files aimed into ``tmp_path``.

    PATH holds only links to the tools the script needs (nvidia-smi often lives in
    /usr/bin beside them, so filtering PATH would not do), and ``extra_path`` if given.
    """
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in TOOLS:
        found = shutil.which(name)
        if found is not None:
            (tools / name).symlink_to(found)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GPU_CHECK_")}
    env.update(
        PATH=os.pathsep.join([*([str(extra_path)] if extra_path else []), str(tools)]),
        CUDA_VISIBLE_DEVICES="",
        PYTHON=sys.executable,
        OUT=str(tmp_path / "out"),  # where results would go: must stay absent
        TMPDIR=str(tmp_path / "tmp"),
    )
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    return env


def run_script(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [BASH, str(SCRIPT), *args],
        cwd=tmp_path / "cwd",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done, time.monotonic() - start


def assert_wrote_nothing(tmp_path: Path, results_before: bool) -> None:
    assert not (tmp_path / "out").exists()
    assert list((tmp_path / "cwd").iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    assert (ROOT / "gpu-check-results").exists() == results_before


def test_script_parses() -> None:
    done = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert os.access(SCRIPT, os.X_OK), "scripts/gpu_check.sh should be executable"


def test_no_gpu_is_one_clear_line_and_exit_0(tmp_path: Path) -> None:
    results_before = (ROOT / "gpu-check-results").exists()
    done, seconds = run_script(tmp_path, no_gpu_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith(NO_GPU) and lines[0].endswith(NOTHING), lines[0]
    assert "nvidia-smi not found" in lines[0]
    assert "torch.cuda.is_available() is False" in lines[0]
    assert seconds < 30
    assert_wrote_nothing(tmp_path, results_before)


def test_nvidia_smi_without_a_gpu_is_no_gpu(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    smi = fake / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'No devices were found'\nexit 6\n")
    smi.chmod(0o755)
    results_before = (ROOT / "gpu-check-results").exists()
    done, seconds = run_script(tmp_path, no_gpu_env(tmp_path, extra_path=fake), "--quick")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"{NO_GPU}nvidia-smi lists no GPU; torch.cuda.is_available() is False{NOTHING}"]
    assert seconds < 30
    assert_wrote_nothing(tmp_path, results_before)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["--budget"], "--budget needs a value"),
        (["--budget", "ten"], "--budget needs a whole number"),
        (["--models", "noiser,retinexformer"], "unknown model 'retinexformer'"),
        (["--sizes", "4k"], "bad size '4k'"),
    ],
)
def test_usage_errors_exit_2_before_looking_for_a_gpu(tmp_path: Path, args: list[str], says: str) -> None:
    done, _ = run_script(tmp_path, no_gpu_env(tmp_path), *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert says in done.stderr and "usage:" in done.stderr
    assert not (tmp_path / "out").exists()


def test_help_names_the_exit_codes(tmp_path: Path) -> None:
    done, _ = run_script(tmp_path, no_gpu_env(tmp_path), "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: scripts/gpu_check.sh")
    assert "exit codes: 0" in done.stdout and "docs/GPU.md" in done.stdout


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_clean() -> None:
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
