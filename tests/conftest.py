from __future__ import annotations

from pathlib import Path

import pytest

from tests.clips import make_clip

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


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
