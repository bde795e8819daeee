"""The one task that writes the progress file: events in, coalesced snapshots out.

Workers never touch the file: they send events into an unbounded memory stream and go on,
so a slow disk never holds up a request. Bursts coalesce to one write per ``min_interval``;
during a pause on the quota the writer wakes on its own, so the countdown moves without
events. A failed write is counted, never raised: losing the display is no reason to lose
the run. The design and its reasons: ``docs/design.md``.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from ..files.atomic import write_atomic
from . import events
from .progress import Progress, ProgressCallback, ProgressTracker

__all__ = ["ProgressWriter"]

# While a pause runs, seconds between two snapshots: the countdown's resolution.
_PAUSE_REFRESH = 1.0


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
