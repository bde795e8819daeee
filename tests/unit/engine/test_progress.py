"""The progress tracker: the seed's fields with the seed's meaning, folded from events."""

from __future__ import annotations

import json
from datetime import timedelta

import orjson
import pytest
from progress_testing import (
    OUT,
    SEED_FIELDS,
    STARTED,
    STARTED_AT,
    feed,
    new_tracker,
    slide_path,
    wall,
)

from nanobanana_async.engine.events import (
    RateLimitWait,
    RunFinished,
    SlideDone,
    SlideFailed,
    SlideRetrying,
    SlideReused,
    SlideStarted,
    Stopping,
)
from nanobanana_async.results import StopReport

# --- the tracker: pure state -------------------------------------------------------------


def test_scripted_run_gives_the_seed_fields() -> None:
    tracker = new_tracker(total=4)
    feed(
        tracker,
        SlideStarted(1, 1.0),
        SlideStarted(2, 1.0),
        SlideStarted(3, 1.0),
        SlideRetrying(3, "503 overloaded", 5.0),
        SlideDone(2, slide_path(2), 2048, 10.0),
        SlideFailed(1, "prompt blocked: SAFETY", "PromptBlocked", 11.0),
    )
    mid = tracker.snapshot(12.0)
    assert mid.current == 2  # a failure is finished too
    assert mid.status == "2/4 done (1 failed), retrying 3"
    assert mid.in_flight == ()
    assert mid.retries == 1

    feed(
        tracker,
        SlideStarted(3, 13.0),
        SlideReused(4, slide_path(4), 999, 13.0),
        SlideDone(3, slide_path(3), 4096, 20.0),
        RunFinished("done", 20.0),
    )
    final = tracker.snapshot(20.0).to_dict()

    assert final.keys() >= SEED_FIELDS
    assert final["current"] == final["total"] == 4
    assert final["completed"] == [
        str(slide_path(2)),
        str(slide_path(3)),
        str(slide_path(4)),
    ]  # slide order
    assert final["failed"] == [1]
    assert final["errors"] == {"1": "prompt blocked: SAFETY"}
    assert final["started_at"] == STARTED_AT
    assert final["updated_at"].endswith("Z")
    assert "+00:00" not in final["updated_at"]
    assert final["status"] == "done: 3 of 4 slides saved, 1 failed (1)"
    assert (final["state"], final["succeeded"], final["failed_count"], final["reused"]) == (
        "done",
        3,
        1,
        1,
    )
    assert final["in_flight"] == []
    assert final["eta_seconds"] is None
    assert (final["output_dir"], final["pid"]) == (str(OUT), 4242)


def test_status_while_generating_and_rate_limited() -> None:
    tracker = new_tracker(total=10)
    feed(tracker, *(SlideStarted(n, 0.5) for n in (6, 4, 5)))
    assert tracker.snapshot(1.0).status == "0/10 done, generating slides 4, 5, 6"
    feed(tracker, RateLimitWait(12.0, 2.0, True))
    snapshot = tracker.snapshot(2.5)
    assert snapshot.status == "0/10 done, generating slides 4, 5, 6; waiting on quota 12s"
    assert snapshot.rate_limit_waits == 1
    assert tracker.snapshot(20.0).status == "0/10 done, generating slides 4, 5, 6"


def test_a_storm_of_429s_is_one_wait() -> None:
    tracker = new_tracker(total=10)
    # Ten 429s answer the requests in flight; the first sets the shared pause (to 30 s),
    # the later ones arrive during it, one of them extending it a little.
    storm = [RateLimitWait(28.0 - 0.1 * n, 2.0 + 0.1 * n, n == 0) for n in range(9)]
    feed(tracker, *storm, RateLimitWait(29.0, 3.0, False))
    data = tracker.snapshot(3.0).to_dict()
    assert (data["rate_limit_waits"], data["rate_limited"]) == (1, 10)
    assert data["status"] == "0/10 done, waiting on quota 29s"
    # The pause is over; a new 429 starts a second wait.
    feed(tracker, RateLimitWait(5.0, 40.0, True))
    assert (tracker.rate_limit_waits, tracker.rate_limited) == (2, 11)


def test_waiting_until_is_set_during_the_pause_only() -> None:
    tracker = new_tracker(total=4, wall=lambda: STARTED + timedelta(seconds=2.5))
    assert tracker.snapshot(0.0).waiting_until is None
    feed(tracker, SlideStarted(1, 0.0), RateLimitWait(11.2, 2.0, True))  # ends at 13.2
    during = tracker.snapshot(2.5).to_dict()
    # The wall clock read at monotonic 2.5, plus the 10.7 s left, rounded up: never early.
    assert during["waiting_until"] == "2026-01-16T10:30:14Z"
    assert during["updated_at"] == "2026-01-16T10:30:02Z"
    assert tracker.snapshot(13.2).waiting_until is None
    assert tracker.snapshot(13.2).to_dict()["waiting_until"] is None  # JSON null
    feed(tracker, RateLimitWait(60.0, 14.0, True), RunFinished("cancelled", 15.0))
    assert tracker.snapshot(15.0).waiting_until is None  # a finished run waits for nothing


def test_eta_counts_the_pause_down_and_then_resumes_the_pace() -> None:
    tracker = new_tracker(total=10)
    feed(tracker, SlideStarted(1, 0.0), SlideStarted(2, 0.0))
    feed(tracker, SlideDone(1, slide_path(1), 1, 10.0), SlideDone(2, slide_path(2), 1, 20.0))
    feed(tracker, RateLimitWait(30.0, 20.0, True))  # paused from 20 to 50
    # 30 s of pause, then 8 slides at 10 s each; the pace holds still while paused.
    etas = [tracker.snapshot(now).eta_seconds for now in (20.0, 30.0, 49.5, 50.0)]
    assert etas == [110, 100, 81, 80]  # no jump when the pause ends
    assert tracker.snapshot(60.0).eta_seconds == 120  # a stall that is not a pause still counts
    # A slide that finishes during a later pause: its paused time is left out of the pace.
    feed(tracker, RateLimitWait(20.0, 60.0, True), SlideDone(3, slide_path(3), 1, 70.0))
    # 10 s of pause left, then 7 slides at (70 s - 40 s paused) / 3 finishes.
    assert tracker.snapshot(70.0).eta_seconds == 80


def test_status_lists_at_most_a_few_slides() -> None:
    tracker = new_tracker(total=64)
    feed(tracker, *(SlideStarted(n, 0.0) for n in range(1, 41)))
    assert tracker.snapshot(0.0).status == (
        "0/64 done, generating slides 1, 2, 3, 4, 5, 6 and 34 more"
    )
    assert tracker.snapshot(0.0).in_flight == tuple(range(1, 41))


def test_first_snapshot_is_starting() -> None:
    snapshot = new_tracker(total=3).snapshot(0.0)
    assert (snapshot.current, snapshot.state, snapshot.status) == (
        0,
        "running",
        "0/3 done, starting",
    )
    assert snapshot.completed == ()
    assert snapshot.failed == ()


def test_eta_follows_recent_pace_and_ignores_unsent_failures() -> None:
    tracker = new_tracker(total=10)
    assert tracker.snapshot(5.0).eta_seconds is None  # nothing finished yet: no guess
    feed(tracker, SlideStarted(1, 0.0), SlideStarted(2, 0.0))
    feed(tracker, SlideDone(1, slide_path(1), 1, 10.0), SlideDone(2, slide_path(2), 1, 20.0))
    assert tracker.snapshot(20.0).eta_seconds == 80  # 10 s a slide, 8 left
    assert tracker.snapshot(40.0).eta_seconds == 160  # a stall slows the pace
    # A fatal error fails the unsent slides at once: that is not a pace.
    feed(tracker, *(SlideFailed(n, "API key not valid", "InvalidApiKey", 20.0) for n in (3, 4)))
    assert tracker.snapshot(20.0).eta_seconds == 60
    feed(tracker, RunFinished("failed", 21.0))
    stopped = tracker.snapshot(21.0)
    assert stopped.eta_seconds is None
    assert stopped.status == "stopped: API key not valid; 2 of 10 saved"


def test_eta_uses_the_last_ten_finishes() -> None:
    tracker = new_tracker(total=30)
    # Ten slow slides (one a minute), then ten fast ones (one a second).
    for n in range(1, 11):
        feed(tracker, SlideStarted(n, 0.0), SlideDone(n, slide_path(n), 1, 60.0 * n))
    for n in range(11, 21):
        feed(tracker, SlideStarted(n, 600.0), SlideDone(n, slide_path(n), 1, 600.0 + (n - 10)))
    assert tracker.snapshot(610.0).eta_seconds == 10


def test_cancelled_status() -> None:
    tracker = new_tracker(total=5)
    feed(
        tracker,
        SlideStarted(1, 0.0),
        SlideDone(1, slide_path(1), 1, 1.0),
        RunFinished("cancelled", 2.0),
    )
    snapshot = tracker.snapshot(2.0)
    assert (snapshot.state, snapshot.status) == ("cancelled", "cancelled: 1 of 5 saved")
    assert snapshot.finished


def test_a_stop_is_shown_until_the_run_ends_then_what_became_of_the_wire() -> None:
    clock = [0.0]
    tracker = new_tracker(total=5, wall=wall(lambda: clock[0]))
    feed(
        tracker,
        SlideStarted(1, 1.0),
        SlideStarted(2, 1.0),
        SlideDone(1, slide_path(1), 2048, 10.0),
        RateLimitWait(60.0, 10.0, True),
        Stopping(until=130.0, at=10.0),
    )
    clock[0] = 10.5
    stopping = tracker.snapshot(10.5).to_dict()
    assert stopping["state"] == "stopping"
    assert stopping["status"] == "stopping: 1 in flight, finishing them; 1 of 5 saved"
    assert stopping["stopping_until"] == "2026-01-16T10:32:10Z"  # 120 s on, rounded up
    assert stopping["waiting_until"] is None  # nothing waits for the quota any more
    assert stopping["eta_seconds"] is None
    assert stopping["duration_seconds"] is None

    feed(
        tracker,
        SlideDone(2, slide_path(2), 2048, 20.0),
        RunFinished("cancelled", 20.6, StopReport(finished=1, cut=0)),
    )
    final = tracker.snapshot(20.6).to_dict()
    assert final["state"] == "cancelled"
    assert final["duration_seconds"] == 21 == tracker.duration(20.6)
    assert final["stop"] == {"finished": 1, "cut": 0}
    assert "stopping_until" not in final


def test_repeated_events_never_count_a_slide_twice() -> None:
    tracker = new_tracker(total=2)
    feed(
        tracker,
        SlideDone(1, slide_path(1), 1, 1.0),
        SlideDone(1, slide_path(1), 1, 1.0),
        SlideFailed(2, "x", "BadRequest", 2.0),
        SlideDone(2, slide_path(2), 1, 3.0),
    )
    snapshot = tracker.snapshot(3.0)
    assert (snapshot.current, snapshot.succeeded, snapshot.failed_count) == (2, 2, 0)
    assert snapshot.errors == {}


def test_to_dict_is_json_types_with_numeric_error_order() -> None:
    tracker = new_tracker(total=12)
    feed(tracker, *(SlideFailed(n, f"e{n}", "BadRequest", 1.0) for n in (10, 9, 2)))
    data = tracker.snapshot(1.0).to_dict()
    assert list(data["errors"]) == ["2", "9", "10"]
    assert json.loads(json.dumps(data)) == data
    assert orjson.loads(tracker.snapshot(1.0).to_json())["failed"] == [2, 9, 10]


def test_snapshot_shares_nothing_mutable() -> None:
    tracker = new_tracker(total=2)
    feed(tracker, SlideFailed(1, "x", "BadRequest", 1.0))
    snapshot = tracker.snapshot(1.0)
    with pytest.raises(TypeError):
        snapshot.errors[2] = "y"  # type: ignore[index]
    feed(tracker, SlideFailed(2, "y", "BadRequest", 1.0))
    assert dict(snapshot.errors) == {1: "x"}
