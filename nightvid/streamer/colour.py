"""Colour tags of a video and the YUV <-> RGB conversions that honour them.

Decoding converts with the source's own matrix and range; encoding writes the same
tags back, so the identity path shifts no colour. Untagged sources get the usual
defaults: BT.709 for HD (720 lines or more), BT.601 (SMPTE 170M) below that, limited
range unless the pixel format is a full-range ``yuvj*`` one.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import av
import numpy as np
from av.sidedata.sidedata import SideData
from av.video.reformatter import VideoReformatter

__all__ = ["ColourTags", "HdrMetadata", "bit_depth", "hdr_metadata", "tags_for"]

# FFmpeg's AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic / AVColorRange.
UNSPECIFIED = 2
BT709 = 1
SMPTE170M = 6  # BT.601 525-line; the usual tag for SD video
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2

# libswscale names the matrices differently from AVColorSpace (SWS_CS_* constants).
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


_per_thread = threading.local()


def _reformatter(direction: str) -> VideoReformatter:
    """This thread's reformatter for one direction: it keeps its swscale context from
    frame to frame.

    ``VideoFrame.reformat`` builds a new context on every call; at 640x360 that made
    RGB -> YUV cost 3.94 ms per frame instead of 1.43 (``benchmarks/hot_path.py``). One per
    thread, since the decode and encode stages convert at the same time, and one per
    direction, since a context serves one conversion.
    """
    cached = _per_thread.__dict__.setdefault("reformatters", {})
    if direction not in cached:
        cached[direction] = VideoReformatter()
    return cached[direction]


@dataclass(frozen=True)
class ColourTags:
    """AVColorSpace matrix, primaries, transfer and range of one video."""

    matrix: int
    primaries: int
    transfer: int
    range: int

    @property
    def sws_matrix(self) -> int:
        return _SWS_MATRIX.get(self.matrix, 5)

    def to_rgb(self, frame: av.VideoFrame, *, deep: bool = False) -> np.ndarray:
        """Decoded frame -> (H, W, 3) RGB converted with these tags.

        uint8, or uint16 (full 16-bit scale) with ``deep`` so 10/12-bit video keeps its
        precision through the net.
        """
        rgb = _reformatter("to_rgb").reformat(
            frame,
            format="rgb48le" if deep else "rgb24",
            src_colorspace=self.sws_matrix,
            src_color_range=self.range,
            dst_color_range=RANGE_FULL,
        )
        return rgb.to_ndarray()

    def from_rgb(self, rgb: np.ndarray, pix_fmt: str) -> av.VideoFrame:
        """uint8 or uint16 (H, W, 3) RGB -> a frame in ``pix_fmt`` carrying these tags."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
        out = _reformatter("from_rgb").reformat(
            frame,
            format=pix_fmt,
            src_color_range=RANGE_FULL,
            dst_colorspace=self.sws_matrix,
            dst_color_range=self.range,
        )
        self.stamp(out)
        return out

    def stamp(self, target: av.VideoFrame | av.video.stream.VideoStream) -> None:
        """Write the tags onto a frame or an output stream's encoder."""
        holder = target.codec_context if isinstance(target, av.video.stream.VideoStream) else target
        holder.colorspace = self.matrix
        holder.color_primaries = self.primaries
        holder.color_trc = self.transfer
        holder.color_range = self.range


def tags_for(frame: av.VideoFrame) -> ColourTags:
    """The tags of ``frame``, with HD/SD defaults filled in for what is unspecified."""
    hd = frame.height >= 720 or frame.width >= 1280
    default = BT709 if hd else SMPTE170M
    matrix = frame.colorspace if frame.colorspace not in (0, UNSPECIFIED) else default
    primaries = frame.color_primaries if frame.color_primaries != UNSPECIFIED else default
    transfer = frame.color_trc if frame.color_trc != UNSPECIFIED else default
    colour_range = frame.color_range
    if colour_range == RANGE_UNSPECIFIED:
        colour_range = RANGE_FULL if frame.format.name.startswith("yuvj") else RANGE_LIMITED
    return ColourTags(matrix, primaries, transfer, colour_range)


def bit_depth(pix_fmt: str | None) -> int:
    """Bits per luma sample of a pixel format (8 when unknown)."""
    if not pix_fmt:
        return 8
    try:
        return av.VideoFormat(pix_fmt).components[0].bits
    except (ValueError, av.error.FFmpegError):
        return 8


#: What each encoder takes the HDR10 static metadata in: (option, mastering key, light key, format).
_HDR_OPTIONS = {
    "libx265": ("x265-params", "master-display", "max-cll", "x26x"),
    "libx264": ("x264-params", "mastering-display", "cll", "x26x"),
    "libsvtav1": ("svtav1-params", "mastering-display", "content-light", "svt"),
}


@dataclass(frozen=True)
class HdrMetadata:
    """HDR10 static metadata of a source: mastering display (SMPTE ST 2086) and content light level.

    ``primaries``: (x, y) of red, green, blue and the white point; luminances in cd/m2.
    Read from the first frame's side data, written back through the encoder's own
    parameters, since FFmpeg's encoders take it only that way from PyAV.
    """

    primaries: tuple[tuple[float, float], ...] | None
    luminance: tuple[float, float] | None  # (max, min)
    light: tuple[int, int] | None  # (MaxCLL, MaxFALL)

    def encoder_options(self, codec: str) -> tuple[str, str] | None:
        """(option, value) that makes ``codec`` write this metadata; None when it cannot."""
        spec = _HDR_OPTIONS.get(codec)
        if spec is None:
            return None
        option, master_key, light_key, style = spec
        parts = []
        if self.primaries is not None and self.luminance is not None:
            parts.append(f"{master_key}={self._mastering(style)}")
        if self.light is not None:
            parts.append(f"{light_key}={self.light[0]},{self.light[1]}")
        return option, ":".join(parts)

    def _mastering(self, style: str) -> str:
        """x264/x265 count chromaticity in 1/50000 and luminance in 1/10000 cd/m2; SVT-AV1 takes decimals."""
        assert self.primaries is not None and self.luminance is not None
        (rx, ry), (gx, gy), (bx, by), (wx, wy) = self.primaries
        high, low = self.luminance
        svt = style == "svt"

        def xy(x: float, y: float) -> str:
            return f"({x:.5f},{y:.5f})" if svt else f"({round(x * 50000)},{round(y * 50000)})"

        light = f"({high:.4f},{low:.4f})" if svt else f"({round(high * 10000)},{round(low * 10000)})"
        return f"G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(wx, wy)}L{light}"


def hdr_metadata(frame: av.VideoFrame) -> HdrMetadata | None:
    """The HDR10 metadata attached to ``frame`` (None when it has neither kind)."""
    master = frame.side_data.get("MASTERING_DISPLAY_METADATA")
    light = frame.side_data.get("CONTENT_LIGHT_LEVEL")
    master = master if isinstance(master, SideData) else None
    light = light if isinstance(light, SideData) else None
    if master is None and light is None:
        return None
    primaries = luminance = None
    if master is not None:
        # AVMasteringDisplayMetadata: 3x2 + 2 + 2 AVRationals, then has_primaries, has_luminance.
        values = struct.unpack("<20i2i", bytes(master)[:88])
        ratios = [values[i] / values[i + 1] if values[i + 1] else 0.0 for i in range(0, 20, 2)]
        if values[20]:
            primaries = tuple((ratios[i], ratios[i + 1]) for i in range(0, 8, 2))
        if values[21]:
            luminance = (ratios[9], ratios[8])
    cll = struct.unpack("<2I", bytes(light)[:8]) if light is not None else None
    return HdrMetadata(primaries, luminance, cll)
