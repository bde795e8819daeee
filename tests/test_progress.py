"""The progress file: the seed's fields with the seed's meaning, coalesced, always valid JSON."""

from __future__ import annotations

import itertools
import json
import math
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest

from nanobanana_async.engine.events import (
    Event,
    RateLimitWait,
    RunFinished,
    SlideDone,
    SlideFailed,
    SlideRetrying,
    SlideReused,
    SlideStarted,
)
from nanobanana_async.engine.progress import Progress, ProgressTracker, ProgressWriter
from nanobanana_async.files.atomic import write_atomic

SEED_FIELDS = {"current", "total", "status", "completed", "failed", "started_at", "updated_at"}
OUT = Path("/decks/demo")
STARTED_AT = "2026-01-16T10:30:00Z"
STARTED = datetime(2026, 1, 16, 10, 30, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that moves only when told: never a real sleep.

    By default a sleep jumps the clock forward. ``driven=True`` makes the test the only
    mover: a sleep yields until the test has advanced the clock past its end, as real time
    passes while events keep arriving.
    """

    def __init__(self, *, driven: bool = False) -> None:
        self.now = 0.0
        self.driven = driven
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        end = self.now + seconds
        if not self.driven:
            self.now = end
        await anyio.lowlevel.checkpoint()
        while self.now < end:
            await anyio.lowlevel.checkpoint()


def _tracker(total: int = 4, wall: Callable[[], datetime] | None = None) -> ProgressTracker:
    return ProgressTracker(
        total=total,
        output_dir=OUT,
        started_at=STARTED_AT,
        started_mono=0.0,
        pid=4242,
        wall_clock=wall or (lambda: STARTED),
    )


def _wall(mono: Callable[[], float]) -> Callable[[], datetime]:
    """A wall clock that moves with the monotonic one: ``STARTED`` at monotonic 0."""
    return lambda: STARTED + timedelta(seconds=mono())


def _path(slide: int) -> Path:
    return OUT / f"slide-{slide:02d}.webp"


def _feed(tracker: ProgressTracker, *events: Event) -> None:
    for event in events:
        tracker.apply(event)


# --- the tracker: pure state -------------------------------------------------------------


def test_scripted_run_gives_the_seed_fields() -> None:
    tracker = _tracker(total=4)
    _feed(
        tracker,
        SlideStarted(1, 1.0),
        SlideStarted(2, 1.0),
        SlideStarted(3, 1.0),
        SlideRetrying(3, "503 overloaded", 5.0),
        SlideDone(2, _path(2), 2048, 10.0),
        SlideFailed(1, "prompt blocked: SAFETY", "PromptBlocked", 11.0),
    )
    mid = tracker.snapshot(12.0)
    assert mid.current == 2  # a failure is finished too
    assert mid.status == "2/4 done (1 failed), retrying 3"
    assert mid.in_flight == ()
    assert mid.retries == 1

    _feed(
        tracker,
        SlideStarted(3, 13.0),
        SlideReused(4, _path(4), 999, 13.0),
        SlideDone(3, _path(3), 4096, 20.0),
        RunFinished("done", 20.0),
    )
    final = tracker.snapshot(20.0).to_dict()

    assert final.keys() >= SEED_FIELDS
    assert final["current"] == final["total"] == 4
    assert final["completed"] == [str(_path(2)), str(_path(3)), str(_path(4))]  # slide order
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
    tracker = _tracker(total=10)
    _feed(tracker, *(SlideStarted(n, 0.5) for n in (6, 4, 5)))
    assert tracker.snapshot(1.0).status == "0/10 done, generating slides 4, 5, 6"
    _feed(tracker, RateLimitWait(12.0, 2.0, True))
    snapshot = tracker.snapshot(2.5)
    assert snapshot.status == "0/10 done, generating slides 4, 5, 6; waiting on quota 12s"
    assert snapshot.rate_limit_waits == 1
    assert tracker.snapshot(20.0).status == "0/10 done, generating slides 4, 5, 6"


def test_a_storm_of_429s_is_one_wait() -> None:
    tracker = _tracker(total=10)
    # Ten 429s answer the requests in flight; the first sets the shared pause (to 30 s),
    # the later ones arrive during it, one of them extending it a little.
    storm = [RateLimitWait(28.0 - 0.1 * n, 2.0 + 0.1 * n, n == 0) for n in range(9)]
    _feed(tracker, *storm, RateLimitWait(29.0, 3.0, False))
    data = tracker.snapshot(3.0).to_dict()
    assert (data["rate_limit_waits"], data["rate_limited"]) == (1, 10)
    assert data["status"] == "0/10 done, waiting on quota 29s"
    # The pause is over; a new 429 starts a second wait.
    _feed(tracker, RateLimitWait(5.0, 40.0, True))
    assert (tracker.rate_limit_waits, tracker.rate_limited) == (2, 11)


def test_waiting_until_is_set_during_the_pause_only() -> None:
    tracker = _tracker(total=4, wall=lambda: STARTED + timedelta(seconds=2.5))
    assert tracker.snapshot(0.0).waiting_until is None
    _feed(tracker, SlideStarted(1, 0.0), RateLimitWait(11.2, 2.0, True))  # ends at 13.2
    during = tracker.snapshot(2.5).to_dict()
    # The wall clock read at monotonic 2.5, plus the 10.7 s left, rounded up: never early.
    assert during["waiting_until"] == "2026-01-16T10:30:14Z"
    assert during["updated_at"] == "2026-01-16T10:30:02Z"
    assert tracker.snapshot(13.2).waiting_until is None
    assert tracker.snapshot(13.2).to_dict()["waiting_until"] is None  # JSON null
    _feed(tracker, RateLimitWait(60.0, 14.0, True), RunFinished("cancelled", 15.0))
    assert tracker.snapshot(15.0).waiting_until is None  # a finished run waits for nothing


def test_eta_counts_the_pause_down_and_then_resumes_the_pace() -> None:
    tracker = _tracker(total=10)
    _feed(tracker, SlideStarted(1, 0.0), SlideStarted(2, 0.0))
    _feed(tracker, SlideDone(1, _path(1), 1, 10.0), SlideDone(2, _path(2), 1, 20.0))
    _feed(tracker, RateLimitWait(30.0, 20.0, True))  # paused from 20 to 50
    # 30 s of pause, then 8 slides at 10 s each; the pace holds still while paused.
    etas = [tracker.snapshot(now).eta_seconds for now in (20.0, 30.0, 49.5, 50.0)]
    assert etas == [110, 100, 81, 80]  # no jump when the pause ends
    assert tracker.snapshot(60.0).eta_seconds == 120  # a stall that is not a pause still counts
    # A slide that finishes during a later pause: its paused time is left out of the pace.
    _feed(tracker, RateLimitWait(20.0, 60.0, True), SlideDone(3, _path(3), 1, 70.0))
    # 10 s of pause left, then 7 slides at (70 s - 40 s paused) / 3 finishes.
    assert tracker.snapshot(70.0).eta_seconds == 80


def test_status_lists_at_most_a_few_slides() -> None:
    tracker = _tracker(total=64)
    _feed(tracker, *(SlideStarted(n, 0.0) for n in range(1, 41)))
    assert tracker.snapshot(0.0).status == (
        "0/64 done, generating slides 1, 2, 3, 4, 5, 6 and 34 more"
    )
    assert tracker.snapshot(0.0).in_flight == tuple(range(1, 41))


def test_first_snapshot_is_starting() -> None:
    snapshot = _tracker(total=3).snapshot(0.0)
    assert (snapshot.current, snapshot.state, snapshot.status) == (
        0,
        "running",
        "0/3 done, starting",
    )
    assert snapshot.completed == ()
    assert snapshot.failed == ()


def test_eta_follows_recent_pace_and_ignores_unsent_failures() -> None:
    tracker = _tracker(total=10)
    assert tracker.snapshot(5.0).eta_seconds is None  # nothing finished yet: no guess
    _feed(tracker, SlideStarted(1, 0.0), SlideStarted(2, 0.0))
    _feed(tracker, SlideDone(1, _path(1), 1, 10.0), SlideDone(2, _path(2), 1, 20.0))
    assert tracker.snapshot(20.0).eta_seconds == 80  # 10 s a slide, 8 left
    assert tracker.snapshot(40.0).eta_seconds == 160  # a stall slows the pace
    # A fatal error fails the unsent slides at once: that is not a pace.
    _feed(tracker, *(SlideFailed(n, "API key not valid", "InvalidApiKey", 20.0) for n in (3, 4)))
    assert tracker.snapshot(20.0).eta_seconds == 60
    _feed(tracker, RunFinished("failed", 21.0))
    stopped = tracker.snapshot(21.0)
    assert stopped.eta_seconds is None
    assert stopped.status == "stopped: API key not valid; 2 of 10 saved"


def test_eta_uses_the_last_ten_finishes() -> None:
    tracker = _tracker(total=30)
    # Ten slow slides (one a minute), then ten fast ones (one a second).
    for n in range(1, 11):
        _feed(tracker, SlideStarted(n, 0.0), SlideDone(n, _path(n), 1, 60.0 * n))
    for n in range(11, 21):
        _feed(tracker, SlideStarted(n, 600.0), SlideDone(n, _path(n), 1, 600.0 + (n - 10)))
    assert tracker.snapshot(610.0).eta_seconds == 10


def test_cancelled_status() -> None:
    tracker = _tracker(total=5)
    _feed(
        tracker, SlideStarted(1, 0.0), SlideDone(1, _path(1), 1, 1.0), RunFinished("cancelled", 2.0)
    )
    snapshot = tracker.snapshot(2.0)
    assert (snapshot.state, snapshot.status) == ("cancelled", "cancelled: 1 of 5 saved")
    assert snapshot.finished


def test_repeated_events_never_count_a_slide_twice() -> None:
    tracker = _tracker(total=2)
    _feed(
        tracker,
        SlideDone(1, _path(1), 1, 1.0),
        SlideDone(1, _path(1), 1, 1.0),
        SlideFailed(2, "x", "BadRequest", 2.0),
        SlideDone(2, _path(2), 1, 3.0),
    )
    snapshot = tracker.snapshot(3.0)
    assert (snapshot.current, snapshot.succeeded, snapshot.failed_count) == (2, 2, 0)
    assert snapshot.errors == {}


def test_to_dict_is_json_types_with_numeric_error_order() -> None:
    tracker = _tracker(total=12)
    _feed(tracker, *(SlideFailed(n, f"e{n}", "BadRequest", 1.0) for n in (10, 9, 2)))
    data = tracker.snapshot(1.0).to_dict()
    assert list(data["errors"]) == ["2", "9", "10"]
    assert json.loads(json.dumps(data)) == data
    assert orjson.loads(tracker.snapshot(1.0).to_json())["failed"] == [2, 9, 10]


def test_snapshot_shares_nothing_mutable() -> None:
    tracker = _tracker(total=2)
    _feed(tracker, SlideFailed(1, "x", "BadRequest", 1.0))
    snapshot = tracker.snapshot(1.0)
    with pytest.raises(TypeError):
        snapshot.errors[2] = "y"  # type: ignore[index]
    _feed(tracker, SlideFailed(2, "y", "BadRequest", 1.0))
    assert dict(snapshot.errors) == {1: "x"}


# --- the writer: one task owns the file ---------------------------------------------------


def _writer(
    path: Path | None,
    fake: FakeTime,
    *,
    total: int = 4,
    callback: Callable[[Progress], Any] | None = None,
) -> ProgressWriter:
    return ProgressWriter(
        _tracker(total), path, callback=callback, clock=fake.clock, sleep=fake.sleep
    )


async def _run_with(writer: ProgressWriter, events: list[Event], step: float = 0.0) -> None:
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        async with send:
            for event in events:
                await send.send(event)
                await anyio.lowlevel.checkpoint()


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _script() -> list[Event]:
    return [
        SlideStarted(1, 0.0),
        SlideStarted(2, 0.0),
        SlideDone(2, _path(2), 10, 1.0),
        SlideFailed(1, "image refused: IMAGE_SAFETY", "ImageRefused", 1.0),
        SlideStarted(3, 1.0),
        SlideDone(3, _path(3), 10, 2.0),
        SlideReused(4, _path(4), 10, 2.0),
        RunFinished("done", 2.0),
    ]


async def test_initial_file_is_valid_and_private(tmp_path: Path) -> None:
    path = tmp_path / "nano-banana-progress.json"
    writer = _writer(path, FakeTime())
    writer.write_initial()
    data = _read(path)
    assert data.keys() >= SEED_FIELDS
    assert (data["current"], data["total"], data["state"]) == (0, 4, "running")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_file_ends_on_the_final_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    writer = _writer(path, FakeTime())
    writer.write_initial()
    await _run_with(writer, _script())
    data = _read(path)
    assert data["state"] == "done"
    assert data["current"] == data["total"] == 4
    assert data["completed"] == [str(_path(n)) for n in (2, 3, 4)]
    assert data["failed"] == [1]
    assert writer.last is not None
    assert writer.last.to_dict()["status"] == data["status"]
    assert writer.write_errors == 0
    assert _names(tmp_path) == ["progress.json"]


async def _burst(writer: ProgressWriter, fake: FakeTime) -> None:
    """99 slides finish 10 ms apart, then one fails and the run ends: about 1 s of events."""
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        async with send:
            for n in range(1, 100):
                fake.now += 0.01
                await send.send(SlideDone(n, _path(n), 1, fake.now))
                await anyio.lowlevel.checkpoint()
            await send.send(SlideFailed(100, "x", "BadRequest", fake.now))
            await send.send(RunFinished("done", fake.now))
        fake.now += 1.0  # time goes on after the last event


async def test_bursts_coalesce_into_one_write_per_interval() -> None:
    fake = FakeTime(driven=True)
    seen: list[tuple[float, Progress]] = []
    writer = ProgressWriter(
        _tracker(100),
        None,
        callback=lambda p: seen.append((fake.now, p)),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    await _burst(writer, fake)

    assert 4 <= len(seen) <= 6, len(seen)  # ~1 s of events at one write per 0.25 s
    assert fake.sleeps
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
    assert all(gap >= 0.25 - 1e-9 for gap in gaps[:-1])  # only the final write may be early
    final = seen[-1][1]
    assert (final.state, final.current, final.failed) == ("done", 100, (100,))


async def test_bursts_coalesce_file_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[bytes] = []

    def counting(path: Path, data: bytes, *, mode: int = 0o600) -> None:
        written.append(data)
        write_atomic(path, data, mode=mode)

    monkeypatch.setattr("nanobanana_async.engine.progress.write_atomic", counting)
    fake = FakeTime(driven=True)
    path = tmp_path / "progress.json"
    writer = ProgressWriter(_tracker(100), path, clock=fake.clock, sleep=fake.sleep)
    await _burst(writer, fake)

    # However the worker thread's timing interleaves: the first write, at most one per
    # 0.25 s of the 1 s of events, and the final one.
    assert 2 <= len(written) <= 6, len(written)
    final = orjson.loads(written[-1])
    assert (final["state"], final["current"], final["failed"]) == ("done", 100, [100])
    assert _read(path) == final
    assert writer.writes == len(written)


async def test_first_event_is_written_at_once(tmp_path: Path) -> None:
    fake = FakeTime()
    seen: list[Progress] = []
    writer = _writer(tmp_path / "p.json", fake, callback=seen.append)
    await _run_with(writer, [SlideStarted(1, 0.0)])
    assert fake.sleeps == []
    assert seen[0].in_flight == (1,)


async def test_callbacks_sync_and_async(tmp_path: Path) -> None:
    seen: list[Progress] = []

    async def async_callback(snapshot: Progress) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(snapshot)

    writer = _writer(tmp_path / "p.json", FakeTime(), callback=async_callback)
    writer.write_initial()
    await _run_with(writer, _script())
    assert (seen[0].current, seen[0].state) == (0, "running")  # the initial snapshot
    assert seen[-1].state == "done"
    assert len(seen) == writer.writes


async def test_no_file_still_calls_back(tmp_path: Path) -> None:
    seen: list[Progress] = []
    writer = _writer(None, FakeTime(), callback=seen.append)
    writer.write_initial()
    await _run_with(writer, _script())
    assert seen[-1].state == "done"
    assert _names(tmp_path) == []


async def test_write_failure_is_counted_not_raised(tmp_path: Path) -> None:
    seen: list[Progress] = []
    path = tmp_path / "gone" / "progress.json"  # the directory does not exist
    writer = _writer(path, FakeTime(), callback=seen.append)
    writer.write_initial()
    await _run_with(writer, _script())
    assert writer.write_errors == writer.writes >= 2
    assert writer.first_write_error is not None
    assert writer.first_write_error.startswith(f"cannot write progress file {path}: ")
    assert "\n" not in writer.first_write_error
    assert writer.last_write_error is not None
    assert seen[-1].state == "done"


async def test_file_is_valid_json_whenever_read(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    writer = ProgressWriter(_tracker(200), path, min_interval=0.0)
    writer.write_initial()
    stop = threading.Event()
    reads: list[int] = []

    def poll() -> None:
        while not stop.is_set():
            data = json.loads(path.read_bytes())  # raises on a torn file
            assert data.keys() >= SEED_FIELDS
            reads.append(data["current"])

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        events: list[Event] = [SlideDone(n, _path(n), 1, 0.0) for n in range(1, 201)]
        await _run_with(writer, [*events, RunFinished("done", 0.0)])
    finally:
        stop.set()
        reader.join()
    assert reads
    assert reads == sorted(reads)  # always whole, never going back
    assert _read(path)["current"] == 200


async def test_cancelled_writer_still_writes_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    blocked = anyio.Event()

    async def stuck_sleep(seconds: float) -> None:
        blocked.set()
        await anyio.Event().wait()  # until cancelled

    writer = ProgressWriter(_tracker(1), path, clock=lambda: 0.0, sleep=stuck_sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    async with send, anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        await send.send(SlideStarted(1, 0.0))
        await anyio.lowlevel.checkpoint()
        await send.send(SlideDone(1, _path(1), 1, 0.0))  # inside the interval: sleeps
        await blocked.wait()
        await send.send(RunFinished("done", 0.0))
        tg.cancel_scope.cancel()
    data = _read(path)
    assert (data["state"], data["current"]) == ("done", 1)


async def test_callback_error_propagates_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def broken(snapshot: Progress) -> None:
        calls.append(snapshot.current)
        raise RuntimeError("bad callback")

    writer = _writer(tmp_path / "p.json", FakeTime(), callback=broken)
    with pytest.raises(ExceptionGroup) as caught:
        await _run_with(writer, _script())
    assert caught.group_contains(RuntimeError, match="bad callback")
    assert len(calls) == 1


async def test_writer_refreshes_during_a_pause_and_clears_it_when_over() -> None:
    fake = FakeTime()  # the writer's sleeps move the clock: no event comes during the pause
    fake.now = 10.0
    seen: list[tuple[float, Progress]] = []
    over = anyio.Event()

    def callback(snapshot: Progress) -> None:
        seen.append((fake.now, snapshot))
        if snapshot.rate_limited and snapshot.waiting_until is None:
            over.set()

    tracker = _tracker(total=10, wall=_wall(fake.clock))
    writer = ProgressWriter(tracker, None, callback=callback, clock=fake.clock, sleep=fake.sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    with anyio.fail_after(10):  # a guard, not a measurement
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run, receive)
            async with send:
                await send.send(SlideStarted(1, 0.0))
                await send.send(SlideDone(1, _path(1), 1, 10.0))
                await send.send(RateLimitWait(3.5, 10.0, True))  # paused until 13.5
                await over.wait()

    paused = [(at, s) for at, s in seen if s.waiting_until is not None]
    assert {s.waiting_until for _, s in paused} == {"2026-01-16T10:30:14Z"}
    assert len(paused) >= 3  # refreshed during 3.5 s without an event
    times = [at for at, _ in paused]
    assert all(0.25 - 1e-9 <= b - a <= 1.0 + 1e-9 for a, b in itertools.pairwise(times))
    etas = [s.eta_seconds or 0 for _, s in paused]
    assert all(a > b for a, b in itertools.pairwise(etas))  # counting down, one a refresh
    assert etas[-1] > 90
    after = next(s for at, s in seen if at >= 13.5)
    assert after.waiting_until is None  # written when the pause ended, not at the next event
    assert after.eta_seconds == 90  # 9 slides at 10 s each
    assert "waiting on quota" not in after.status
    assert seen[-1][1].waiting_until is None


# --- finish(): the end of a run is not held up by the coalescing interval ------------------


class StuckSleep:
    """A sleep that records its calls and never ends by itself: only a cancel ends it."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.entered = anyio.Event()

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.entered.set()
        await anyio.Event().wait()


async def test_finish_ends_a_pending_interval_wait(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    sleep = StuckSleep()
    writer = ProgressWriter(_tracker(1), path, clock=lambda: 0.0, sleep=sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    # A guard, not a measurement: without finish() the writer would wait for ever.
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run, receive)
            await send.send(SlideStarted(1, 0.0))  # written at once
            await anyio.lowlevel.checkpoint()
            await send.send(SlideDone(1, _path(1), 1, 0.0))  # inside the interval: waits
            await sleep.entered.wait()
            await send.send(RunFinished("done", 0.0))
            await send.aclose()
            writer.finish()  # as the engine does, after closing the stream
    assert sleep.calls == [0.25]
    data = _read(path)
    assert (data["state"], data["current"], data["completed"]) == ("done", 1, [str(_path(1))])
    assert writer.last is not None
    assert writer.last.state == "done"


async def test_without_finish_the_interval_is_waited_out(tmp_path: Path) -> None:
    sleep = StuckSleep()
    writer = ProgressWriter(_tracker(1), tmp_path / "p.json", clock=lambda: 0.0, sleep=sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        await send.send(SlideStarted(1, 0.0))
        await anyio.lowlevel.checkpoint()
        await send.send(SlideDone(1, _path(1), 1, 0.0))
        await sleep.entered.wait()
        await send.send(RunFinished("done", 0.0))
        await send.aclose()
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        running = writer.last is not None and writer.last.state == "running"
        tg.cancel_scope.cancel()
    assert running  # still asleep: the final snapshot waited for the interval
    assert sleep.calls == [0.25]


def test_finish_before_run_and_outside_a_loop_means_no_sleeps() -> None:
    # No file: a write in a worker thread would let the whole script queue up meanwhile,
    # and a closed stream is never waited for, with or without finish().
    control = FakeTime()
    anyio.run(_run_with, _writer(None, control), _script())
    assert control.sleeps  # the same script coalesces without finish()

    fake = FakeTime()
    seen: list[Progress] = []
    writer = _writer(None, fake, callback=seen.append)
    writer.finish()  # no event loop is running here
    writer.finish()  # and twice is harmless
    assert "finishing" in repr(writer)
    anyio.run(_run_with, writer, _script())
    assert fake.sleeps == []
    assert seen[-1].state == "done"
    assert seen[-1].current == 4
