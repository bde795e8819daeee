"""Flex requests waiting in the service's queue: the status, the progress file, the line
``status`` prints, and an ETA that knows Flex's 15 minutes before the first Flex answer."""

from __future__ import annotations

from pathlib import Path

from progress_testing import new_tracker

from nanobanana_async.engine.events import SlideDone, SlideStarted
from nanobanana_async.follow.summary import progress_line


def test_a_flex_request_waiting_minutes_is_said_queued_not_stuck() -> None:
    tracker = new_tracker(total=3)
    tracker.apply(SlideStarted(1, 0.0, "flex"))
    tracker.apply(SlideStarted(2, 10.0, "flex"))
    tracker.apply(SlideStarted(3, 10.0, "standard"))
    early = tracker.snapshot(30.0)
    assert "queued" not in early.status  # under a minute: nothing to explain yet
    assert "queued" not in early.to_dict()
    later = tracker.snapshot(250.0)
    assert later.status == "0/3 done, generating slide 3; queued (flex) 4 min: slides 1, 2"
    assert later.to_dict()["queued"] == {"tier": "flex", "slides": [1, 2], "seconds": 250}
    assert progress_line(later.to_dict()).startswith(
        "running 0/3, 3 in flight, queued (flex) 4 min"
    )


def test_the_eta_waits_for_flex_s_queue_until_a_flex_answer_comes() -> None:
    tracker = new_tracker(total=4)
    tracker.apply(SlideStarted(1, 0.0, "standard"))
    tracker.apply(SlideStarted(2, 0.0, "flex"))
    tracker.apply(SlideDone(1, Path("/decks/demo/slide-01.webp"), 100, 20.0))
    # The standard answer's pace says 3 x 20 s; Flex's queue may take 15 minutes.
    assert tracker.snapshot(20.0).eta_seconds == 900 - 20
    tracker.apply(SlideDone(2, Path("/decks/demo/slide-02.webp"), 100, 300.0))
    eta = tracker.snapshot(300.0).eta_seconds
    assert eta is not None
    assert eta < 900 - 300  # the pace of the answers now, Flex's included
    assert "queued" not in tracker.snapshot(300.0).to_dict()


def test_a_standard_run_is_as_before() -> None:
    tracker = new_tracker(total=2)
    tracker.apply(SlideStarted(1, 0.0))
    snapshot = tracker.snapshot(600.0)
    assert snapshot.status == "0/2 done, generating slide 1"
    assert snapshot.eta_seconds is None
