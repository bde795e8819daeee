"""``nanobanana run``'s terminal bar, drawn from the snapshots the engine's writer makes."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nanobanana_async.cli.bar import ProgressBar
from nanobanana_async.engine.events import RateLimitWait, SlideDone, SlideFailed, SlideStarted
from nanobanana_async.engine.progress import ProgressTracker

START = datetime(2026, 1, 16, 10, 30, tzinfo=UTC)


class Wall:
    """The wall clock the tracker and the bar share, moved by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def drawn(stream: io.StringIO) -> list[str]:
    """Each redraw's visible text: what follows ``\\r``, without the erase-to-end."""
    return [part.removesuffix("\x1b[K") for part in stream.getvalue().split("\r") if part]


def busy_run(wall: Wall) -> ProgressTracker:
    """Five slides finished in the first minute (one failed), two in flight, a 30 s pause."""
    tracker = ProgressTracker(
        total=10, output_dir=Path("/d"), started_at="2026-01-16T10:30:00Z", started_mono=0.0,
        pid=1, wall_clock=wall,
    )  # fmt: skip
    for slide in range(1, 8):
        tracker.apply(SlideStarted(slide, 0.0))
    for slide in range(1, 5):
        tracker.apply(SlideDone(slide, Path(f"/d/{slide}"), 1, 15.0 * slide))
    tracker.apply(SlideFailed(5, "prompt blocked (SAFETY)", "PromptBlocked", 60.0))
    tracker.apply(RateLimitWait(30.0, 60.0, True))
    wall.now = START + timedelta(seconds=60)
    return tracker


def bar_at(width: int, wall: Wall) -> tuple[ProgressBar, io.StringIO]:
    stream = io.StringIO()
    return ProgressBar(True, stream=stream, columns=lambda: width, wall_clock=wall), stream


@pytest.mark.parametrize("width", [20, 40, 60, 80, 120, 200])
def test_the_bar_never_reaches_the_last_column(width: int) -> None:
    wall = Wall()
    tracker = busy_run(wall)
    bar, stream = bar_at(width, wall)
    for now in (60.0, 75.0, 95.0):
        wall.now = START + timedelta(seconds=now)
        bar(tracker.snapshot(now))
    lines = drawn(stream)
    assert len(lines) == 3
    for line in lines:
        assert len(line) <= width - 1, line
        assert "\n" not in line
        assert "5/10" in line  # the counts are the last thing to go


def test_at_200_columns_everything_shows() -> None:
    wall = Wall()
    bar, stream = bar_at(200, wall)
    bar(busy_run(wall).snapshot(60.0))
    assert drawn(stream) == [
        "[############------------] 5/10, waiting on quota 30s, 1 failed, ETA 1m30s,"
        " 1m00s elapsed, 5.0 slides/min, 2 in flight, 1 rate-limit wait"
    ]


def test_at_80_columns_the_least_important_parts_go_first() -> None:
    wall = Wall()
    bar, stream = bar_at(80, wall)
    bar(busy_run(wall).snapshot(60.0))
    assert drawn(stream) == [
        "[######-------] 5/10, waiting on quota 30s, 1 failed, ETA 1m30s, 1m00s elapsed"
    ]


def test_at_40_columns_it_still_says_the_wait() -> None:
    wall = Wall()
    bar, stream = bar_at(40, wall)
    bar(busy_run(wall).snapshot(60.0))
    assert drawn(stream) == ["[###---] 5/10, waiting on quota 30s"]


def test_a_resize_is_followed_at_the_next_draw() -> None:
    wall = Wall()
    tracker = busy_run(wall)
    width = [200]
    stream = io.StringIO()
    bar = ProgressBar(True, stream=stream, columns=lambda: width[0], wall_clock=wall)
    bar(tracker.snapshot(60.0))
    width[0] = 40
    bar(tracker.snapshot(60.0))
    first, second = drawn(stream)
    assert len(first) > 100
    assert len(second) <= 39


def test_very_narrow_terminals_get_a_cut_line_not_a_wrapped_one() -> None:
    wall = Wall()
    tracker = ProgressTracker(
        total=1000, output_dir=Path("/d"), started_at="", started_mono=0.0, pid=1,
        wall_clock=wall,
    )  # fmt: skip
    for width in (1, 2, 5, 6, 8):
        bar, stream = bar_at(width, wall)
        bar(tracker.snapshot(0.0))
        (line,) = drawn(stream) or [""]
        assert len(line) <= width - 1
    bar, stream = bar_at(8, wall)
    bar(tracker.snapshot(0.0))
    assert drawn(stream) == ["0/1000"]  # the gauge goes before the counts are cut
    bar, stream = bar_at(6, wall)
    bar(tracker.snapshot(0.0))
    assert drawn(stream) == ["0/10…"]


def test_the_bar_says_the_quota_wait_and_stops_when_it_is_over() -> None:
    wall = Wall()
    tracker = busy_run(wall)
    bar, stream = bar_at(200, wall)
    bar(tracker.snapshot(60.0))
    wall.now = START + timedelta(seconds=80)
    bar(tracker.snapshot(80.0))
    wall.now = START + timedelta(seconds=95)
    bar(tracker.snapshot(95.0))  # the pause is over
    during, later, over = drawn(stream)
    assert "waiting on quota 30s" in during
    assert "waiting on quota 10s" in later
    assert "quota" not in over
    assert "1m35s elapsed" in over
    assert "3.2 slides/min" in over  # 5 slides in 95 s


def test_reused_slides_do_not_count_towards_the_rate() -> None:
    wall = Wall()
    tracker = busy_run(wall)
    resumed = dataclasses.replace(tracker.snapshot(60.0), reused=3)
    bar, stream = bar_at(200, wall)
    bar(resumed)
    assert "2.0 slides/min" in drawn(stream)[0]  # 5 finished, 3 of them found on disk


def test_a_disabled_bar_draws_nothing_and_close_clears_only_what_it_drew() -> None:
    wall = Wall()
    stream = io.StringIO()
    bar = ProgressBar(False, stream=stream, columns=lambda: 80, wall_clock=wall)
    bar(busy_run(wall).snapshot(60.0))
    bar.close()
    assert stream.getvalue() == ""
    bar, stream = bar_at(80, wall)
    bar.close()
    assert stream.getvalue() == ""
    bar(busy_run(wall).snapshot(60.0))
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")
