"""The streams beside the video (``streamer.carry.Carrier``): copied byte for byte,
interleaved by time, moved by the input's start, or dropped with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import pytest

from nightvid.streamer.carry import Carrier, Dropped
from tests.clips import make_clip, make_rich_streams


class Recorder:
    """Stands in for the output in ``mux_until``: keeps what would be muxed."""

    def __init__(self) -> None:
        self.packets: list[av.Packet] = []

    def mux(self, packets: av.Packet | list[av.Packet]) -> None:
        self.packets.extend(packets if isinstance(packets, list) else [packets])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One second of video (stream 0) and AAC audio (stream 1)."""
    return make_clip(tmp_path_factory.mktemp("carry") / "in.mp4", frames=25)


def audio_of(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as container:
        return [(p.pts, bytes(p)) for p in container.demux(audio=0) if p.size]


@contextmanager
def carrier_into(dst: Path, src: Path, indices: tuple[int, ...], **options: object) -> Iterator[Carrier]:
    """A ``Carrier`` of ``src``'s streams ``indices`` into a new ``dst`` with a video stream."""
    with av.open(str(dst), "w") as output:
        video = output.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        carrier = Carrier(src, indices, output, video, **options)  # type: ignore[arg-type]
        try:
            yield carrier
        finally:
            carrier.close()


def test_audio_is_muxed_up_to_the_video_time_then_all_of_it_unchanged(clip: Path, tmp_path: Path) -> None:
    source = audio_of(clip)
    with carrier_into(tmp_path / "out.mkv", clip, (1,)) as carrier:
        out = Recorder()
        carrier.mux_until(out, 0.5)
        shown = [p.pts * p.time_base for p in out.packets]
        assert shown and max(shown) <= 0.5 < source[len(shown)][0] * Fraction(1, 44100)
        carrier.mux_until(out, None)
        assert [bytes(p) for p in out.packets] == [data for _, data in source]
        assert [p.pts for p in out.packets] == [pts for pts, _ in source]
        assert carrier.dropped == [] and carrier.notes == []


def test_the_input_start_time_is_taken_off_every_packet(clip: Path, tmp_path: Path) -> None:
    with carrier_into(tmp_path / "out.mkv", clip, (1,), start=Fraction(1, 2)) as carrier:
        out = Recorder()
        carrier.mux_until(out, None)
        assert [p.pts for p in out.packets] == [pts - 22050 for pts, _ in audio_of(clip)]  # 0.5 s at 44.1 kHz


def test_left_out_audio_is_said(clip: Path, tmp_path: Path) -> None:
    with carrier_into(tmp_path / "out.mkv", clip, (1,), audio_codec="none") as carrier:
        assert carrier.dropped == [Dropped(1, "audio", "aac", "left out (--audio-codec none)")]
        out = Recorder()
        carrier.mux_until(out, None)
        assert out.packets == []


def test_streams_the_output_cannot_hold_are_dropped_with_a_reason(tmp_path: Path) -> None:
    rich = make_rich_streams(tmp_path / "rich.mkv")  # 1: a second video, 2: subrip, 3: a font
    with carrier_into(tmp_path / "out.mp4", rich, (1, 2, 3)) as carrier:
        assert [(d.index, d.type, d.reason) for d in carrier.dropped] == [
            (2, "subtitle", "a .mp4 file cannot hold srt subtitle streams; a .mkv can"),
            (3, "attachment", "a .mp4 file cannot hold attachments; a .mkv can"),
        ]
        assert carrier.notes == [
            "video stream 1 (h264) copied as it is, not enhanced: nightvid enhances the first video stream only"
        ]
