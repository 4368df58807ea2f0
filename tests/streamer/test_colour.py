"""The identity path shifts no colour: tags are read, honoured and written back."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from nightvid.engines.base import Engine
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.pipeline import enhance_video
from tests.clips import colour_bars, make_clip

IDENTITY = Engine(fn=lambda x: x, backend="identity", device=__import__("torch").device("cpu"))

CASES = {
    # AVColorSpace / primaries / trc 6 = SMPTE 170M (BT.601); range 1 = limited, 2 = full
    "bt601-limited": dict(colorspace=6, color_primaries=6, color_trc=6, color_range=1),
    "bt709-full": dict(colorspace=1, color_primaries=1, color_trc=1, color_range=2),
}


def decode_rgb(path: Path, matrix: int, colour_range: int) -> np.ndarray:
    """Decode with an explicitly given matrix/range (not the file's tags) to compare pixels."""
    sws = {1: 1, 6: 5}[matrix]
    with av.open(str(path)) as inp:
        frames = [
            f.reformat(format="rgb24", src_colorspace=sws, src_color_range=colour_range, dst_color_range=2).to_ndarray()
            for f in inp.decode(video=0)
        ]
    return np.stack(frames).astype(np.int16)


def tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as inp:
        f = next(inp.decode(video=0))
        return f.colorspace, f.color_primaries, f.color_trc, f.color_range


@pytest.mark.parametrize("case", CASES)
def test_identity_path_keeps_colour_and_tags(case: str, tmp_path: Path) -> None:
    colour = CASES[case]
    src = make_clip(
        tmp_path / "in.mp4",
        frames=3,
        size=(128, 64),
        audio=False,
        content=colour_bars,
        colour=colour,
        pix_fmt="yuv444p",
        options={"qp": "0"},
    )
    out = tmp_path / "out.mp4"
    enhance_video(src, out, IDENTITY, encode=EncodeOptions(crf=0, pix_fmt="yuv444p"))
    assert (
        tags(out)
        == tags(src)
        == (colour["colorspace"], colour["color_primaries"], colour["color_trc"], colour["color_range"])
    )
    before = decode_rgb(src, colour["colorspace"], colour["color_range"])
    after = decode_rgb(out, colour["colorspace"], colour["color_range"])
    assert np.abs(after - before).mean() < 1.0
    assert np.abs(after - before).max() <= 4
    # the check is sharp: a wrong matrix on the same pixels is far off (colour bars half)
    other = {1: 6, 6: 1}[colour["colorspace"]]
    wrong = decode_rgb(out, other, colour["color_range"])
    assert np.abs(wrong - before)[:, :32].mean() > 5.0


def test_untagged_sd_defaults_to_bt601(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=2, size=(64, 48), audio=False)
    out = tmp_path / "out.mp4"
    enhance_video(src, out, IDENTITY)
    assert tags(out) == (6, 6, 6, 1)


def test_cached_converters_match_a_fresh_reformat_in_two_threads() -> None:
    # ColourTags keeps one swscale context per thread and direction; the pixels must be
    # exactly PyAV's one-off reformat, with two threads converting at once, frame after frame.
    from concurrent.futures import ThreadPoolExecutor

    from nightvid.streamer.colour import RANGE_FULL, ColourTags

    tags = ColourTags(matrix=6, primaries=6, transfer=6, range=1)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(6)]

    def round_trip(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        yuv = tags.from_rgb(image, "yuv420p")
        return np.concatenate([np.frombuffer(p, np.uint8) for p in yuv.planes]), tags.to_rgb(yuv)

    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(round_trip, images * 3))
    for image, (planes, rgb) in zip(images * 3, got, strict=False):
        fresh = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format="yuv420p", src_color_range=RANGE_FULL, dst_colorspace=5, dst_color_range=1
        )
        np.testing.assert_array_equal(planes, np.concatenate([np.frombuffer(p, np.uint8) for p in fresh.planes]))
        back = fresh.reformat(format="rgb24", src_colorspace=5, src_color_range=1, dst_color_range=RANGE_FULL)
        np.testing.assert_array_equal(rgb, back.to_ndarray())
