"""The best any client could do against a given set of quotas: the yardstick of benchmarks.

A run's wall time says little until it is set beside the fastest run the quotas allowed.
:func:`ideal_starts` computes that run by driving a :class:`~.quotas.QuotaBook` on a
simulated clock, the same code the emulator answers with, so the two cannot disagree: each
request starts the moment the book first admits it, with no concurrency limit of its own
(the emulator's cap still applies, through due times), and the other client, if any, takes
its share as in the emulator. Times are on the emulator's clock, counted from its start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .quotas import QuotaBook
from .rates import RateQuota
from .settings import EmulatorSettings

__all__ = ["ideal_starts"]

_KEY, _MODEL = "ideal", "ideal"


def ideal_starts(
    n: int,
    limits: EmulatorSettings | Iterable[RateQuota],
    *,
    latency: float = 0.0,
    start: float = 0.0,
    admitted: Iterable[tuple[float, float]] = (),
    latencies: Sequence[float] = (),
) -> list[float]:
    """The start times of ``n`` identical requests sent as early as the quotas allow.

    Args:
        n: how many requests.
        limits: an emulator's settings (its rate quotas, ``rpm``/``rpd``, concurrency cap,
            other client and time scale), or just rate quotas (unscaled, no cap, alone).
        latency: seconds (scaled) each request holds a concurrency slot.
        start: when the first request may go, in seconds since the emulator started.
        admitted: (arrival, due) of requests admitted before, on the same key: an earlier
            deck whose sends are still in the window.
        latencies: each request's own latency, in order (a run's draws); past its end,
            ``latency``.

    Returns:
        ``n`` times, in order, each one when that request would be admitted.
    """
    if isinstance(limits, EmulatorSettings):
        book = QuotaBook.for_settings(limits, origin=0.0)
    else:
        book = QuotaBook(limits)
    for at, due in sorted(admitted):
        book.admit(_KEY, _MODEL, at, due)
    starts: list[float] = []
    now = start
    while len(starts) < n:
        breach = book.check(_KEY, _MODEL, now)
        if breach is not None:
            now += breach.delay
            continue
        own = latencies[len(starts)] if len(starts) < len(latencies) else latency
        book.admit(_KEY, _MODEL, now, now + own)
        starts.append(now)
    return starts
