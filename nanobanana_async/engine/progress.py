"""Who writes the progress file: events in, a coalesced stream of JSON snapshots out.

Three pieces, so each can be tested alone:

* :class:`Progress`, a frozen snapshot with every field of the seed design's "Output:
  Progress JSON" (same names, same meaning) plus ours;
* :class:`ProgressTracker`, pure state: it folds :mod:`~nanobanana_async.engine.events` into counts
  and makes snapshots, with no I/O and no clock but the wall clock of ``updated_at`` (and
  ``waiting_until``, taken from the same reading);
* :class:`ProgressWriter`, the one task that owns the file. Workers never touch it: they
  send events into a memory stream and go on, so a slow disk never holds up a request.

Two counts of the quota's refusals: ``rate_limited`` is every 429 answer, and
``rate_limit_waits`` the waits they caused (events with ``new_wait``, as the pacer counts
them, so the progress file and the results file agree): ten 429s that set one shared pause
are 10 and 1. While a pause runs, ``waiting_until`` says until when, in wall-clock time, so
a poller in another process can tell how long is left, or that the wait is over.

The writer coalesces: when events come faster than ``min_interval`` it sleeps out the rest
of the interval, then drains everything queued and writes once. The first event is written
at once (a poller sees the run start), and the state after the stream closes is always
written, so the file ends on the final snapshot.

A pause on the quota can last minutes without a single event, yet the wait and the ETA
count down meanwhile. So while one runs the writer does not block on the stream: it wakes
every ``_PAUSE_REFRESH`` seconds and at the pause's end, applies what came and writes (the
terminal bar is redrawn from these snapshots too), and the file stops claiming the wait as
soon as it is over.

The engine calls :meth:`ProgressWriter.finish` once it has sent ``RunFinished`` and closed
the stream. Without it the writer, usually asleep after the last slide's event, would see
the end only when its interval ran out, and since the run waits for the writer, every run
ended up to ``min_interval`` late (282 ms instead of 150 ms on a 4-slide deck, up to 8% of a
3 s benchmark run). ``finish`` ends a pending wait at once and stops all later ones.

Writes go through :func:`~nanobanana_async.files.atomic.write_atomic` in a worker thread, with
mode 0600 (the file names slides and paths that may be private). Failing to write (full
disk, a vanished directory) is counted, not raised: losing the progress display is no
reason to lose the run.

Create the event stream with an unbounded buffer
(``anyio.create_memory_object_stream[Event](math.inf)``) so that a worker's ``send`` never
waits for the writer's sleep or disk.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import anyio
import anyio.abc
import anyio.to_thread
import orjson

from ..files.atomic import write_atomic
from ..results import utc_iso
from . import events

__all__ = ["Progress", "ProgressCallback", "ProgressState", "ProgressTracker", "ProgressWriter"]

ProgressState = Literal["running", "done", "failed", "cancelled"]
ProgressCallback = Callable[["Progress"], Awaitable[None] | None]

# The ETA uses the pace of the last few finished slides: recent enough to follow a rate
# limit that tightens or relaxes, long enough to smooth the bursts concurrency produces.
_ETA_WINDOW = 10
# Past this many slide numbers the status line says "and N more" (concurrency can be 64).
_STATUS_MAX_SLIDES = 6
# While a pause runs, seconds between two snapshots: the countdown's resolution.
_PAUSE_REFRESH = 1.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Progress:
    """One snapshot of a run, as written to the progress file.

    The first seven fields are the seed's, with its meaning; the rest are extras.

    Attributes:
        current: finished slides, succeeded or failed, so ``current == total`` means done.
        total: slides in the config.
        status: one human line: ``"3/10 done, generating slides 4, 5, 6"``, or the summary.
        completed: paths of the saved images, in slide order.
        failed: numbers of the failed slides, in order.
        started_at: when the run started, UTC ISO 8601.
        updated_at: when this snapshot was taken, UTC ISO 8601.
        state: ``running``, then ``done``, ``failed`` (stopped by an error retrying cannot
            fix) or ``cancelled``.
        in_flight: slides with a request under way, in order.
        succeeded: slides with an image (``len(completed)``), reused ones included.
        failed_count: ``len(failed)``; ``succeeded + failed_count == current``.
        reused: slides a resumed run found already on disk (a subset of ``succeeded``).
        retries: attempts after the first, over all slides.
        rate_limit_waits: waits on the quota: pauses of every worker, each started by a 429
            (more 429s during a pause, or extending it, are the same wait).
        rate_limited: 429 answers, however many waits they caused.
        waiting_until: while every worker is paused on the quota, when the pause ends, UTC
            ISO 8601 rounded up to the second (no request goes out before); ``None`` when
            not waiting. Compare it with the wall clock: the file may be older than the wait.
        eta_seconds: estimated seconds to the end: what remains of a pause plus the
            remaining slides at the recent pace, or ``None`` before the first slide
            finishes and once the run is over.
        output_dir: where the images go.
        pid: the process writing the file (to wait for it, or stop it).
        errors: slide number -> short reason, for failed slides only.
    """

    current: int
    total: int
    status: str
    completed: tuple[str, ...]
    failed: tuple[int, ...]
    started_at: str
    updated_at: str
    state: ProgressState
    in_flight: tuple[int, ...]
    succeeded: int
    failed_count: int
    reused: int
    retries: int
    rate_limit_waits: int
    rate_limited: int
    waiting_until: str | None
    eta_seconds: int | None
    output_dir: Path
    pid: int
    errors: Mapping[int, str] = field(default_factory=dict, hash=False)

    @property
    def finished(self) -> bool:
        """Whether the run is over (any final state)."""
        return self.state != "running"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, with the seed's field names first and JSON types only."""
        return {
            "current": self.current,
            "total": self.total,
            "status": self.status,
            "completed": list(self.completed),
            "failed": list(self.failed),
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "state": self.state,
            "in_flight": list(self.in_flight),
            "succeeded": self.succeeded,
            "failed_count": self.failed_count,
            "reused": self.reused,
            "retries": self.retries,
            "rate_limit_waits": self.rate_limit_waits,
            "rate_limited": self.rate_limited,
            "waiting_until": self.waiting_until,
            "eta_seconds": self.eta_seconds,
            "output_dir": str(self.output_dir),
            "pid": self.pid,
            # JSON keys are strings; sorted numerically, not as text ("10" after "9").
            "errors": {str(slide): self.errors[slide] for slide in sorted(self.errors)},
        }

    def to_json(self) -> bytes:
        """The file's content: compact JSON and a final newline (``cat`` and ``jq`` friendly)."""
        return orjson.dumps(self.to_dict()) + b"\n"


class ProgressTracker:
    """Folds engine events into the state a snapshot shows. Pure: no I/O, no clock reads.

    Event times (``at``) and ``now_mono`` must come from the same monotonic clock, the
    engine's injectable one. Only the snapshot reads the wall clock, once: ``updated_at`` is
    that reading, and ``waiting_until`` is that reading plus what remains of the pause on
    the monotonic clock, the one mapping between the two clocks that needs no drift model.

    Args:
        total: slides in the config.
        output_dir: where the images go.
        started_at: the run's start, UTC ISO 8601.
        started_mono: the run's start on the monotonic clock (the ETA's origin).
        pid: the process running the batch.
        wall_clock: the current UTC time, aware (injectable for tests).
    """

    __slots__ = (
        "_completed",
        "_errors",
        "_finish_times",
        "_in_flight",
        "_last_error",
        "_pauses",
        "_retrying",
        "_reused",
        "_started_at",
        "_started_mono",
        "_state",
        "_wall_clock",
        "output_dir",
        "pid",
        "rate_limit_waits",
        "rate_limited",
        "retries",
        "total",
    )

    def __init__(
        self,
        *,
        total: int,
        output_dir: Path,
        started_at: str,
        started_mono: float,
        pid: int,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.total = total
        self.output_dir = output_dir
        self.pid = pid
        self.retries = 0
        self.rate_limit_waits = 0
        self.rate_limited = 0
        self._wall_clock = wall_clock
        self._started_at = started_at
        self._started_mono = started_mono
        self._state: ProgressState = "running"
        self._completed: dict[int, str] = {}
        self._reused: set[int] = set()
        self._errors: dict[int, str] = {}
        self._in_flight: set[int] = set()
        self._retrying: set[int] = set()
        # Slides that were sent at least once, so only work done counts towards the pace
        # (unsent slides failed all at once by a fatal error or reused ones do not).
        self._finish_times: list[float] = []
        # The pauses as (start, end) on the monotonic clock, overlapping ones merged, in
        # time order: the ETA leaves this time out of the pace.
        self._pauses: list[tuple[float, float]] = []
        self._last_error = ""

    def __repr__(self) -> str:
        return (
            f"<ProgressTracker {self._state} {len(self._completed) + len(self._errors)}"
            f"/{self.total} in_flight={sorted(self._in_flight)}>"
        )

    @property
    def current(self) -> int:
        """Finished slides, succeeded or failed."""
        return len(self._completed) + len(self._errors)

    @property
    def paused_until(self) -> float:
        """When the latest pause ends on the monotonic clock (``-inf`` before any, or once
        the run is over: a finished run waits for nothing)."""
        if self._state != "running" or not self._pauses:
            return -math.inf
        return self._pauses[-1][1]

    def apply(self, event: events.Event) -> None:
        """Update the state with one event. Repeated or late events are harmless."""
        match event:
            case events.SlideStarted(slide=slide):
                self._retrying.discard(slide)
                self._in_flight.add(slide)
            case events.SlideRetrying(slide=slide):
                self.retries += 1
                self._in_flight.discard(slide)
                self._retrying.add(slide)
            case events.RateLimitWait(seconds=seconds, at=at, new_wait=new_wait, answered=answered):
                self.rate_limited += answered
                self.rate_limit_waits += new_wait
                self._pause(at, at + seconds)
            case events.SlideDone(slide=slide, path=path, at=at):
                self._finish(slide, at, worked=True)
                self._completed[slide] = str(path)
            case events.SlideReused(slide=slide, path=path):
                self._finish(slide, 0.0, worked=False)
                self._completed[slide] = str(path)
                self._reused.add(slide)
            case events.SlideFailed(slide=slide, error=error, at=at):
                self._finish(slide, at, worked=slide in self._in_flight or slide in self._retrying)
                self._errors[slide] = error
                self._last_error = error
            case events.RunFinished(state=state):
                self._state = state
                self._in_flight.clear()
                self._retrying.clear()

    def snapshot(self, now_mono: float) -> Progress:
        """The state now, as a frozen :class:`Progress` that shares nothing mutable."""
        current = self.current
        in_flight = tuple(sorted(self._in_flight))
        wall = self._wall_clock()
        pause_left = self.paused_until - now_mono
        waiting_until = _ceil_iso(wall + timedelta(seconds=pause_left)) if pause_left > 0 else None
        return Progress(
            current=current,
            total=self.total,
            status=self._status(now_mono, in_flight),
            completed=tuple(self._completed[s] for s in sorted(self._completed)),
            failed=tuple(sorted(self._errors)),
            started_at=self._started_at,
            updated_at=utc_iso(wall),
            state=self._state,
            in_flight=in_flight,
            succeeded=len(self._completed),
            failed_count=len(self._errors),
            reused=len(self._reused),
            retries=self.retries,
            rate_limit_waits=self.rate_limit_waits,
            rate_limited=self.rate_limited,
            waiting_until=waiting_until,
            eta_seconds=self._eta(now_mono, current),
            output_dir=self.output_dir,
            pid=self.pid,
            errors=MappingProxyType(dict(self._errors)),
        )

    def _finish(self, slide: int, at: float, *, worked: bool) -> None:
        # Last word wins, so a slide is never counted twice in ``current``.
        self._in_flight.discard(slide)
        self._retrying.discard(slide)
        self._completed.pop(slide, None)
        self._reused.discard(slide)
        self._errors.pop(slide, None)
        if worked:
            self._finish_times.append(at)

    def _pause(self, start: float, end: float) -> None:
        if end <= start:
            return
        if self._pauses and start <= self._pauses[-1][1]:
            first, last = self._pauses[-1]
            self._pauses[-1] = (min(first, start), max(last, end))
        else:
            self._pauses.append((start, end))

    def _paused_between(self, start: float, end: float) -> float:
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self._pauses)

    def _eta(self, now: float, current: int) -> int | None:
        """What remains of the pause, plus the remaining slides at the recent working pace.

        ``eta = pause_left + remaining * (elapsed - paused) / n``, where ``n`` is the last
        ``_ETA_WINDOW`` finishes and ``elapsed`` runs from the finish before them (or the
        run's start) to ``now``; ``paused`` is the time in it that every worker was paused.

        Measured up to ``now`` rather than the last finish, so a stall of slow answers
        lengthens the estimate instead of freezing it. A pause is counted once, as what
        remains of it, not also in the pace: during a pause the pace holds still and the
        estimate counts down second for second, with no jump when the pause ends. Pauses
        still to come are not foreseen: under a tight quota the estimate is low by them.
        """
        remaining = self.total - current
        if self._state != "running" or not self._finish_times:
            return None
        if remaining <= 0:
            return 0
        window = self._finish_times[-_ETA_WINDOW:]
        before = len(self._finish_times) - len(window)
        origin = self._finish_times[before - 1] if before else self._started_mono
        end = max(now, window[-1])
        working = end - origin - self._paused_between(origin, end)
        if working <= 0:
            return None
        pause_left = max(0.0, self.paused_until - now)
        return math.ceil(pause_left + remaining * working / len(window))

    def _status(self, now: float, in_flight: tuple[int, ...]) -> str:
        done, failed, total = self.current, len(self._errors), self.total
        saved = len(self._completed)
        if self._state == "done":
            line = f"done: {saved} of {total} slides saved"
            return f"{line}, {failed} failed ({_slides(sorted(self._errors))})" if failed else line
        if self._state == "failed":
            return f"stopped: {self._last_error or 'unrecoverable error'}; {saved} of {total} saved"
        if self._state == "cancelled":
            return f"cancelled: {saved} of {total} saved"
        head = f"{done}/{total} done" + (f" ({failed} failed)" if failed else "")
        parts = []
        if in_flight:
            noun = "slides" if len(in_flight) > 1 else "slide"
            parts.append(f"generating {noun} {_slides(in_flight)}")
        if self._retrying:
            parts.append(f"retrying {_slides(sorted(self._retrying))}")
        if now < self.paused_until:
            parts.append(f"waiting on quota {math.ceil(self.paused_until - now)}s")
        if not parts:
            parts.append("starting" if done == 0 else "waiting")
        return f"{head}, {'; '.join(parts)}"


def _ceil_iso(moment: datetime) -> str:
    """:func:`utc_iso` rounded up: a poller is never told a pause ended before it did."""
    whole = moment.replace(microsecond=0)
    return utc_iso(whole + timedelta(seconds=1) if whole < moment else whole)


def _slides(slides: Iterable[int]) -> str:
    numbers = list(slides)
    shown = ", ".join(str(n) for n in numbers[:_STATUS_MAX_SLIDES])
    more = len(numbers) - _STATUS_MAX_SLIDES
    return f"{shown} and {more} more" if more > 0 else shown


class ProgressWriter:
    """The one task that writes the progress file (and feeds the progress callback).

    Args:
        tracker: the state to fold events into; the writer is its only user during a run.
        path: the progress file, or ``None`` to write no file (library use: the callback
            still gets every snapshot).
        callback: called on the event loop with each snapshot written, sync or async. An
            exception it raises propagates and ends the run: it is the caller's code.
        min_interval: seconds between two writes at most once; bursts in between coalesce.
        clock: the monotonic clock the events' ``at`` come from (injectable for tests).
        sleep: how to wait out the interval and, during a pause, the time to the next
            refresh (injectable: tests never sleep for real). It is cancelled when
            :meth:`finish` cuts the wait short.

    Attributes:
        writes: snapshots emitted (written, or attempted when the disk refused).
        write_errors: failed file writes.
        first_write_error: the first failure, one line (usually the most telling).
        last_write_error: the latest failure, one line.
        last: the latest snapshot emitted.
    """

    __slots__ = (
        "_callback",
        "_clock",
        "_finish_event",
        "_finishing",
        "_min_interval",
        "_path",
        "_sleep",
        "_tracker",
        "_unreported",
        "first_write_error",
        "last",
        "last_write_error",
        "write_errors",
        "writes",
    )

    def __init__(
        self,
        tracker: ProgressTracker,
        path: Path | None,
        *,
        callback: ProgressCallback | None = None,
        min_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._tracker = tracker
        self._path = path
        self._callback = callback
        self._min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._unreported: Progress | None = None
        # The flag is what counts; the event only wakes a wait under way. It is made in
        # run(), since finish() may come first, even before any event loop exists.
        self._finishing = False
        self._finish_event: anyio.Event | None = None
        self.writes = 0
        self.write_errors = 0
        self.first_write_error: str | None = None
        self.last_write_error: str | None = None
        self.last: Progress | None = None

    def __repr__(self) -> str:
        finishing = " finishing" if self._finishing else ""
        return (
            f"<ProgressWriter {self._path}{finishing} writes={self.writes}"
            f" errors={self.write_errors}>"
        )

    def write_initial(self) -> None:
        """Write the first snapshot (running, nothing done) before any request is sent.

        Synchronous, so the caller can do it before starting the event loop's work: a
        poller that reads right after launch then finds a valid file, never a missing one
        or the previous run's final state. A failure is counted like any other (check
        ``write_errors`` to refuse the run instead). The callback gets this snapshot when
        :meth:`run` starts, since it may be async.
        """
        snapshot = self._tracker.snapshot(self._clock())
        self._record(snapshot)
        if self._path is not None:
            try:
                write_atomic(self._path, snapshot.to_json(), mode=0o600)
            except OSError as exc:
                self._failed(exc)
        self._unreported = snapshot

    def finish(self) -> None:
        """Stop coalescing: the run is ending, so its last snapshots are written at once.

        Call it on the event loop's thread right after sending the last event and closing
        the stream: a wait for the interval under way ends now instead of holding the run
        up for the rest of ``min_interval``, and no later event waits at all. Idempotent,
        and safe before :meth:`run` starts or with no event loop running.
        """
        self._finishing = True
        if self._finish_event is not None:
            self._finish_event.set()

    async def run(self, receive: anyio.abc.ObjectReceiveStream[events.Event]) -> None:
        """Apply events until ``receive`` is closed by every sender, writing as they come.

        If the task is cancelled, the events already queued are applied and the latest state
        is still written (shielded) before the cancellation goes on, so the file does not lag
        behind what happened. Events sent after that are lost, so an engine that wants the
        file to end on its ``RunFinished`` should let this task end by closing the stream
        (run it shielded) rather than cancel it, then call :meth:`finish` so that the end
        is not held up by a wait for the interval.

        While the workers are paused on the quota, the writer polls instead of waiting for
        an event: it writes every ``_PAUSE_REFRESH`` seconds (never more often than
        ``min_interval``) and once the pause is over, so the countdown and the ETA move and
        ``waiting_until`` is cleared without an event to trigger it.
        """
        last_write = -math.inf
        dirty = False
        self._finish_event = anyio.Event()
        if self._finishing:
            self._finish_event.set()
        async with receive:
            if self._unreported is not None:
                await self._notify(self._unreported)
                self._unreported = None
            try:
                while True:
                    pause_left = self._pause_left()
                    if pause_left > 0:
                        # No event may come for the whole pause, yet its countdown runs:
                        # wake to refresh, since a receive cannot be raced (_wait_out).
                        refresh = min(pause_left, _PAUSE_REFRESH)
                        await self._wait_out(
                            max(refresh, last_write + self._min_interval - self._clock())
                        )
                        _, closed = self._drain(receive)
                    else:
                        try:
                            event = await receive.receive()
                        except anyio.EndOfStream:
                            break
                        self._tracker.apply(event)
                        dirty = True
                        _, closed = self._drain(receive)
                        wait = last_write + self._min_interval - self._clock()
                        if wait > 0 and not closed and not self._finishing:
                            await self._wait_out(wait)
                            _, closed = self._drain(receive)
                    dirty = False  # before the write: a failing callback must not rerun
                    await self._emit()
                    last_write = self._clock()
                    if closed:
                        break
            except BaseException:
                # Cancelled (or the callback failed): fold in what is already queued (often
                # the engine's RunFinished) and write it, file only: a user callback could
                # block for ever under a shield.
                applied, _ = self._drain(receive)
                if dirty or applied:
                    with anyio.CancelScope(shield=True):
                        await self._emit(notify=False)
                raise
        if dirty or self.writes == 0:
            await self._emit()

    def _pause_left(self) -> float:
        """Seconds until the workers resume, or 0 when not paused (or when finishing)."""
        if self._finishing:
            return 0.0
        return max(0.0, self._tracker.paused_until - self._clock())

    async def _wait_out(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if :meth:`finish` is called meanwhile.

        The injected sleep races the finish event and the loser is cancelled, so tests can
        still drive the interval. The receive is never part of a race: anyio's memory
        stream can lose an item whose receive is cancelled after the item was handed over.
        """
        finishing = self._finish_event
        assert finishing is not None, "made by run()"
        async with anyio.create_task_group() as race:

            async def cut_short() -> None:
                await finishing.wait()
                race.cancel_scope.cancel()

            race.start_soon(cut_short)
            await self._sleep(seconds)
            race.cancel_scope.cancel()

    def _drain(self, receive: anyio.abc.ObjectReceiveStream[events.Event]) -> tuple[int, bool]:
        """Apply every event already queued; return how many, and whether the stream ended.

        Only memory streams can be read without waiting; any other stream is simply read
        one event per write, still at most one write per interval.
        """
        receive_nowait = getattr(receive, "receive_nowait", None)
        applied = 0
        if receive_nowait is None:
            return applied, False
        while True:
            try:
                event = receive_nowait()
            except anyio.WouldBlock:
                return applied, False
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return applied, True
            self._tracker.apply(event)
            applied += 1

    async def _emit(self, *, notify: bool = True) -> None:
        snapshot = self._tracker.snapshot(self._clock())
        self._record(snapshot)
        if self._path is not None:
            write = functools.partial(write_atomic, self._path, snapshot.to_json(), mode=0o600)
            try:
                await anyio.to_thread.run_sync(write)
            except OSError as exc:
                self._failed(exc)
        if notify:
            await self._notify(snapshot)

    def _record(self, snapshot: Progress) -> None:
        self.writes += 1
        self.last = snapshot

    async def _notify(self, snapshot: Progress) -> None:
        if self._callback is None:
            return
        result = self._callback(snapshot)
        if inspect.isawaitable(result):
            await result

    def _failed(self, exc: OSError) -> None:
        self.write_errors += 1
        message = f"cannot write progress file {self._path}: {exc.strerror or exc}"
        self.last_write_error = message
        if self.first_write_error is None:
            self.first_write_error = message
