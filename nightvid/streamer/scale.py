"""The output's frame size (``--scale``): the model runs at the source's size, and its
output is scaled to this one (Lanczos, by ``encode.VideoWriter`` or ``photo``).

Three forms: ``1280x720`` (that size), ``720p`` (720 lines, the width from the picture's
shape on screen) and ``0.5`` (a factor of the size on screen). Sizes are even, as 4:2:0
video needs: the two given are refused if odd, the ones worked out are rounded to the
nearest even number. The output has square pixels: an anamorphic source (DVD, HDV) is
scaled from its shape on screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from nightvid.errors import NightvidError

__all__ = ["Scale", "parse_scale"]

_SIZE = re.compile(r"(\d+)[xX](\d+)")
_LINES = re.compile(r"(\d+)[pP]")
#: Largest side written: x264 and x265 stop at 16384 pixels.
_MAX_SIDE = 16384
_USAGE = "--scale takes WIDTHxHEIGHT (1280x720), a height (720p) or a factor (0.5)"


@dataclass(frozen=True)
class Scale:
    """The output size: ``width`` x ``height`` (0: from the picture's shape), or ``factor`` times its size."""

    width: int = 0
    height: int = 0
    factor: Fraction | None = None

    def size(self, width: int, height: int, aspect: Fraction | None = None) -> tuple[int, int]:
        """The output size for frames of ``width`` x ``height`` with pixel shape ``aspect``.

        Example:
            >>> Scale(height=720).size(1920, 1080), Scale(factor=Fraction(1, 2)).size(720, 576, Fraction(16, 15))
            ((1280, 720), (384, 288))
        """
        shown = width * (aspect or 1)  # the width on screen, in lines
        if self.factor is not None:
            out = (_even(shown * self.factor), _even(height * self.factor))
        elif not self.width:
            out = (_even(shown * self.height / height), self.height)
        else:
            out = (self.width, self.height)
        if max(out) > _MAX_SIDE:
            raise NightvidError(f"--scale {self} makes {out[0]}x{out[1]} frames; at most {_MAX_SIDE} pixels a side")
        return out

    def __str__(self) -> str:
        if self.factor is not None:
            return f"{float(self.factor):g}"
        return f"{self.height}p" if not self.width else f"{self.width}x{self.height}"


def _even(value: Fraction | float) -> int:
    return max(2, 2 * round(Fraction(value) / 2))


def parse_scale(text: str | float | None) -> Scale | None:
    """``--scale`` as given -> a ``Scale`` (None: the source's size); one-line NightvidError otherwise.

    Example:
        >>> print(parse_scale("1280x720"), parse_scale("720p"), parse_scale(0.5))
        1280x720 720p 0.5
    """
    if text is None:
        return None
    given = repr(text) if isinstance(text, float) else str(text).strip()
    size, lines = _SIZE.fullmatch(given), _LINES.fullmatch(given)
    if size or lines:
        width, height = (int(size.group(1)), int(size.group(2))) if size else (0, int(lines.group(1)) if lines else 0)
        if height < 2 or (size and width < 2):
            raise NightvidError(f"--scale {given}: a side must be at least 2 pixels")
        if width % 2 or height % 2:
            even = f"{width + width % 2}x{height + height % 2}" if size else f"{height + height % 2}p"
            raise NightvidError(f"--scale {given}: 4:2:0 video needs even sizes, such as {even}")
        if max(width, height) > _MAX_SIDE:
            raise NightvidError(f"--scale {given}: at most {_MAX_SIDE} pixels a side")
        return Scale(width=width, height=height)
    try:
        factor = Fraction(given)
    except (ValueError, ZeroDivisionError):
        raise NightvidError(f"{_USAGE}, got {given!r}") from None
    if factor <= 0:
        raise NightvidError(f"--scale {given}: a factor must be above 0")
    return Scale(factor=factor)
