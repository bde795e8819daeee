"""Another client on the same key, taking its own share of the quota.

A real project rarely has its quota to itself (a second script, a colleague, a cron job), so
the emulator plays one other client per (key, model) in use: it tries at evenly spaced
steady times, retries a refused try at the free time its 429 announced, and drops steady
times that pass meanwhile, so it never has more than one try pending. Nothing runs in the
background: :class:`~.quotas.QuotaBook` plays the tries that are due whenever it checks a
real request, so a test on a fake clock sees the same thing every time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .rates import parse_seconds

__all__ = ["OtherClient", "Phantom", "parse_other_client"]

_SPEC = re.compile(r"^(\d+)/(.+)$")


@dataclass(frozen=True, slots=True)
class OtherClient:
    """A client sharing every key, sending ``rate`` requests per ``window``.

    Attributes:
        rate: requests it tries per window.
        window: seconds, unscaled.
        latency: seconds, unscaled, each admitted request holds a concurrency slot.
    """

    rate: int
    window: float = 60.0
    latency: float = 20.0

    def __post_init__(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, int) or self.rate < 1:
            raise ValueError(f"other client rate must be a positive integer, not {self.rate!r}")
        if not 0 < self.window < math.inf:
            raise ValueError(f"other client window must be positive seconds, not {self.window!r}")
        if not 0 <= self.latency < math.inf:
            raise ValueError(f"other client latency must be 0 or more, not {self.latency!r}")

    def __str__(self) -> str:
        return f"{self.rate}/{self.window:g}s"


def parse_other_client(spec: str) -> OtherClient:
    """``"8/60s"`` (8 requests per 60 s) as an :class:`OtherClient`.

    Raises:
        ValueError: not ``RATE/WINDOW``, e.g. ``8/60s`` or ``100/1h``.
    """
    match = _SPEC.match(spec.strip())
    if match is None:
        raise ValueError("expected RATE/WINDOW, e.g. 8/60s or 100/1h")
    return OtherClient(int(match.group(1)), parse_seconds(match.group(2)))


class Phantom:
    """When the other client tries next on one (key, model), and how it fared.

    Its steady times are half an interval (``window / rate``, scaled) after the pair's first
    request, then one every interval. An admitted try counts against every quota of its
    pair and holds a concurrency slot for ``latency`` seconds (scaled).

    Attributes:
        next_try: the time of its one pending try.
        admitted: tries admitted so far.
        refused: tries refused so far.
    """

    __slots__ = ("_first", "_interval", "_slot", "admitted", "next_try", "refused")

    def __init__(self, interval: float, first_use: float) -> None:
        self._interval = interval
        self._first = first_use + interval / 2
        self._slot = 0
        self.next_try = self._first
        self.admitted = 0
        self.refused = 0

    def __repr__(self) -> str:
        return (
            f"<Phantom next_try={self.next_try:g} admitted={self.admitted} refused={self.refused}>"
        )

    def _steady(self, slot: int) -> float:
        return self._first + slot * self._interval

    def on_admitted(self, at: float) -> None:
        """Its try at ``at`` went through: the next one is the next steady time after it."""
        self.admitted += 1
        slot = max(self._slot + 1, math.floor((at - self._first) / self._interval) + 1)
        while slot > self._slot + 1 and self._steady(slot - 1) > at:
            slot -= 1
        while self._steady(slot) <= at:
            slot += 1
        self._slot = slot
        self.next_try = self._steady(slot)

    def on_refused(self, at: float, delay: float) -> None:
        """Its try at ``at`` got a 429 announcing ``delay``: it tries again then."""
        self.refused += 1
        self.next_try = at + delay
