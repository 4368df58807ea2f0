"""Shape ranges of compiled engines and the one dynamic-shape spec every exporter uses.

A range is three ``BxHxW`` shapes (min, opt, max) of the float ``(B, 3, H, W)`` batch an
engine takes. ``export_program`` turns it into ``torch.export`` ``Dim``s and exports the
net once; AOTInductor, ONNX Runtime and TensorRT all compile from that same export, so
the step the TensorRT path depends on is tested on machines without TensorRT.

Example:
    >>> r = ShapeRange.parse("1x360x640", "4x720x1280", "8x1088x1920")
    >>> str(r)
    '1x360x640..8x1088x1920 (opt 4x720x1280)'
    >>> r.contains((2, 3, 480, 854))
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.export import Dim, ExportedProgram

from nightvid.errors import NightvidError

__all__ = ["DEFAULT_RANGE", "DEFAULT_TRT_RANGE", "Shape", "ShapeRange", "export_program"]

Shape = tuple[int, int, int]  # (batch, height, width)
_AXES = ("batch", "height", "width")
# The smallest H/W a range may start at: every net (LEDNet's 8x downsampling and
# pyramid pooling included) exports and runs from 16 px up (tests/nets/test_contract.py).
MIN_SIDE = 16


def _parse_shape(text: str, *, what: str) -> Shape:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if match is None:
        raise NightvidError(f"bad {what} shape {text!r}: expected BxHxW, e.g. 1x360x640")
    return int(match[1]), int(match[2]), int(match[3])


def _fmt(shape: Shape) -> str:
    return "x".join(map(str, shape))


@dataclass(frozen=True)
class ShapeRange:
    """Inclusive ``min <= opt <= max`` per axis of a ``(B, 3, H, W)`` batch, as ``(B, H, W)``."""

    min: Shape
    opt: Shape
    max: Shape

    def __post_init__(self) -> None:
        for axis, lo, mid, hi in zip(_AXES, self.min, self.opt, self.max, strict=False):
            if not 1 <= lo <= mid <= hi:
                raise NightvidError(
                    f"bad shape range {self}: need 1 <= min <= opt <= max for {axis}, got {lo}, {mid}, {hi}"
                )
        if min(self.min[1:]) < MIN_SIDE:
            raise NightvidError(f"bad shape range {self}: height and width start at {MIN_SIDE} or more")

    @classmethod
    def parse(cls, min: str, opt: str | None = None, max: str | None = None) -> ShapeRange:
        """From ``BxHxW`` strings; a missing ``opt`` is ``min``, a missing ``max`` is ``opt``."""
        lo = _parse_shape(min, what="min")
        mid = _parse_shape(opt, what="opt") if opt else lo
        hi = _parse_shape(max, what="max") if max else mid
        return cls(lo, mid, hi)

    def override(self, min: str | None = None, opt: str | None = None, max: str | None = None) -> ShapeRange:
        """This range with the given ``BxHxW`` bounds replaced (``--min/--opt/--max``).

        An ``opt`` not given is this range's opt clamped into the new min..max.
        """
        lo = _parse_shape(min, what="min") if min else self.min
        hi = _parse_shape(max, what="max") if max else self.max
        if opt:
            mid = _parse_shape(opt, what="opt")
        else:
            b, h, w = (sorted((a, m, z))[1] if a <= z else m for a, m, z in zip(lo, self.opt, hi, strict=True))
            mid = (b, h, w)
        return ShapeRange(lo, mid, hi)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShapeRange:
        return cls(*(tuple(int(v) for v in data[k]) for k in ("min", "opt", "max")))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    def __str__(self) -> str:
        return f"{_fmt(self.min)}..{_fmt(self.max)} (opt {_fmt(self.opt)})"

    def contains(self, shape: tuple[int, ...]) -> bool:
        """Whether a ``(B, 3, H, W)`` (or ``(B, H, W)``) shape lies inside the range."""
        bhw = (shape[0], shape[-2], shape[-1])
        return all(lo <= v <= hi for v, lo, hi in zip(bhw, self.min, self.max, strict=False))

    def dynamic_shapes(self) -> dict[str, dict[int, Dim]]:
        """The ``torch.export`` spec for ``Enhancer.forward(x)``: one ``Dim`` per varying axis.

        An axis whose min equals its max stays static.
        """
        spec: dict[int, Dim] = {}
        for index, axis, lo, hi in zip((0, 2, 3), _AXES, self.min, self.max, strict=False):
            if lo < hi:
                spec[index] = Dim(axis, min=lo, max=hi)
        return {"x": spec}

    def example(self, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Tensor:
        """The tracing input: ``opt``, except that a dynamic axis never traces at size 1.

        ``torch.export`` specialises a size-1 dimension to the constant 1, so a dynamic
        batch whose opt is 1 is traced at 2 (inside the range, since max > min >= 1).
        """
        sizes = [max(mid, 2) if lo < hi else mid for lo, mid, hi in zip(self.min, self.opt, self.max, strict=False)]
        b, h, w = (min(s, hi) for s, hi in zip(sizes, self.max, strict=False))
        generator = torch.Generator().manual_seed(0)
        return torch.rand(b, 3, h, w, generator=generator, dtype=torch.float32).to(device, dtype)


#: CPU backends: nearly any video (16 px up to 4K, batches up to 8). ONNX Runtime and
#: AOTInductor code is shape-generic, so a wide range costs nothing at run time.
DEFAULT_RANGE = ShapeRange((1, MIN_SIDE, MIN_SIDE), (1, 720, 1280), (8, 2160, 3840))
#: TensorRT sizes activation memory and tunes kernels for the profile, so its default
#: stops at 4 frames of 1080p (pass --max for 4K).
DEFAULT_TRT_RANGE = ShapeRange((1, MIN_SIDE, MIN_SIDE), (1, 720, 1280), (4, 1088, 1920))


def export_program(
    module: nn.Module,
    shape_range: ShapeRange,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> ExportedProgram:
    """``torch.export`` an ``Enhancer`` (already on ``device``/``dtype``) over ``shape_range``."""
    example = shape_range.example(dtype=dtype, device=device)
    try:
        with torch.no_grad():
            return torch.export.export(module, (example,), dynamic_shapes=shape_range.dynamic_shapes(), strict=False)
    except Exception as err:  # torch.export raises many types; all mean "cannot compile this"
        raise NightvidError(f"torch.export failed over {shape_range}: {err}") from err
