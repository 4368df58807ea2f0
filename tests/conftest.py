from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clips import make_clip

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def private_engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compiled engines of this test session go to a temporary cache, not the user's; and
    ``auto`` takes its fixed order (``NIGHTVID_AUTO_TRIAL=0``): a timed trial on a busy
    machine could pick another backend from run to run (tests/engines/test_trial.py turns
    it back on for itself)."""
    before = {name: os.environ.get(name) for name in ("NIGHTVID_CACHE_DIR", "NIGHTVID_AUTO_TRIAL")}
    cache = tmp_path_factory.mktemp("nightvid-cache")
    os.environ["NIGHTVID_CACHE_DIR"] = str(cache)
    os.environ["NIGHTVID_AUTO_TRIAL"] = "0"
    yield cache
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data}")
    return data


@pytest.fixture
def dark_clip(tmp_path: Path) -> Path:
    """12 dark 64x48 frames at 25 fps with an AAC track."""
    return make_clip(tmp_path / "dark.mp4", frames=12)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """CLI commands configure logging for the process (root handlers on the stream they
    were given, INFO for the engine cache); under CliRunner that stream is closed when the
    command returns. Put everything back after each test so no test sees another's setup."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    cache = logging.getLogger("nightvid.engines.cache")
    cache_level = cache.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    cache.setLevel(cache_level)
