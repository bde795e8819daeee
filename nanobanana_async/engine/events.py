"""What the engine tells the progress writer, as frozen dataclasses.

Data flows one way: the scheduler emits these events and never reads progress state back;
:mod:`.progress` folds them into snapshots and :mod:`.writer` alone writes the file. Each
event carries the monotonic time it happened at (``at``, from the engine's injectable
clock), so ETAs and rates can be computed without the writer reading a clock of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..results import RunState, StopReport

__all__ = [
    "Event",
    "RateLimitWait",
    "RunFinished",
    "SlideDone",
    "SlideFailed",
    "SlideRetrying",
    "SlideReused",
    "SlideStarted",
    "Stopping",
    "TextChecked",
]


@dataclass(frozen=True, slots=True)
class SlideStarted:
    """A request for this slide was sent (first attempt or a retry), at ``tier``."""

    slide: int
    at: float
    tier: str = "standard"


@dataclass(frozen=True, slots=True)
class SlideRetrying:
    """An attempt failed in a way worth retrying; ``error`` is the redacted reason."""

    slide: int
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class RateLimitWait:
    """A 429 answer; the engine sends one per 429, however many share a pause.

    Attributes:
        seconds: how long from ``at`` no request will be sent: the shared pause ends at
            ``at + seconds``, on the engine's monotonic clock.
        at: when the 429 arrived.
        new_wait: True when this 429 started a new wait on the quota, False when it came
            while a pause was running (or only extended it). The pacer decides, so counting
            the True ones gives its ``rate_limit_waits``: a storm of ten 429s that set one
            shared pause is ten events and one wait.
        answered: False when no 429 came to this run: another run on the same quota was
            told to wait (through the shared ledger) and this run waits with it.
    """

    seconds: float
    at: float
    new_wait: bool
    answered: bool = True


@dataclass(frozen=True, slots=True)
class SlideDone:
    """The slide's image is saved under its final name."""

    slide: int
    path: Path
    size_bytes: int
    at: float


@dataclass(frozen=True, slots=True)
class TextChecked:
    """The slide's saved image was read back: ``check`` is its ``text_check`` (the
    :meth:`~nanobanana_async.qa.TextCheck.to_json` form), known after the slide is done."""

    slide: int
    check: Mapping[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class SlideReused:
    """A resumed run found this slide's image already complete on disk and kept it."""

    slide: int
    path: Path
    size_bytes: int
    at: float


@dataclass(frozen=True, slots=True)
class SlideFailed:
    """The slide will not be generated in this run; ``error`` is the redacted reason."""

    slide: int
    error: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class Stopping:
    """The run was asked to stop: nothing new is sent, the requests on the wire may finish
    until ``until`` (monotonic), then they are cut."""

    until: float
    at: float


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run is over; ``state`` says how. Sent exactly once, last.

    ``stop``: for a run stopped from outside, what became of its requests on the wire.
    """

    state: RunState
    at: float
    stop: StopReport | None = None


@dataclass(frozen=True, slots=True)
class BatchUpdate:
    """The Batch API's word on the run's batch: its name, state and when it was sent.

    ``state`` is the service's without its prefix (``PENDING``, ``RUNNING``, ``SUCCEEDED``,
    ...), or ``SUBMITTING`` before the create answer; ``name`` is empty until then.
    """

    name: str
    state: str
    submitted_at: str
    at: float


Event = (
    SlideStarted
    | SlideRetrying
    | RateLimitWait
    | SlideDone
    | SlideReused
    | TextChecked
    | SlideFailed
    | BatchUpdate
    | Stopping
    | RunFinished
)
