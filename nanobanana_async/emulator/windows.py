"""How each shape of rate quota counts admissions, and when it next has room.

Every shape answers one question, :meth:`Window.free_at`: ``None`` if one more request fits
``now``, else the earliest time it will. The delay a 429 announces is that time minus
``now``, exact, and :func:`until` makes it survive floating point, so a request sent once it
has passed is admitted. Times are the caller's clock (the emulator's, or :mod:`.schedule`'s
simulated one). Refused requests never touch a window: only :meth:`Window.admit` does.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

from .rates import RateQuota

__all__ = [
    "Fixed",
    "Sliding",
    "TokenBucket",
    "Window",
    "until",
    "window_for",
]


def until(moment: float, now: float) -> float:
    """``moment - now``, nudged up just enough that ``now + result >= moment`` in floats."""
    delay = moment - now
    while now + delay < moment:
        delay = math.nextafter(delay, math.inf)
    return delay


class Window(Protocol):
    """The state of one :class:`~.rates.RateQuota` for one (key, model)."""

    @property
    def quota(self) -> RateQuota: ...

    def free_at(self, now: float) -> float | None:
        """``None`` if a request fits ``now``, else the earliest time one will."""

    def admit(self, now: float) -> None:
        """Count a request admitted ``now`` (``free_at(now)`` was ``None``)."""


class Sliding:
    """At most ``limit`` admissions in any trailing ``span`` seconds.

    It keeps the last admission times; with ``n >= L`` in the window, the ``n - L + 1``
    oldest must leave it, so room comes at ``times[n - L] + W``.
    """

    __slots__ = ("_span", "_times", "quota")

    def __init__(self, quota: RateQuota, span: float) -> None:
        self.quota = quota
        self._span = span
        self._times: deque[float] = deque()

    def __repr__(self) -> str:
        return f"<Sliding {self.quota} span={self._span:g} held={len(self._times)}>"

    def free_at(self, now: float) -> float | None:
        times, span, limit = self._times, self._span, self.quota.limit
        while times and times[0] + span <= now:
            times.popleft()
        if len(times) < limit:
            return None
        return times[len(times) - limit] + span

    def admit(self, now: float) -> None:
        self._times.append(now)


class Fixed:
    """At most ``limit`` admissions per window ``[origin + k span, origin + (k+1) span)``.

    Room comes at the next boundary, where the count starts again.
    """

    __slots__ = ("_count", "_end", "_origin", "_span", "quota")

    def __init__(self, quota: RateQuota, span: float, origin: float) -> None:
        self.quota = quota
        self._span = span
        self._origin = origin
        self._end = -math.inf
        self._count = 0

    def __repr__(self) -> str:
        return f"<Fixed {self.quota} count={self._count} until={self._end:g}>"

    def _boundary(self, k: int) -> float:
        # Always this one expression, so a window's end and the next one's start are
        # the same float.
        return self._origin + k * self._span

    def _roll(self, now: float) -> None:
        if now < self._end:
            return
        k = math.floor((now - self._origin) / self._span)
        while self._boundary(k) > now:  # the division rounded up past a boundary
            k -= 1
        while self._boundary(k + 1) <= now:  # ... or down short of one
            k += 1
        self._end = self._boundary(k + 1)
        self._count = 0

    def free_at(self, now: float) -> float | None:
        self._roll(now)
        return None if self._count < self.quota.limit else self._end

    def admit(self, now: float) -> None:
        self._roll(now)
        self._count += 1


class TokenBucket:
    """``capacity`` tokens, refilled at ``limit`` per ``span``, full when created.

    Kept as the time ``base`` at which it would be empty, so that tokens at ``t`` are
    ``(t - base) / per_token``, capped at the capacity. One whole token is there at
    ``base + per_token``; admitting moves ``base`` one token later. Comparing times rather
    than fractional levels keeps "free at" and "admitted at" the same float.
    """

    __slots__ = ("_base", "_full", "_per_token", "quota")

    def __init__(self, quota: RateQuota, span: float, now: float) -> None:
        self.quota = quota
        self._per_token = span / quota.limit
        self._full = self._per_token * quota.capacity
        self._base = now - self._full

    def __repr__(self) -> str:
        ready, full = self._base + self._per_token, self._base + self._full
        return f"<TokenBucket {self.quota} next_token_at={ready:g} full_at={full:g}>"

    def free_at(self, now: float) -> float | None:
        if self._base <= now - self._full:
            return None  # full: at least one token, whatever the rounding
        ready = self._base + self._per_token
        return None if ready <= now else ready

    def admit(self, now: float) -> None:
        self._base = max(self._base, now - self._full) + self._per_token


def window_for(quota: RateQuota, *, time_scale: float, origin: float, now: float) -> Window:
    """A fresh state for ``quota``, first used ``now``; fixed windows count from ``origin``."""
    span = quota.window * time_scale
    if quota.kind == "sliding":
        return Sliding(quota, span)
    if quota.kind == "fixed":
        return Fixed(quota, span, origin + quota.phase * time_scale)
    return TokenBucket(quota, span, now)
