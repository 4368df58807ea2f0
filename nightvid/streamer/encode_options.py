"""How enhanced video is encoded: the options, their defaults and ranges, in one place.

Kept apart from ``encode.py`` (which imports PyAV) so that the CLI takes its defaults
from here and still starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from nightvid.errors import NightvidError

__all__ = [
    "AUTO_CODECS",
    "CRF_ONLY_CODECS",
    "CRF_PRESET_CODECS",
    "CRF_RANGE",
    "DEFAULT_PRESET",
    "PRESETS",
    "QUALITY_OPTIONS",
    "EncodeOptions",
]

# Encoders whose private options take a constant rate factor and a speed preset.
CRF_PRESET_CODECS = {"libx264", "libx265"}
CRF_ONLY_CODECS = {"libvpx", "libvpx-vp9", "libaom-av1"}


DEFAULT_PRESET = "veryfast"
#: x264/x265 speed presets.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
#: The crf each encoder takes.
CRF_RANGE = {
    "libx264": (0, 51),
    "libx265": (0, 51),
    "libvpx": (4, 63),
    "libvpx-vp9": (0, 63),
    "libaom-av1": (0, 63),
    "libsvtav1": (0, 63),
}
#: Encoders that name quality and speed otherwise: ``--crf`` goes to the first key, the
#: x264 ``--preset`` (by its place in ``PRESETS``) to the second, mapped onto that
#: encoder's own scale: NVENC's constant-quality ``cq`` and presets p1 (fastest) to p7,
#: Quick Sync's ``global_quality`` and its presets, SVT-AV1's presets 13 (fastest) to 0.
QUALITY_OPTIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "h264_nvenc": ("cq", "preset", ("p1", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p7", "p7")),
    "hevc_nvenc": ("cq", "preset", ("p1", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p7", "p7")),
    "h264_qsv": (
        "global_quality",
        "preset",
        ("veryfast", "veryfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "veryslow"),
    ),
    "hevc_qsv": (
        "global_quality",
        "preset",
        ("veryfast", "veryfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "veryslow"),
    ),
    "libsvtav1": ("crf", "preset", ("13", "12", "10", "9", "8", "6", "5", "4", "2", "0")),
}
#: ``--codec auto``: the first of these the output container holds (libx264 where unsure).
AUTO_CODECS = ("libx264", "libvpx-vp9", "libaom-av1", "libsvtav1", "mpeg4")


@dataclass(frozen=True)
class EncodeOptions:
    """How the enhanced video is encoded."""

    #: ``auto``: libx264, or the first of ``AUTO_CODECS`` the output container holds.
    codec: str = "auto"
    crf: int | None = 18
    #: veryfast: at crf 18 on the night dashcam clip enhanced by NoiSER, half the CPU of
    #: medium (8.5 vs 17.0 ms per 640x360 frame) for a file of the same size (651 vs 667
    #: KiB); ``python benchmarks/x264_presets.py``.
    preset: str | None = DEFAULT_PRESET
    #: ``auto``: yuv420p, or its 10/12-bit variant for deeper sources when the codec has it.
    pix_fmt: str = "auto"
    #: ``--encoder-opt KEY=VALUE``, as given: the encoder's own AVOptions (``x264-params``,
    #: ``tune``, ``profile``), checked when the encoder opens; they win over crf and preset.
    extra: tuple[str, ...] = ()
    #: ``--quiet``: also silence encoders that print to the console themselves (x265's summary).
    quiet: bool = False

    def codec_options(self) -> dict[str, str]:
        """The encoder's own options: ``crf`` and ``preset`` (see ``QUALITY_OPTIONS``), then ``extra``."""
        opts = self._quality_options()
        opts.update(self.extra_options())
        if self.quiet and self.codec == "libx265":
            # x265 writes its settings and summary to stderr itself, not through FFmpeg's log.
            params = opts.get("x265-params")
            opts["x265-params"] = f"{params}:log-level=error" if params else "log-level=error"
        return opts

    def extra_options(self) -> dict[str, str]:
        """``extra`` as a dict; a NightvidError naming an item that is not KEY=VALUE."""
        opts = {}
        for item in self.extra:
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value:
                raise NightvidError(f"--encoder-opt takes KEY=VALUE (e.g. tune=film), got {item!r}")
            opts[key.strip()] = value
        return opts

    def _quality_options(self) -> dict[str, str]:
        opts: dict[str, str] = {}
        if self.codec in CRF_PRESET_CODECS | CRF_ONLY_CODECS and self.crf is not None:
            opts["crf"] = str(self.crf)
        if self.codec in CRF_PRESET_CODECS and self.preset:
            opts["preset"] = self.preset
        if self.codec.startswith("libvpx"):
            opts["b"] = "0"  # constant quality mode: crf alone, no bitrate target
        mapped = QUALITY_OPTIONS.get(self.codec)
        if mapped is not None:
            quality_key, speed_key, speeds = mapped
            if self.crf is not None:
                opts[quality_key] = str(self.crf)
            if self.preset and self.preset in PRESETS:
                opts[speed_key] = speeds[PRESETS.index(self.preset)]
        return opts
