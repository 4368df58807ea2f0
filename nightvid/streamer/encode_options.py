"""How enhanced video is encoded: the options, their defaults and ranges, in one place.

Kept apart from ``encode.py`` (which imports PyAV) so that the CLI takes its defaults
from here and still starts fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nightvid.errors import NightvidError

__all__ = [
    "AUDIO_ENCODERS",
    "AUTO_CODECS",
    "CRF_ONLY_CODECS",
    "CRF_PRESET_CODECS",
    "CRF_RANGE",
    "DEFAULT_CRF",
    "DEFAULT_PRESET",
    "FLAG_OPTIONS",
    "PRESETS",
    "QSCALE_CODECS",
    "QUALITY_OPTIONS",
    "EncodeOptions",
    "parse_bitrate",
]

# Encoders whose private options take a constant rate factor and a speed preset.
CRF_PRESET_CODECS = {"libx264", "libx265"}
CRF_ONLY_CODECS = {"libvpx", "libvpx-vp9", "libaom-av1"}


DEFAULT_PRESET = "veryfast"
DEFAULT_CRF = 18
#: Encoder options that first-class flags set: ``--encoder-opt`` may not set them again.
FLAG_OPTIONS = {"crf": "--crf", "preset": "--preset", "pix_fmt": "--pix-fmt", "pixel_format": "--pix-fmt"}
_BITRATE = re.compile(r"(\d+(?:\.\d+)?)([kKmM]?)")
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
#: Encoders whose quality is a quantiser (``qscale`` 1-31, FFmpeg's ``-q:v``): ``--crf`` maps
#: onto it (crf 18 -> q 3), else they write FFmpeg's default 200 kbit/s.
QSCALE_CODECS = ("mpeg1video", "mpeg2video")
#: ``--audio-codec`` encoders, in the order one is suggested for audio a container cannot hold.
AUDIO_ENCODERS = ("aac", "libopus", "mp2", "libmp3lame", "ac3", "pcm_s16le")


@dataclass(frozen=True)
class EncodeOptions:
    """How the enhanced video is encoded."""

    #: ``auto``: libx264, or the first of ``AUTO_CODECS`` the output container holds.
    codec: str = "auto"
    crf: int | None = DEFAULT_CRF
    #: veryfast: at crf 18 on the night dashcam clip enhanced by NoiSER, half the CPU of
    #: medium (8.5 vs 17.0 ms per 640x360 frame) for a file of the same size (651 vs 667
    #: KiB); ``python benchmarks/x264_presets.py``.
    preset: str | None = DEFAULT_PRESET
    #: ``auto``: yuv420p, or its 10/12-bit variant for deeper sources when the codec has it.
    pix_fmt: str = "auto"
    #: ``--encoder-opt KEY=VALUE``, as given: the encoder's own AVOptions (``x264-params``,
    #: ``tune``, ``profile``), checked when the encoder opens; none may set what a flag sets
    #: (``check_flags``).
    extra: tuple[str, ...] = ()
    #: ``--quiet``: also silence encoders that print to the console themselves (x265's summary).
    quiet: bool = False
    #: ``--bitrate``: an average bitrate (``300k``, ``2.5M``, bits/s) instead of constant
    #: quality: the encoder's ``b``, with no crf. ``--encoder-opt b=...`` does the same.
    bitrate: str | None = None
    #: ``--audio-codec``: ``copy`` (audio copied byte for byte, refused where the container
    #: cannot hold it), ``none`` (audio left out, listed as dropped), or an audio encoder
    #: (``aac``, ``libopus``, ...) every audio stream is encoded with, timed as the source.
    audio_codec: str = "copy"

    def check_flags(self, codec: str) -> None:
        """A NightvidError for flags that contradict each other or say nothing (``codec`` resolved).

        An empty ``--preset``; a ``--bitrate`` that is not bits per second, or one beside a
        ``--crf`` other than the default; an ``--encoder-opt`` that sets what a flag sets
        (``crf=30`` beside ``--crf``: which one wins would be a surprise).
        """
        if self.preset is not None and not self.preset.strip():
            raise NightvidError(f"--preset is empty; give one of {', '.join(PRESETS)}")
        extra = self.extra_options()
        flags = dict(FLAG_OPTIONS)
        mapped = QUALITY_OPTIONS.get(codec)
        if mapped is not None:
            flags.update({mapped[0]: "--crf", mapped[1]: "--preset"})
        if self.bitrate is not None:
            flags["b"] = "--bitrate"
            parse_bitrate(self.bitrate)
            if self.crf is not None and self.crf != DEFAULT_CRF:
                raise NightvidError(
                    f"--crf {self.crf} and --bitrate {self.bitrate} are two ways to set the size: give one"
                )
        for key, value in extra.items():
            if key in flags:
                raise NightvidError(
                    f"--encoder-opt {key}={value} sets what {flags[key]} sets; use {flags[key]} {value} instead"
                )
        if "b" in extra:
            parse_bitrate(extra["b"], flag="--encoder-opt b=")

    def _bitrate(self) -> str | None:
        """The average bitrate asked for (``--bitrate`` or ``--encoder-opt b=``), in bits/s."""
        given = self.bitrate if self.bitrate is not None else self.extra_options().get("b")
        return None if given is None else str(parse_bitrate(given))

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
        bitrate = self._bitrate()
        crf = None if bitrate is not None else self.crf  # an average bitrate replaces constant quality
        if self.codec in CRF_PRESET_CODECS | CRF_ONLY_CODECS and crf is not None:
            opts["crf"] = str(crf)
        if self.codec in CRF_PRESET_CODECS and self.preset:
            opts["preset"] = self.preset
        if bitrate is not None:
            opts["b"] = bitrate
        elif self.codec.startswith("libvpx"):
            opts["b"] = "0"  # constant quality mode: crf alone, no bitrate target
        if self.codec in QSCALE_CODECS and crf is not None:
            opts["flags"] = "+qscale"
            opts["global_quality"] = str(max(1, min(31, round(crf / 6))) * 118)  # 118: FF_QP2LAMBDA
        mapped = QUALITY_OPTIONS.get(self.codec)
        if mapped is not None:
            quality_key, speed_key, speeds = mapped
            if crf is not None:
                opts[quality_key] = str(self.crf)
            if self.preset and self.preset in PRESETS:
                opts[speed_key] = speeds[PRESETS.index(self.preset)]
        return opts


def parse_bitrate(text: str, flag: str = "--bitrate") -> int:
    """``300k`` -> 300000, ``2.5M`` -> 2500000, ``800000`` as is (bits per second, above 0)."""
    match = _BITRATE.fullmatch(text.strip())
    scale = {"": 1, "k": 1000, "m": 1_000_000}
    value = round(float(match.group(1)) * scale[match.group(2).lower()]) if match else 0
    if value <= 0:
        raise NightvidError(f"{flag} takes bits per second such as 300k, 2.5M or 800000, got {text!r}")
    return value
