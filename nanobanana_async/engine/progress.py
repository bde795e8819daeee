"""What the progress file says: events folded into counts, and frozen snapshots of them.

:class:`Progress` is one snapshot, its fields the progress file's (docs/design.md,
Contracts); :class:`ProgressTracker` folds :mod:`~nanobanana_async.engine.events` into it,
with no I/O and no clock but the wall clock of ``updated_at``. :mod:`.writer` is the one
task that writes them; why the file is built so: docs/design.md, "One progress writer".
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import orjson

from ..results import StopReport, utc_iso
from ..wording import plural
from . import events
from .queued import FlexQueue, queued_words

__all__ = ["Progress", "ProgressCallback", "ProgressState", "ProgressTracker"]

ProgressState = Literal["running", "stopping", "done", "failed", "cancelled"]
ProgressCallback = Callable[["Progress"], Awaitable[None] | None]

# The ETA uses the pace of the last few finished slides: recent enough to follow a rate
# limit that tightens or relaxes, long enough to smooth the bursts concurrency produces.
_ETA_WINDOW = 10
# Past this many slide numbers the status line says "and N more" (concurrency can be 64).
_STATUS_MAX_SLIDES = 6


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Progress:
    """One snapshot of a run, as written to the progress file.

    The first seven fields are the file's original ones, in order and with their meaning
    (docs/design.md, Contracts); the rest are ours.

    Attributes:
        current: finished slides, succeeded or failed, so ``current == total`` means done.
        total: slides in the config.
        status: one human line: ``"3/10 done, generating slides 4, 5, 6"``, or the summary.
        completed: paths of the saved images, in slide order.
        failed: numbers of the failed slides, in order.
        started_at: when the run started, UTC ISO 8601.
        updated_at: when this snapshot was taken, UTC ISO 8601.
        state: ``running``, then ``done``, ``failed`` (stopped by an error retrying cannot
            fix) or ``cancelled``; ``stopping`` between a stop asked from outside and the
            end, while the requests on the wire finish.
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
        batch: in a Batch API run, the batch's name, state and when it was sent.
        stopping_until: while ``stopping``, when the requests still on the wire are cut,
            UTC ISO 8601 rounded up.
        duration_seconds: once the run is over, how long it took, whole seconds: the
            results' own figure, so every line about the run says the same; ``None``
            until then.
        stop: once a stopped run is over, its requests on the wire ``finished`` (and saved)
            and ``cut``, as the results say.
        text_checks: slide number -> its ``text_check``, for the checked slides read so far.
        queued: the Flex requests waiting in the service's queue past a minute
            (:mod:`.queued`): ``{"tier": "flex", "slides": [...], "seconds": N}``, the
            longest wait; ``None`` when none is.
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
    batch: Mapping[str, str] | None = field(default=None, hash=False)
    stopping_until: str | None = None
    duration_seconds: int | None = None
    stop: StopReport | None = None
    text_checks: Mapping[int, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    queued: Mapping[str, Any] | None = field(default=None, hash=False)

    @property
    def finished(self) -> bool:
        """Whether the run is over (any final state)."""
        return self.state not in ("running", "stopping")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, with the original seven fields first and JSON types only."""
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
            "duration_seconds": self.duration_seconds,  # null until the run is over
            # Only in a Batch API run: {name, state, submitted_at}.
            **({"batch": dict(self.batch)} if self.batch is not None else {}),
            **({"stopping_until": self.stopping_until} if self.state == "stopping" else {}),
            **({"stop": self.stop.to_dict()} if self.stop is not None else {}),
            # Only in a run that checks text: {"3": {"state": "ok"}, ...}.
            **({"text_checks": _by_slide(self.text_checks)} if self.text_checks else {}),
            # Only while Flex requests wait in the queue: {tier, slides, seconds}.
            **({"queued": dict(self.queued)} if self.queued else {}),
        }

    def to_json(self) -> bytes:
        """The file's content: compact JSON and a final newline (``cat`` and ``jq`` friendly)."""
        return orjson.dumps(self.to_dict()) + b"\n"


def _by_slide(checks: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    return {str(slide): dict(checks[slide]) for slide in sorted(checks)}


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
        time_scale: the run's (an emulator's minutes are scaled): Flex's queue is too.
    """

    __slots__ = (
        "_batch",
        "_completed",
        "_ended",
        "_errors",
        "_finish_times",
        "_flex",
        "_in_flight",
        "_last_error",
        "_pauses",
        "_retrying",
        "_reused",
        "_started_at",
        "_started_mono",
        "_state",
        "_stop",
        "_stopping_until",
        "_text_checks",
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
        time_scale: float = 1.0,
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
        self._batch: dict[str, str] | None = None
        self._stopping_until: float | None = None
        self._ended: float | None = None
        self._stop: StopReport | None = None
        self._text_checks: dict[int, Mapping[str, Any]] = {}
        self._flex = FlexQueue(time_scale)

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
            case events.SlideStarted(slide=slide, at=at, tier=tier):
                self._retrying.discard(slide)
                self._in_flight.add(slide)
                self._flex.sent(slide, at, tier)
            case events.SlideRetrying(slide=slide):
                self._flex.ended(slide, answered=False)
                self.retries += 1
                self._in_flight.discard(slide)
                self._retrying.add(slide)
            case events.RateLimitWait(seconds=seconds, at=at, new_wait=new_wait, answered=answered):
                self.rate_limited += answered
                self.rate_limit_waits += new_wait
                self._pause(at, at + seconds)
            case events.SlideDone(slide=slide, path=path, at=at):
                self._flex.ended(slide, answered=True)
                self._finish(slide, at, worked=True)
                self._completed[slide] = str(path)
            case events.SlideReused(slide=slide, path=path):
                self._finish(slide, 0.0, worked=False)
                self._completed[slide] = str(path)
                self._reused.add(slide)
            case events.TextChecked(slide=slide, check=check):
                self._text_checks[slide] = check
                self._in_flight.discard(slide)  # a fix round's request, answered and read
            case events.SlideFailed(slide=slide, error=error, at=at):
                self._finish(slide, at, worked=slide in self._in_flight or slide in self._retrying)
                self._errors[slide] = error
                self._last_error = error
            case events.BatchUpdate(name=name, state=batch_state, submitted_at=submitted):
                self._batch = {"name": name, "state": batch_state, "submitted_at": submitted}
            case events.Stopping(until=until):
                if self._state == "running":
                    self._state = "stopping"
                    self._stopping_until = until
            case events.RunFinished(state=state, at=at, stop=stop):
                self._state = state
                self._ended = at
                self._stop = stop
                self._in_flight.clear()
                self._retrying.clear()
                self._flex.clear()

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
            batch=None if self._batch is None else MappingProxyType(dict(self._batch)),
            stopping_until=self._stopping_iso(wall, now_mono),
            duration_seconds=None if self._ended is None else self.duration(self._ended),
            stop=self._stop,
            text_checks=MappingProxyType(dict(self._text_checks)),
            queued=self._queued(now_mono),
        )

    def _queued(self, now: float) -> Mapping[str, Any] | None:
        if self._state not in ("running", "stopping"):
            return None
        slides, seconds = self._flex.queued(now)
        return {"tier": "flex", "slides": slides, "seconds": int(seconds)} if slides else None

    def duration(self, ended: float) -> int:
        """The run's length in whole seconds, ended at ``ended`` (monotonic): the one figure
        the final snapshot and the results give."""
        return max(0, round(ended - self._started_mono))

    def _stopping_iso(self, wall: datetime, now_mono: float) -> str | None:
        if self._state != "stopping" or self._stopping_until is None:
            return None
        return _ceil_iso(wall + timedelta(seconds=max(0.0, self._stopping_until - now_mono)))

    def _finish(self, slide: int, at: float, *, worked: bool) -> None:
        # Last word wins, so a slide is never counted twice in ``current``.
        self._flex.ended(slide, answered=False)
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
        if self._state != "running":
            return None
        floor = self._flex.eta_floor(now)  # no Flex answer yet: the queue's time is left
        if not self._finish_times:
            return floor
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
        return max(math.ceil(pause_left + remaining * working / len(window)), floor or 0)

    def _status(self, now: float, in_flight: tuple[int, ...]) -> str:
        done, failed, total = self.current, len(self._errors), self.total
        saved = len(self._completed)
        if self._state == "done":
            line = f"done: {saved} of {plural(total, 'slide')} saved"
            return f"{line}, {failed} failed ({_slides(sorted(self._errors))})" if failed else line
        if self._state == "failed":
            return f"stopped: {self._last_error or 'unrecoverable error'}; {saved} of {total} saved"
        if self._state == "cancelled":
            return f"cancelled: {saved} of {total} saved"
        if self._state == "stopping":
            going = f"{len(in_flight)} in flight, finishing them" if in_flight else "finishing"
            return f"stopping: {going}; {saved} of {total} saved"
        head = f"{done}/{total} done" + (f" ({failed} failed)" if failed else "")
        parts = []
        queued, waited = self._flex.queued(now)
        generating = [slide for slide in in_flight if slide not in queued]
        if generating:
            noun = "slides" if len(generating) > 1 else "slide"
            parts.append(f"generating {noun} {_slides(generating)}")
        if queued:
            noun = "slides" if len(queued) > 1 else "slide"
            parts.append(f"{queued_words(waited)}: {noun} {_slides(queued)}")
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
