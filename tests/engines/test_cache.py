"""The engine cache: hits, and every kind of untrustworthy entry rebuilt with a message.

The cache logic runs here with a stand-in backend that writes a few bytes (instant); the
end-to-end hit and rebuild with real artifacts are in ``test_engines.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from nightvid import nets
from nightvid.engines.cache import (
    artifact_meta,
    cache_key,
    covering_range,
    default_cache_dir,
    load_or_build,
    weights_digest,
)
from nightvid.engines.shapes import ShapeRange
from nightvid.errors import NightvidError

RANGE = ShapeRange.parse("1x32x32", "1x48x64", "2x64x96")


class FakeBackend:
    """Writes ``payload`` as the artifact; load returns the bytes and counts calls."""

    def __init__(self, payload: bytes = b"compiled-net") -> None:
        self.payload = payload
        self.builds = 0
        self.loads = 0

    def build(self, path: Path) -> None:
        self.builds += 1
        path.write_bytes(self.payload)

    def load(self, path: Path) -> bytes:
        self.loads += 1
        data = path.read_bytes()
        if not data.startswith(b"compiled"):
            raise ValueError("not a compiled net")
        return data


@pytest.fixture(scope="module")
def meta() -> dict:
    torch.manual_seed(0)
    enhancer = nets.build_enhancer("noiser", weights=None)
    return artifact_meta(
        net="noiser",
        enhancer=enhancer,
        weights="random-init",
        backend="fake",
        backend_version="fake 1.0",
        device=torch.device("cpu"),
        precision="fp32",
        shape_range=RANGE,
    )


def get(meta: dict, cache: Path, backend: FakeBackend, **kwargs):
    return load_or_build(meta, cache_dir=cache, suffix=".bin", build=backend.build, load=backend.load, **kwargs)


def test_metadata_has_every_field(meta: dict, tmp_path: Path) -> None:
    backend = FakeBackend()
    _, entry = get(meta, tmp_path, backend)
    recorded = json.loads(entry.meta_path.read_text())
    for field in (
        "net",
        "weights_sha256",
        "backend",
        "backend_version",
        "torch_version",
        "device_name",
        "device_capability",
        "precision",
        "shape_range",
        "artifact_sha256",
        "net_code_sha256",
    ):
        assert recorded[field], field
    assert recorded["shape_range"] == {"min": [1, 32, 32], "opt": [1, 48, 64], "max": [2, 64, 96]}
    assert recorded["torch_version"] == torch.__version__
    assert entry.artifact.name == recorded["artifact"] and entry.artifact.suffix == ".bin"
    assert cache_key(meta) in entry.artifact.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([entry.artifact.name, entry.meta_path.name])


def test_second_load_is_a_hit(meta: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    _, first = get(meta, tmp_path, backend)
    with caplog.at_level(logging.WARNING):
        loaded, second = get(meta, tmp_path, backend)
    assert loaded == b"compiled-net"
    assert first.built and not second.built and backend.builds == 1
    assert second.load_seconds < 1.0
    assert not caplog.records


def tamper_field(field: str, value):
    def tamper(entry) -> None:
        data = json.loads(entry.meta_path.read_text())
        data[field] = value
        entry.meta_path.write_text(json.dumps(data))

    return tamper


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (tamper_field("torch_version", "2.0.0"), "torch_version"),  # stale: built by another torch
        (tamper_field("net", "lednet"), "net is 'lednet'"),  # foreign
        (tamper_field("weights_sha256", "0" * 64), "weights_sha256"),  # foreign weights
        (tamper_field("device_capability", "nosuch-cpu/NO-ISA"), "device_capability"),  # a machine none is
        (tamper_field("shape_range", {"min": [1, 16, 16], "opt": [1, 16, 16], "max": [1, 16, 16]}), "shape_range"),
        (tamper_field("artifact_sha256", "f" * 64), "sha256"),
        (lambda e: e.artifact.write_bytes(b"compiled-but-tampered"), "sha256"),  # corrupt bytes
        (lambda e: e.meta_path.write_text("{not json"), "unreadable metadata"),
        (lambda e: e.artifact.unlink(), "missing"),
        (lambda e: e.meta_path.unlink(), "artifact without metadata"),
    ],
    ids=[
        "stale-torch",
        "foreign-net",
        "foreign-weights",
        "foreign-device",
        "other-range",
        "hash-field",
        "artifact-bytes",
        "bad-json",
        "no-artifact",
        "no-metadata",
    ],
)
def test_untrusted_entry_is_rebuilt_with_a_message(
    meta: dict, tmp_path: Path, tamper, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = FakeBackend()
    _, entry = get(meta, tmp_path, backend)
    tamper(entry)
    with caplog.at_level(logging.WARNING, logger="nightvid.engines.cache"):
        loaded, again = get(meta, tmp_path, backend)
    assert again.built and backend.builds == 2 and loaded == b"compiled-net"
    assert any("rebuilding" in r.message and reason in r.message for r in caplog.records), caplog.text
    # ...and the rebuilt entry verifies again.
    _, third = get(meta, tmp_path, backend)
    assert not third.built


def test_artifact_that_fails_to_load_is_rebuilt(meta: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = FakeBackend(payload=b"garbage")  # records a valid hash of bytes that do not load
    with pytest.raises(NightvidError, match="does not load"):
        get(meta, tmp_path, bad)
    good = FakeBackend()
    # The metadata written for the garbage verifies, the load fails: rebuilt, not trusted.
    with caplog.at_level(logging.WARNING, logger="nightvid.engines.cache"):
        loaded, entry = get(meta, tmp_path, good)
    assert entry.built and loaded == b"compiled-net"
    assert any("fails to load" in r.message for r in caplog.records)


def test_rebuild_flag_and_key_changes(meta: dict, tmp_path: Path) -> None:
    backend = FakeBackend()
    get(meta, tmp_path, backend)
    _, forced = get(meta, tmp_path, backend, rebuild=True)
    assert forced.built and backend.builds == 2
    other = {**meta, "precision": "bf16"}
    assert cache_key(other) != cache_key(meta)
    assert cache_key({**meta, "weights": "/elsewhere.safetensors"}) == cache_key(meta)  # informational


def test_failed_build_leaves_no_entry(meta: dict, tmp_path: Path) -> None:
    def explode(path: Path) -> None:
        path.write_bytes(b"half")
        raise NightvidError("compiler crashed")

    with pytest.raises(NightvidError, match="compiler crashed"):
        load_or_build(meta, cache_dir=tmp_path, suffix=".bin", build=explode, load=FakeBackend().load)
    assert list(tmp_path.iterdir()) == []


def test_covering_range_takes_the_nearest_opt_of_the_same_identity(meta: dict, tmp_path: Path) -> None:
    wide = ShapeRange.parse("1x16x16", "1x720x1280", "8x1088x1920")
    near = ShapeRange.parse("1x32x32", "2x64x96", "4x64x96")
    for shape_range in (wide, near, RANGE):
        get({**meta, "shape_range": shape_range.as_dict()}, tmp_path, FakeBackend())
    get({**meta, "precision": "bf16", "shape_range": ShapeRange.parse("2x64x96").as_dict()}, tmp_path, FakeBackend())

    def found(frames: tuple[int, int, int], **changed) -> ShapeRange | None:  # noqa: ANN003
        return covering_range({**meta, **changed}, cache_dir=tmp_path, suffix=".bin", frames=frames)

    assert found((1, 48, 64)) == RANGE  # held by all three: RANGE's opt is 1x48x64
    assert found((2, 64, 96)) == near  # another precision's exact range does not count
    assert found((4, 48, 64)) == near  # batches 1 to 4
    assert found((8, 48, 64)) == wide
    assert found((1, 2160, 3840)) is None
    assert found((1, 48, 64), backend_version="fake 2.0") is None  # the range is all that may differ
    assert found((1, 48, 64), shape_range=wide.as_dict()) == RANGE  # whatever range was asked
    assert found((1, 48, 64), precision="bf16") is None  # its only range starts at batch 2
    assert covering_range(meta, cache_dir=tmp_path / "none", suffix=".bin", frames=(1, 48, 64)) is None


def test_weights_digest_follows_the_tensors() -> None:
    torch.manual_seed(0)
    a = nets.build_enhancer("noiser", weights=None)
    torch.manual_seed(0)
    b = nets.build_enhancer("noiser", weights=None)
    torch.manual_seed(1)
    c = nets.build_enhancer("noiser", weights=None)
    assert weights_digest(a) == weights_digest(b) != weights_digest(c)
    shipped = nets.build_enhancer("noiser")
    assert weights_digest(shipped) not in (weights_digest(a), weights_digest(c))


def test_cache_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NIGHTVID_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("NIGHTVID_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "nightvid" / "engines"


def test_the_key_covers_the_steps_around_the_net(monkeypatch: pytest.MonkeyPatch) -> None:
    # an edit to the exposure curve, the colour steps or the deblocking changes what a
    # compiled artifact computes, so their files are part of the code digest
    from nightvid import nets
    from nightvid.engines import cache
    from nightvid.engines.shapes import ShapeRange

    def digest() -> str:
        return cache.artifact_meta(
            net="noiser",
            enhancer=nets.build_enhancer("noiser", weights=None),
            weights="none",
            backend="onnx",
            backend_version="1",
            device=torch.device("cpu"),
            precision="fp32",
            shape_range=ShapeRange((1, 16, 16), (1, 16, 16), (1, 16, 16)),
        )["net_code_sha256"]

    assert {"nightvid.nets.exposure", "nightvid.nets.colour", "nightvid.nets.deblock"} <= set(cache.STEP_MODULES)
    full = digest()
    monkeypatch.setattr(cache, "STEP_MODULES", ("nightvid.nets.exposure", "nightvid.nets.colour"))
    assert digest() != full
