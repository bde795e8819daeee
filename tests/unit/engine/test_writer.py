"""The progress writer: one task owns the file, coalesced, always valid JSON, never late."""

from __future__ import annotations

import itertools
import json
import math
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest
from progress_testing import (
    SEED_FIELDS,
    FakeTime,
    new_tracker,
    slide_path,
    wall,
)

from nanobanana_async.engine.events import (
    Event,
    RateLimitWait,
    RunFinished,
    SlideDone,
    SlideFailed,
    SlideReused,
    SlideStarted,
)
from nanobanana_async.engine.progress import Progress
from nanobanana_async.engine.writer import ProgressWriter
from nanobanana_async.files.atomic import write_atomic

# --- the writer: one task owns the file ---------------------------------------------------


def _writer(
    path: Path | None,
    fake: FakeTime,
    *,
    total: int = 4,
    callback: Callable[[Progress], Any] | None = None,
) -> ProgressWriter:
    return ProgressWriter(
        new_tracker(total), path, callback=callback, clock=fake.clock, sleep=fake.sleep
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
        SlideDone(2, slide_path(2), 10, 1.0),
        SlideFailed(1, "image refused: IMAGE_SAFETY", "ImageRefused", 1.0),
        SlideStarted(3, 1.0),
        SlideDone(3, slide_path(3), 10, 2.0),
        SlideReused(4, slide_path(4), 10, 2.0),
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
    assert data["completed"] == [str(slide_path(n)) for n in (2, 3, 4)]
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
                await send.send(SlideDone(n, slide_path(n), 1, fake.now))
                await anyio.lowlevel.checkpoint()
            await send.send(SlideFailed(100, "x", "BadRequest", fake.now))
            await send.send(RunFinished("done", fake.now))
        fake.now += 1.0  # time goes on after the last event


async def test_bursts_coalesce_into_one_write_per_interval() -> None:
    fake = FakeTime(driven=True)
    seen: list[tuple[float, Progress]] = []
    writer = ProgressWriter(
        new_tracker(100),
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

    monkeypatch.setattr("nanobanana_async.engine.writer.write_atomic", counting)
    fake = FakeTime(driven=True)
    path = tmp_path / "progress.json"
    writer = ProgressWriter(new_tracker(100), path, clock=fake.clock, sleep=fake.sleep)
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
    writer = ProgressWriter(new_tracker(200), path, min_interval=0.0)
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
        events: list[Event] = [SlideDone(n, slide_path(n), 1, 0.0) for n in range(1, 201)]
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

    writer = ProgressWriter(new_tracker(1), path, clock=lambda: 0.0, sleep=stuck_sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    async with send, anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        await send.send(SlideStarted(1, 0.0))
        await anyio.lowlevel.checkpoint()
        await send.send(SlideDone(1, slide_path(1), 1, 0.0))  # inside the interval: sleeps
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

    tracker = new_tracker(total=10, wall=wall(fake.clock))
    writer = ProgressWriter(tracker, None, callback=callback, clock=fake.clock, sleep=fake.sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    with anyio.fail_after(10):  # a guard, not a measurement
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run, receive)
            async with send:
                await send.send(SlideStarted(1, 0.0))
                await send.send(SlideDone(1, slide_path(1), 1, 10.0))
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
    writer = ProgressWriter(new_tracker(1), path, clock=lambda: 0.0, sleep=sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    # A guard, not a measurement: without finish() the writer would wait for ever.
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run, receive)
            await send.send(SlideStarted(1, 0.0))  # written at once
            await anyio.lowlevel.checkpoint()
            await send.send(SlideDone(1, slide_path(1), 1, 0.0))  # inside the interval: waits
            await sleep.entered.wait()
            await send.send(RunFinished("done", 0.0))
            await send.aclose()
            writer.finish()  # as the engine does, after closing the stream
    assert sleep.calls == [0.25]
    data = _read(path)
    assert (data["state"], data["current"], data["completed"]) == ("done", 1, [str(slide_path(1))])
    assert writer.last is not None
    assert writer.last.state == "done"


async def test_without_finish_the_interval_is_waited_out(tmp_path: Path) -> None:
    sleep = StuckSleep()
    writer = ProgressWriter(new_tracker(1), tmp_path / "p.json", clock=lambda: 0.0, sleep=sleep)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run, receive)
        await send.send(SlideStarted(1, 0.0))
        await anyio.lowlevel.checkpoint()
        await send.send(SlideDone(1, slide_path(1), 1, 0.0))
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
