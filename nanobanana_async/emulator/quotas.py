"""Per-key quotas, and the honest delay a breach announces.

Each (key, model) pair is one "project and model" of the real service (whose quota ids say
``PerProjectPerModel``). Three optional limits apply to it:

* requests per minute and per day: sliding windows of ``60 * time_scale`` and
  ``86400 * time_scale`` seconds over the arrival times of *admitted* requests;
* concurrent requests: admitted requests whose generation is not yet due to end.

A refused request consumes nothing. The delay a breach announces is exact, not a guess:
for a window holding ``n`` admissions with limit ``L``, the ``n - L + 1`` oldest must leave
it, so the delay is ``times[n - L] + window - now``; for concurrency it is the time until
enough in-flight generations are due to end. A request sent once that delay has passed is
admitted, which the tests check with a fake clock.

Concurrency is counted by *due time* (``admitted_at + latency``), not by when the answer
has finished sending, so the announced delay stays honest even while an answer is still
being encoded. The cost: with latency off, a request is due at once and never counts.
"""

from __future__ import annotations

from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Admission",
    "Breach",
    "QuotaBook",
]

Window = Literal["minute", "day", "concurrent"]


@dataclass(frozen=True, slots=True)
class Breach:
    """A request refused for quota.

    Attributes:
        window: which limit was hit.
        limit: that limit's value.
        delay: seconds (already time-scaled) until the same request would be admitted.
    """

    window: Window
    limit: int
    delay: float


@dataclass(slots=True, eq=False)
class Admission:
    """One admitted request, kept until :meth:`QuotaBook.release`."""

    bucket: tuple[str, str]
    due: float


@dataclass(slots=True)
class _Bucket:
    minute: deque[float] = field(default_factory=deque)
    day: deque[float] = field(default_factory=deque)
    in_flight: list[Admission] = field(default_factory=list)


class QuotaBook:
    """The quota state of every (key, model) seen, with the limits it enforces."""

    __slots__ = ("_buckets", "_day", "_minute", "max_concurrent", "rpd", "rpm")

    def __init__(
        self,
        *,
        rpm: int | None,
        rpd: int | None,
        max_concurrent: int | None,
        time_scale: float,
    ) -> None:
        self.rpm = rpm
        self.rpd = rpd
        self.max_concurrent = max_concurrent
        self._minute = 60.0 * time_scale
        self._day = 86_400.0 * time_scale
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def __repr__(self) -> str:
        return (
            f"<QuotaBook rpm={self.rpm} rpd={self.rpd} max_concurrent={self.max_concurrent} "
            f"buckets={len(self._buckets)}>"
        )

    def clear(self) -> None:
        """Forget every admission (in-flight requests release into nothing)."""
        self._buckets.clear()

    def _bucket(self, key: str, model: str) -> _Bucket:
        bucket = self._buckets.get((key, model))
        if bucket is None:
            bucket = self._buckets[(key, model)] = _Bucket()
        return bucket

    @staticmethod
    def _window_delay(times: deque[float], span: float, limit: int, now: float) -> float | None:
        while times and times[0] + span <= now:
            times.popleft()
        if len(times) < limit:
            return None
        return times[len(times) - limit] + span - now

    def check(self, key: str, model: str, now: float) -> Breach | None:
        """The breach a request arriving ``now`` would cause, or ``None`` if it may go.

        The per-day window is checked first: when both are full, the day is what the
        client must hear about, since waiting a minute will not help.
        """
        bucket = self._bucket(key, model)
        if self.rpd is not None:
            delay = self._window_delay(bucket.day, self._day, self.rpd, now)
            if delay is not None:
                return Breach("day", self.rpd, delay)
        if self.rpm is not None:
            delay = self._window_delay(bucket.minute, self._minute, self.rpm, now)
            if delay is not None:
                return Breach("minute", self.rpm, delay)
        if self.max_concurrent is not None:
            dues = sorted(a.due for a in bucket.in_flight if a.due > now)
            if len(dues) >= self.max_concurrent:
                return Breach(
                    "concurrent",
                    self.max_concurrent,
                    dues[len(dues) - self.max_concurrent] - now,
                )
        return None

    def admit(self, key: str, model: str, now: float, due: float) -> Admission:
        """Count a request arriving ``now`` whose generation ends at ``due``."""
        bucket = self._bucket(key, model)
        bucket.minute.append(now)
        bucket.day.append(now)
        admission = Admission((key, model), due)
        bucket.in_flight.append(admission)
        return admission

    def release(self, admission: Admission) -> None:
        """The request has been answered (or abandoned)."""
        bucket = self._buckets.get(admission.bucket)
        if bucket is not None:
            with suppress(ValueError):
                bucket.in_flight.remove(admission)
