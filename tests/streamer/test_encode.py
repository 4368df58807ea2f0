"""Encoding options checked before any work (``streamer.encode.check_encoding``):
``auto`` resolved per container, one-line errors for what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightvid.errors import NightvidError
from nightvid.streamer.encode import check_encoding
from nightvid.streamer.encode_options import EncodeOptions


@pytest.mark.parametrize(
    "name, codec",
    [("out.mp4", "libx264"), ("out.mkv", "libx264"), ("out.webm", "libvpx-vp9"), ("out.mpg", "mpeg1video")],
)
def test_auto_picks_the_containers_codec(name: str, codec: str) -> None:
    resolved = check_encoding(EncodeOptions(crf=20, preset="fast"), Path(name))
    assert resolved == EncodeOptions(codec=codec, crf=20, preset="fast")


@pytest.mark.parametrize(
    "options, name, error",
    [
        ({"codec": "nope"}, "out.mp4", "unknown video encoder 'nope'"),
        ({"codec": "aac"}, "out.mp4", "'aac' is not a video encoder"),
        ({"crf": 52}, "out.mp4", "--crf for libx264 is 0..51, got 52"),
        ({"preset": "fastest"}, "out.mp4", "unknown --preset 'fastest'; libx264 takes ultrafast, "),
        ({"codec": "libx264"}, "out.webm", "a .webm file cannot hold libx264 video; use --codec libvpx-vp9"),
        ({}, "out.png", "enhance writes video files; out.png would be still images (image2)"),
    ],
)
def test_what_cannot_work_is_one_error_before_any_work(options: dict, name: str, error: str) -> None:
    with pytest.raises(NightvidError) as raised:
        check_encoding(EncodeOptions(**options), Path(name))
    assert str(raised.value).startswith(error)
    assert "\n" not in str(raised.value)
