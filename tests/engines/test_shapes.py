"""ShapeRange parsing and the one dynamic-shape spec every export-based backend uses."""

from __future__ import annotations

import pytest
import torch

from nightvid.engines.shapes import DEFAULT_RANGE, ShapeRange
from nightvid.errors import NightvidError


def test_parse_and_describe() -> None:
    r = ShapeRange.parse("1x360x640", "4x720x1280", "8x1088x1920")
    assert (r.min, r.opt, r.max) == ((1, 360, 640), (4, 720, 1280), (8, 1088, 1920))
    assert str(r) == "1x360x640..8x1088x1920 (opt 4x720x1280)"
    assert ShapeRange.from_dict(r.as_dict()) == r
    assert ShapeRange.parse("2x64x64") == ShapeRange((2, 64, 64), (2, 64, 64), (2, 64, 64))


@pytest.mark.parametrize(
    "args, message",
    [
        (("1x360",), "expected BxHxW"),
        (("2x64x64", "1x64x64"), "min <= opt <= max"),
        (("1x64x64", "1x64x64", "1x32x64"), "min <= opt <= max"),
        (("1x8x64",), "16 or more"),
        (("0x64x64",), "min <= opt <= max"),
    ],
)
def test_bad_ranges_are_named(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(NightvidError, match=message):
        ShapeRange.parse(*args)


def test_contains_is_inclusive_per_axis() -> None:
    r = ShapeRange.parse("1x32x32", "2x48x64", "2x64x96")
    assert r.contains((1, 3, 32, 32)) and r.contains((2, 3, 64, 96)) and r.contains((2, 64, 96))
    assert not r.contains((3, 3, 48, 48))
    assert not r.contains((1, 3, 31, 48))
    assert not r.contains((1, 3, 48, 97))


def test_dynamic_spec_and_example() -> None:
    r = ShapeRange.parse("1x32x32", "1x48x64", "4x64x96")
    spec = r.dynamic_shapes()["x"]
    assert sorted(spec) == [0, 2, 3]
    assert (spec[0].min, spec[0].max) == (1, 4) and (spec[3].min, spec[3].max) == (32, 96)
    # A dynamic batch never traces at 1 (torch.export would specialise it).
    assert r.example().shape == (2, 3, 48, 64)
    fixed = ShapeRange.parse("1x32x32", "1x48x64", "1x64x96")
    assert 0 not in fixed.dynamic_shapes()["x"] and fixed.example().shape == (1, 3, 48, 64)
    assert DEFAULT_RANGE.contains((1, 3, 2160, 3840)) and DEFAULT_RANGE.example().dtype == torch.float32


def test_override_keeps_the_rest_and_clamps_opt() -> None:
    r = DEFAULT_RANGE.override(max="2x480x640")
    assert r.min == DEFAULT_RANGE.min and r.max == (2, 480, 640) and r.opt == (1, 480, 640)
    assert DEFAULT_RANGE.override("1x64x64", "2x128x128", "4x256x256") == ShapeRange(
        (1, 64, 64), (2, 128, 128), (4, 256, 256)
    )
    with pytest.raises(NightvidError, match="min <= opt <= max"):
        DEFAULT_RANGE.override(min="1x720x1280", max="1x360x640")
