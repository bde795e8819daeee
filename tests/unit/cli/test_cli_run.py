"""``nanobanana run``'s terminal bar, drawn from the snapshots the engine's writer makes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nanobanana_async.cli.run import _Bar
from nanobanana_async.engine.events import RateLimitWait, SlideDone, SlideStarted
from nanobanana_async.engine.progress import ProgressTracker


def test_the_bar_says_the_quota_wait(capsys: pytest.CaptureFixture[str]) -> None:
    # The tracker and the bar both read the real wall clock, as in a run; a 30 s pause
    # leaves room for any delay between the two readings.
    tracker = ProgressTracker(
        total=10, output_dir=Path("/d"), started_at="", started_mono=0.0, pid=1
    )
    for event in (SlideStarted(1, 0.0), SlideDone(1, Path("/d/1"), 1, 10.0)):
        tracker.apply(event)
    tracker.apply(RateLimitWait(30.0, 10.0, True))
    bar = _Bar(enabled=True)

    bar(tracker.snapshot(10.0))
    drawn = capsys.readouterr().err
    assert re.search(r"\] running 1/10, waiting on quota (29|30)s, 1 rate-limit wait, ETA ", drawn)

    bar(tracker.snapshot(40.0))  # the pause is over
    drawn = capsys.readouterr().err
    assert "quota" not in drawn
    assert "running 1/10, 1 rate-limit wait, ETA " in drawn
