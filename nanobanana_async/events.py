"""What the engine tells the progress writer, as frozen dataclasses.

Data flows one way: the scheduler emits these events and never reads progress state back;
:mod:`nanobanana_async.progress` folds them into a snapshot and is the only code that touches
the progress file. Each event carries the monotonic time it happened at (``at``, from the
engine's injectable clock), so ETAs and rates can be computed without the writer reading a
clock of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "Event",
    "RateLimitWait",
    "RunFinished",
    "SlideDone",
    "SlideFailed",
    "SlideRetrying",
    "SlideReused",
    "SlideStarted",
]

RunState = Literal["done", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class SlideStarted:
    """A request for this slide was sent (first attempt or a retry)."""

    slide: int
    at: float


@dataclass(frozen=True, slots=True)
class SlideRetrying:
    """An attempt failed in a way worth retrying; ``error`` is the redacted reason."""

    slide: int
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class RateLimitWait:
    """A 429 paused every worker for ``seconds``."""

    seconds: float
    at: float


@dataclass(frozen=True, slots=True)
class SlideDone:
    """The slide's image is saved under its final name."""

    slide: int
    path: Path
    size_bytes: int
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
class RunFinished:
    """The run is over; ``state`` says how. Sent exactly once, last."""

    state: RunState
    at: float


Event = (
    SlideStarted
    | SlideRetrying
    | RateLimitWait
    | SlideDone
    | SlideReused
    | SlideFailed
    | RunFinished
)
