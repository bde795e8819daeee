"""Request pacing: a token bucket, one shared 429 pause, and a rate learned from 429s.

Every attempt, retries included, calls :meth:`Pacer.acquire` right before it is sent, and
reports a 429 back with the send time :meth:`~Pacer.acquire` returned.

* **Token bucket and window.** With a known rate, a token bucket (aiolimiter) holds one
  quota window's worth of tokens, refilled over the window, and a log of our own sends
  admits a request only while fewer than ``rate`` of them fall in the trailing window. The
  service's per-minute quota is a *sliding* window: it takes a whole window's worth at once
  and no more until the first of them is a window old. A bucket alone would allow a burst
  and then one token every 60/N seconds, putting N+1 requests in one window; spacing every
  request 60/N apart from the start wastes the first window, which on a short deck is half
  the run. The log makes the burst safe, the bucket keeps the long-run rate. The window is
  stretched by ``margin`` so arrival jitter on the wire cannot push N+1 into one window.
* **Shared pause.** A 429 says when the quota frees (``RetryInfo.retryDelay``). Instead of
  each worker waiting out its own copy, the pause is global: no request leaves until it is
  over, so a 429 storm is followed by silence, not by every worker hammering the server.
* **Learning the quota.** A refused request does not count against the quota, so a 429
  takes its own send out of the log. When the 429 names a per-minute *request* quota, what
  is left in the log's last ``period`` is exactly what the quota admitted from us, and that
  count (capped by the limit the service states in ``quotaValue``, when it does) becomes
  the rate; the stated limit also becomes the ceiling, so the rate never climbs back into
  it. Every 429 of a storm refines the count (a burst's refusals come back one by one).
  Other 429s (no quota named, a token or concurrency quota) say nothing countable: the rate
  drops by a quarter, once per storm (one storm: every 429 until the pause it set is over).
* **Climbing back.** A full ``period`` of clean traffic raises the rate by 5%, up to the
  ceiling (the configured rate, or the stated limit); with neither, without bound, so a
  rate learned from another client's share of the quota recovers once that client stops.
  With no rate configured the pacer starts unlimited and learns one from the first 429.

Time is read through the injected ``clock`` and waited through ``sleep`` (aiolimiter keeps
the loop's own clock, so tests give the pacer a small ``period`` rather than fake time).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
from aiolimiter import AsyncLimiter

__all__ = ["Pacer"]

_DECREASE = 0.75
_INCREASE = 1.05


class Pacer:
    """Decides when the next request may leave.

    Args:
        rpm: requests per ``period`` the quota allows, if known; ``None`` starts unlimited.
        period: the quota window in seconds (60 for a per-minute quota; tests shrink it).
        margin: fraction of the rate left unused, as a guard against arrival jitter.
        default_pause: pause after a 429 that gave no delay, in seconds.
        clock: monotonic time in seconds.
        sleep: awaitable sleep.
    """

    __slots__ = (
        "_ceiling",
        "_clean",
        "_clock",
        "_default_pause",
        "_last_signal_end",
        "_limiter",
        "_margin",
        "_pause_until",
        "_period",
        "_rate",
        "_sends",
        "_sleep",
        "_storm_base",
        "rate_limit_waits",
    )

    def __init__(
        self,
        *,
        rpm: float | None,
        period: float = 60.0,
        margin: float = 0.02,
        default_pause: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._period = period
        self._margin = margin
        self._default_pause = default_pause
        self._clock = clock
        self._sleep = sleep
        self._ceiling = rpm
        self._rate: float | None = None
        self._limiter: AsyncLimiter | None = None
        self._pause_until = -math.inf
        self._last_signal_end = -math.inf
        self._sends: deque[float] = deque()
        self._clean = 0
        self._storm_base: float | None = None
        self.rate_limit_waits = 0
        if rpm is not None:
            self._set_rate(rpm)

    def __repr__(self) -> str:
        rate = "unlimited" if self._rate is None else f"{self._rate:.2f}/{self._period:g}s"
        pause = max(0.0, self._pause_until - self._clock())
        return f"<Pacer rate={rate} paused_for={pause:.2f}s waits={self.rate_limit_waits}>"

    @property
    def rate(self) -> float | None:
        """Requests per ``period`` currently allowed, ``None`` when unlimited."""
        return self._rate

    @property
    def rate_per_second(self) -> float | None:
        return None if self._rate is None else self._rate / self._period

    @property
    def burst(self) -> int | None:
        """Requests the window admits at once, ``None`` when unlimited."""
        return None if self._rate is None else self._allowance()

    @property
    def ceiling(self) -> float | None:
        """The rate the pacer never goes above: configured, or stated by the service."""
        return self._ceiling

    @property
    def paused_until(self) -> float:
        return self._pause_until

    @property
    def _window(self) -> float:
        return self._period * (1.0 + self._margin)

    def _allowance(self) -> int:
        return max(1, math.floor((self._rate or 1.0) + 1e-9))

    def _set_rate(self, rate: float) -> None:
        self._rate = rate
        self._limiter = AsyncLimiter(self._allowance(), self._window)

    def _window_wait(self, now: float) -> float:
        """How long until the trailing window has room for one more send (0: it has)."""
        if self._rate is None:
            return 0.0
        self._forget_before(now - self._window)
        excess = len(self._sends) - self._allowance()
        if excess < 0:
            return 0.0
        return max(1e-6, self._sends[excess] + self._window - now)

    async def acquire(self) -> float:
        """Wait until a request may be sent: no pause, room in the window, a free token.

        Returns:
            The send time, to hand back to :meth:`on_rate_limited` if the request is refused.
        """
        while True:
            now = self._clock()
            wait = max(self._pause_until - now, self._window_wait(now))
            if wait > 0:
                await self._sleep(wait)
                continue
            if self._limiter is not None:
                await self._limiter.acquire()
            # A 429, or other workers' sends, may have come while this one waited for a token.
            now = self._clock()
            if self._pause_until > now or self._window_wait(now) > 0:
                continue
            self._sends.append(now)
            return now

    def _forget_before(self, horizon: float) -> None:
        while self._sends and self._sends[0] <= horizon:
            self._sends.popleft()

    def on_rate_limited(
        self,
        retry_delay: float | None,
        *,
        sent_at: float | None = None,
        per_minute_requests: bool = False,
        limit: float | None = None,
    ) -> float:
        """Record a 429: pause everyone until the quota frees; learn or lower the rate.

        Args:
            retry_delay: the server's ``RetryInfo`` delay, if it gave one.
            sent_at: what :meth:`acquire` returned for the refused request, so it stops
                counting against the window (the quota did not count it).
            per_minute_requests: the 429 names a requests-per-minute quota, so our own
                admitted sends in the last ``period`` measure it.
            limit: requests per ``period`` that quota allows, as the service stated it.

        Returns:
            How long from now no request will be sent, in seconds.
        """
        now = self._clock()
        if sent_at is not None and sent_at in self._sends:  # else already out of the window
            self._sends.remove(sent_at)
        delay = self._default_pause if retry_delay is None else max(0.0, retry_delay)
        until = now + delay
        # Many requests hit by the same exhausted window are one storm, not many: the rate
        # starts from where it was when the storm began, and each 429 refines the estimate.
        if now >= self._last_signal_end:
            self.rate_limit_waits += 1
            self._storm_base = self._rate
        if until > self._pause_until:
            self._pause_until = until
        self._last_signal_end = self._pause_until
        self._clean = 0
        if limit is not None and limit > 0:
            self._ceiling = limit if self._ceiling is None else min(self._ceiling, limit)
        base = self._storm_base
        self._forget_before(now - self._window)
        admitted = sum(1 for sent in self._sends if sent > now - self._period)
        if per_minute_requests and admitted > 0:
            new = float(admitted)
        elif base is not None:
            new = base * _DECREASE
        else:
            new = admitted * _DECREASE if admitted > 0 else 1.0
        for cap in (base, self._ceiling):
            if cap is not None:
                new = min(new, cap)
        new = max(1.0, new)
        if new != self._rate:
            self._set_rate(new)
        return max(0.0, self._pause_until - now)

    def on_success(self) -> None:
        """Record a request the quota accepted; a clean ``period`` of them raises the rate."""
        self._clean += 1
        rate = self._rate
        if rate is None or self._clean < max(1.0, rate):
            return
        self._clean = 0
        ceiling = self._ceiling
        if ceiling is not None and rate >= ceiling:
            return
        raised = rate * _INCREASE
        self._set_rate(min(raised, ceiling) if ceiling is not None else raised)
