"""The rooms of docs/ARCHITECTURE.md, checked from the imports: arrows only point down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nightvid"
TESTS = Path(__file__).resolve().parent

#: Room -> rooms (module prefixes) it must not import.
FORBIDDEN = {
    "nets": ("nightvid.engines", "nightvid.streamer", "nightvid.trainers", "nightvid.jobs", "nightvid.cli"),
    "engines": ("nightvid.streamer", "nightvid.trainers", "nightvid.jobs", "nightvid.cli"),
    "trainers": ("nightvid.streamer", "nightvid.jobs", "nightvid.cli"),
    "streamer": ("nightvid.nets", "nightvid.trainers", "nightvid.jobs", "nightvid.cli"),
    "jobs": ("nightvid.cli",),
}
#: What streamer/ may take from engines/: the interface, never a builder.
STREAMER_MAY_USE = ("nightvid.engines.base",)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_nothing_above_it(room: str) -> None:
    bad = []
    for path in sorted((PACKAGE / room).rglob("*.py")):
        for name in _imports(path):
            if name.startswith(FORBIDDEN[room]):
                bad.append(f"{path.relative_to(PACKAGE)}: {name}")
            if room == "streamer" and name.startswith("nightvid.engines") and name not in STREAMER_MAY_USE:
                bad.append(f"{path.relative_to(PACKAGE)}: {name} (streamer knows engines only by their interface)")
    assert not bad, bad


def test_no_code_reads_a_closure() -> None:
    readers = [p for p in PACKAGE.rglob("*.py") if "__closure__" in p.read_text()]
    assert not readers


def test_tests_import_no_private_names() -> None:
    private = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nightvid"):
                hidden = [a.name for a in node.names if a.name.startswith("_")]
                parts = (node.module or "").split(".")
                if hidden or any(p.startswith("_") and not p.startswith("__") for p in parts):
                    private.append(f"{path.relative_to(TESTS)}:{node.lineno} {node.module} {hidden}")
    assert not private, private


def test_the_cli_starts_without_torch_or_pyav() -> None:
    """`nightvid --help` stays fast, and the preview can import OpenCV before PyAV (its Qt window needs that)."""
    import subprocess
    import sys

    code = "import sys, nightvid.cli; print(sorted(m for m in ('torch', 'av', 'cv2') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
