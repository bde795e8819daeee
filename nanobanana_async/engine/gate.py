"""The concurrency gate: how many requests may be in flight at once.

A fixed ``concurrency`` is honoured as given. Otherwise the gate sizes itself by Little's
law from the pacer's rate and the latencies seen, never below the burst the pacer's window
admits; while no rate is known it starts at a whole tier-1 window and opens by one slot per
success; and it learns a cap on requests in progress from storms of 429s that begin at one
count (:meth:`ConcurrencyGate.on_quota_refused`). A slot is held only while a request is
paced and on the wire. Waiters are served first come, first served: a freed slot is handed
to the next waiter, and a wider limit wakes only as many as it makes room for. Its owner is
:mod:`.admission`; why each rule: docs/design.md, "Admission".
"""

from __future__ import annotations

import math
from collections import deque

import anyio

__all__ = ["ConcurrencyGate"]

_HEADROOM = 1.25
_EWMA = 0.3
# Storms that must begin with the same number of our requests in progress before that
# number is taken for a cap on requests in progress.
_CAP_EVIDENCE = 3
_CAP_TOLERANCE = 1


class ConcurrencyGate:
    """An async context manager admitting at most :attr:`limit` holders.

    Args:
        fixed: a limit the user chose; disables self-sizing.
        bounds: the smallest and largest self-sized limit.
        initial: the limit before anything is known.
        typical_latency: the latency assumed before the first observation, in seconds.
    """

    __slots__ = (
        "_bounds",
        "_cap",
        "_cap_credit",
        "_fixed",
        "_initial",
        "_latency",
        "_limit",
        "_refusals",
        "_typical",
        "_waiters",
        "in_use",
        "peak",
    )

    def __init__(
        self,
        *,
        fixed: int | None = None,
        bounds: tuple[int, int] = (1, 32),
        initial: int = 20,
        typical_latency: float = 20.0,
    ) -> None:
        self._fixed = fixed
        self._bounds = bounds
        self._initial = initial
        self._cap: int | None = None
        self._cap_credit = 0
        self._refusals: deque[int] = deque(maxlen=_CAP_EVIDENCE)
        self._limit = fixed if fixed is not None else self._clamp(initial)
        self._latency: float | None = None
        # First come, first served; each waiter's event is set when a slot is handed to it.
        self._waiters: deque[anyio.Event] = deque()
        self.in_use = 0
        self.peak = 0
        self._typical = typical_latency

    def __repr__(self) -> str:
        mode = "fixed" if self._fixed is not None else "little"
        return (
            f"<ConcurrencyGate {mode} limit={self._limit} in_use={self.in_use} "
            f"waiting={len(self._waiters)} peak={self.peak}>"
        )

    @property
    def limit(self) -> int:
        return self._limit

    def _clamp(self, value: float) -> int:
        low, high = self._bounds
        return max(low, min(high, math.ceil(value)))

    def open_all(self) -> None:
        """Admit every waiter now and from now on: the run is stopping and nobody will send."""
        self._fixed = self._limit = 1 << 30
        self._wake()

    @property
    def cap(self) -> int | None:
        """The cap on requests in progress learned from 429s, if any."""
        return self._cap

    def on_quota_refused(self, admitted_in_flight: int, out: int | None = None) -> bool:
        """A storm of quota 429s began while ``admitted_in_flight`` of ours were generating.

        ``out``: all of ours on the wire besides the refused one, the just-sent included
        (default ``admitted_in_flight``); a known cap is weighed against it, since a probe
        one above the cap leaves together with the request that fills it.

        A quota on requests in progress refuses at the same count every time, whatever it
        is called; a rate quota refuses at whatever count its window happens to meet. So
        when three storms in a row begin at one count (give or take the answer finishing
        as the 429 leaves), the highest of them becomes a cap: the gate holds there instead
        of earning a 429 per answer. It reopens by one after a cap's worth of successes (a
        probe per generation), and a storm that begins well below it drops it: the cap was
        a coincidence.

        Returns:
            Whether the cap explains this refusal (the pacer should not learn a rate from it).
        """
        if self._fixed is not None:
            return False
        self._refusals.append(admitted_in_flight)
        counts = self._refusals
        out = admitted_in_flight if out is None else max(out, admitted_in_flight)
        if self._cap is not None and out >= self._cap - 1:
            if 0 < out < self._cap:  # the last probe found the cap
                self._cap, self._cap_credit = out, 0
                self._set_limit(min(self._limit, self._cap))
            return True
        if (
            admitted_in_flight > 0
            and len(counts) == _CAP_EVIDENCE
            and max(counts) - min(counts) <= _CAP_TOLERANCE
        ):
            self._cap = max(counts)
            self._cap_credit = 0
            if self._limit > self._cap:
                self._set_limit(self._cap)
            return True
        self._cap = None  # the caller retunes next
        return False

    def learn_cap(self, in_progress: int) -> None:
        """A quota freed the moment one of ours ended, with ``in_progress`` of ours out: a cap.

        A rate quota frees when a window moves on, whenever our answers end; a cap on
        requests in progress frees as one of them ends. Seen once, that is the cap (no
        storms to count): the gate holds there, and probes one higher per cap's worth of
        successes, as a cap learned from storms does.
        """
        if self._fixed is not None or in_progress < 1:
            return
        self._cap, self._cap_credit = in_progress, 0
        self._refusals.clear()
        self._set_limit(min(self._limit, in_progress))

    def _set_limit(self, value: int) -> None:
        if self._cap is not None and value > self._cap:
            value = self._cap
        if value != self._limit:
            grew = value > self._limit
            self._limit = value
            if grew:
                self._wake()

    def _wake(self) -> None:
        """Hand free slots to the first waiters, as many as fit (no herd: the rest sleep on)."""
        while self._waiters and self.in_use < self._limit:
            self._take()
            self._waiters.popleft().set()

    def _take(self) -> None:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)

    def observe(
        self,
        latency: float,
        *,
        rate_per_second: float | None,
        burst: int | None = None,
        success: bool,
    ) -> None:
        """Feed one finished request's latency and the pacer's current rate; resize."""
        if self._fixed is not None:
            return
        self._latency = (
            latency if self._latency is None else _EWMA * latency + (1 - _EWMA) * self._latency
        )
        if success and self._cap is not None:
            self._cap_credit += 1
            if self._cap_credit >= self._cap:
                self._cap += 1
                self._cap_credit = 0
        self.retune(rate_per_second, burst, grow=success)

    def retune(
        self, rate_per_second: float | None, burst: int | None = None, *, grow: bool = False
    ) -> None:
        """Resize from the current rate and burst; with none known, from ``initial`` up."""
        if self._fixed is not None:
            return
        if rate_per_second is None:
            # Nothing limits the rate (again: a storm can end knowing nothing): at least the
            # starting width, and one more per success.
            floor = self._clamp(self._initial)
            self._set_limit(self._clamp(max(self._limit + (1 if grow else 0), floor)))
            return
        latency = self._latency if self._latency is not None else self._typical
        self._set_limit(self._clamp(max(rate_per_second * latency * _HEADROOM, burst or 0)))

    async def __aenter__(self) -> None:
        if not self._waiters and self.in_use < self._limit:
            self._take()
            return
        handed = anyio.Event()
        self._waiters.append(handed)
        try:
            await handed.wait()
        except BaseException:
            if handed.is_set():  # the slot came with the cancellation: pass it on
                self.release()
            else:
                self._waiters.remove(handed)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        """Give a slot back; the first waiter gets it."""
        self.in_use -= 1
        self._wake()
