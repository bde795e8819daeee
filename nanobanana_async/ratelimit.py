"""Request pacing: a token bucket, one shared 429 pause, and a rate that adapts (AIMD).

Every attempt, retries included, calls :meth:`Pacer.acquire` right before it is sent.

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
* **AIMD.** Each distinct 429 (one per pause window, however many requests it hit) lowers
  the rate: to 90% of what was actually sent in the last ``period`` when that is known
  (that count is what the quota allowed), else by a quarter. A full ``period`` of clean
  traffic raises it by 5%, up to the configured rate. With no rate configured the pacer
  starts unlimited and learns one from the first 429.

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
_LEARNED_SHARE = 0.9
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

    async def acquire(self) -> None:
        """Wait until a request may be sent: no pause, room in the window, a free token."""
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
            return

    def _forget_before(self, horizon: float) -> None:
        while self._sends and self._sends[0] <= horizon:
            self._sends.popleft()

    def on_rate_limited(self, retry_delay: float | None) -> float:
        """Record a 429: pause everyone until the quota frees; lower the rate once per storm.

        Returns:
            How long from now no request will be sent, in seconds.
        """
        now = self._clock()
        delay = self._default_pause if retry_delay is None else max(0.0, retry_delay)
        until = now + delay
        if until > self._pause_until:
            if self._pause_until <= now:
                self.rate_limit_waits += 1
            self._pause_until = until
        self._clean = 0
        # Many in-flight requests hit by the same exhausted window are one signal, not many.
        if now >= self._last_signal_end:
            self._last_signal_end = self._pause_until
            self._forget_before(now - self._window)
            sent = len(self._sends)
            learned = sent * _LEARNED_SHARE if sent >= 2 else None
            if self._rate is None:
                new = learned if learned is not None else 1.0
            else:
                new = self._rate * _DECREASE
                if learned is not None:
                    new = max(new, min(learned, self._rate))
            self._set_rate(max(1.0, new))
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
