"""Output pts (``streamer.timestamps.Timeline``): rescaled, started at 0, strictly increasing, every frame kept."""

from __future__ import annotations

from fractions import Fraction

from nightvid.streamer.timestamps import Timeline

MS = Fraction(1, 1000)
TICK = Fraction(1, 90000)


def test_pts_are_rescaled_and_the_start_time_taken_off() -> None:
    timeline = Timeline(MS, TICK, 3600, start=Fraction(1))  # a TS that starts at 1 s
    assert [timeline.place(p) for p in (1000, 1040, 1080)] == [0, 3600, 7200]
    assert timeline.warning() is None


def test_frames_without_pts_follow_the_previous_one_by_a_step() -> None:
    timeline = Timeline(MS, TICK, 3000)
    assert [timeline.place(None), timeline.place(None), timeline.place(100), timeline.place(None)] == [
        0,
        3000,
        9000,
        12000,
    ]


def test_a_pts_at_or_before_the_previous_moves_just_after_it() -> None:
    timeline = Timeline(Fraction(1, 25), Fraction(1, 25), 1)
    assert [timeline.place(p) for p in (0, 1, 1, 2, 5)] == [0, 1, 2, 3, 5]
    assert timeline.moved == 2
    assert timeline.first_moved_at == 0.04
    assert timeline.largest_move == Fraction(1, 25)
    assert timeline.warning() == (
        "2 frame(s) had a timestamp at or before the previous frame's (the first at 0.040 s); "
        "kept and moved just after it, by at most 40.0 ms"
    )


def test_a_container_that_keeps_milliseconds_gets_frames_at_least_a_millisecond_apart() -> None:
    mp4 = Fraction(1, 12800)  # 1 ms is 12.8 ticks: 13 keep two frames apart
    timeline = Timeline(mp4, mp4, 512, spacing=MS, why="came too close")
    assert [timeline.place(p) for p in (0, 1, 512)] == [0, 13, 512]
    assert timeline.largest_move == 12 * mp4
    assert str(timeline.warning()).startswith("1 frame(s) came too close (the first at 0.000 s)")
    assert str(timeline.warning()).endswith("by at most 938 µs")
