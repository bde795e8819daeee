"""Admission: when a request may leave, and how many may be out at once, for one run.

The one owner of everything learned from 429s, caps and latencies. A request asks for a
slot (:meth:`Admission.ask`), is sent, and reports back: :meth:`~Admission.answered` or
:meth:`~Admission.refused` with the classified :class:`~nanobanana_async.errors.RateLimited`.

The rule, in a few lines:

- **Slots, first come first served.** At most :attr:`limit` requests are paced or on the
  wire; a freed slot goes to the first waiter, a wider limit wakes only as many as fit
  (:class:`.gate.ConcurrencyGate` sizes it: a fixed ``concurrency``, else Little's law
  from the rate and the latencies answered, never below the window's burst).
- **Then the pace** (:class:`.pacer.Pacer`), asked by each slot's holder: nothing leaves
  while a ``RetryInfo`` delay runs (counted from the 429's reading); the quota is "at most
  B in any T seconds", learned from our sends (a delay counted from the refused send: the
  way back is in no window) and lowered only by refusals our sends bear out. A lone
  refusal stating no limit puts the model on trial (obeyed, nothing learned, one request
  alone at its free time); a reading refuted by what the service just admitted (a window
  of T that let through more than 2 B of ours) gives way to the windows that end at the
  free time.
- **A cap on requests in progress** is a quota that frees the moment one of ours ends:
  one storm whose free time an answer of ours meets sets it, on any run; its refusals
  teach the pace nothing.
- **Shared state is read at decisions only**: a send and a refusal each open the quota's
  store once (the ledger: a locked file), whole, on the loop, so that no send can slip
  past a refusal's delay; answers and the figures read for sizing touch no store.
- **A halt** (:meth:`~Admission.halt`) wakes every waiter; they leave with no slot and
  send nothing.

Why each rule: docs/design.md, "Admission".
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable

import anyio

from ..errors import RateLimited
from ..ledger.state import StateStore
from .gate import ConcurrencyGate
from .pacer import Pacer, RateLimitNote

__all__ = ["Admission", "Ticket"]

# Requests out at once before anything is known: a tier-1 minute of gemini-3-pro-image (20)
# and a fifth more. A smaller quota refuses the excess at once, at no cost (a refused
# request counts for nothing), and the excess's refusals state when the window frees: a
# lone refusal inside the burst (request 3 refused, the rest admitted) is then outvoted
# at once instead of probed.
_FIRST_BURST = 24
# Real seconds: the least time over which runs sharing a state split a first burst when no
# window is known (see __init__).
_SHARED_SPLIT = 0.25


class Ticket:
    """One admitted request: when it left, and whether it has been reported."""

    __slots__ = ("number", "reported", "sent_at")

    def __init__(self, number: int, sent_at: float) -> None:
        self.number = number
        self.sent_at = sent_at
        self.reported = False

    def __repr__(self) -> str:
        state = "reported" if self.reported else "out"
        return f"<Ticket {self.number} sent_at={self.sent_at:.3f} {state}>"


class Admission:
    """Admits one run's requests: a FIFO of slots, then the pace.

    Args:
        rpm: requests per ``period`` the user says the quota allows (a ceiling), if known.
        concurrency: a fixed number of requests at once, if the user chose one.
        scale: this run's time scale (1.0 real time; an emulator's, smaller).
        store: the quota's state shared with other runs (the ledger), if any.
        on_wait: called with the seconds left when this run begins waiting on a pause
            another run's 429 began.
        clock: monotonic time in seconds.
        sleep: awaitable sleep.
    """

    __slots__ = (
        "_clock",
        "_gate",
        "_grace",
        "_halted",
        "_numbers",
        "_on_wire",
        "_pacer",
        "_pending_cap",
        "_sleep",
        "_storm_capped",
        "_waits",
    )

    def __init__(
        self,
        *,
        rpm: float | None,
        concurrency: int | None,
        scale: float = 1.0,
        store: StateStore | None = None,
        on_wait: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        # Longer than a 429's round trip, shorter than any image: a request out longer
        # than this was admitted and is generating.
        self._grace = 1.0 * scale
        self._pacer = Pacer(
            rpm=rpm,
            period=60.0 * scale,
            first_pause=2.0 * scale,
            probe_grace=self._grace,
            # Runs sharing a state learn of another's refusal only once its process has
            # read the answer and recorded it, and at their own next decision: tens to
            # hundreds of real milliseconds on a loaded machine, which no time scale
            # shortens. Split every 40 ms (x0.04), a first burst let three runs send 60
            # requests at a window of 20 before the first refusal reached them.
            presumed_span=max(self._grace, _SHARED_SPLIT),
            probe_first=store is not None,
            history=3600.0 * scale,
            store=store,
            on_wait=on_wait,
            clock=clock,
            sleep=sleep,
        )
        self._gate = ConcurrencyGate(
            fixed=concurrency, initial=_FIRST_BURST, typical_latency=20.0 * scale
        )
        self._gate.retune(self._pacer.rate_per_second, self._pacer.burst)
        self._clock = clock
        self._sleep = sleep
        self._waits: set[anyio.CancelScope] = set()
        self._on_wire: dict[int, float] = {}
        self._numbers = itertools.count(1)
        self._halted = False
        self._storm_capped = False  # the cap explains the running storm of refusals
        # When the quota said it frees, while a storm's evidence of a cap is weighed.
        self._pending_cap: float | None = None

    def __repr__(self) -> str:
        return f"<Admission {self._gate!r} {self._pacer!r} out={len(self._on_wire)}>"

    # -- what the display and the results read -------------------------------------------

    @property
    def limit(self) -> int:
        """Requests that may be paced or on the wire at once, now."""
        return self._gate.limit

    @property
    def cap(self) -> int | None:
        """The cap on requests in progress learned from 429s, if any."""
        return self._gate.cap

    @property
    def peak(self) -> int:
        return self._gate.peak

    @property
    def model(self) -> tuple[int, float] | None:
        """The learned window ``(B, T)``, or ``None``."""
        return self._pacer.model

    @property
    def rate_limit_waits(self) -> int:
        """Pauses this run waited through, its own 429s' or another run's."""
        return self._pacer.rate_limit_waits

    # -- the verbs ---------------------------------------------------------------------

    async def ask(self) -> Ticket | None:
        """Wait for a slot and the pace, and count the request as sent.

        Returns:
            The request's ticket, to report back with; ``None`` when the run halted
            meanwhile (nothing may be sent, and no slot is held).
        """
        if self._halted:
            return None
        held = False
        sent_at: float | None = None
        with anyio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                await self._gate.__aenter__()
                held = True
                sent_at = await self._pacer.acquire()
            finally:
                self._waits.discard(scope)
                if held and (sent_at is None or self._halted):
                    self._gate.release()
        if sent_at is None or self._halted:
            return None
        ticket = Ticket(next(self._numbers), sent_at)
        self._on_wire[ticket.number] = sent_at
        return ticket

    def answered(self, ticket: Ticket) -> None:
        """The request was answered: its latency sizes the slots; the slot is free."""
        out = len(self._on_wire)
        if not self._report(ticket):
            return
        self._weigh_cap(out)
        self._gate.observe(
            self._clock() - ticket.sent_at,
            rate_per_second=self._pacer.rate_per_second,
            burst=self._pacer.burst,
            success=True,
        )
        self._gate.release()

    async def refused(self, ticket: Ticket, error: RateLimited) -> RateLimitNote:
        """The request was refused with a 429: obey its delay, weigh what it shows.

        Returns:
            The pause every sender now waits, and whether it began a new wait.
        """
        now = self._clock()
        if not error.overload and self._pacer.paused_for() <= 0:  # a storm begins
            out = len(self._on_wire) - 1  # ours out besides this one
            capped = self._gate.cap is not None
            self._storm_capped = self._gate.on_quota_refused(self._generating(now), out)
            if self._gate.cap is not None and not capped:
                self._pacer.forget_model()  # it was learned from the cap's refusals
            possible = error.limit is None or out >= error.limit  # fewer out: no cap of that
            if possible and error.retry_delay is not None and error.retry_delay > self._grace:
                self._pending_cap = now + error.retry_delay
        self._report(ticket)
        try:
            # One decision on the quota's state, whole, on the loop: no send decided
            # meanwhile can miss this refusal's delay (decided in worker threads, runs
            # sharing the ledger in one process sent inside delays).
            note = self._pacer.on_rate_limited(
                error.retry_delay,
                sent_at=ticket.sent_at,
                overload=error.overload,
                limit=error.limit,
                learn=not self._storm_capped,
            )
        finally:
            self._gate.retune(self._pacer.rate_per_second, self._pacer.burst)
            self._gate.release()
        return note

    def _weigh_cap(self, out: int) -> None:
        """An answer came, with ``out`` of ours out before it: did the quota free with it?

        Only a cap frees the moment one of ours ends; an answer well before the announced
        free time shows the quota did not (a window, then). Either way one answer settles it.
        """
        frees_at, self._pending_cap = self._pending_cap, None
        # Before the free time, the quota stayed shut as ours ended: not a cap; after it,
        # the free time passed with nothing of ours ending.
        if frees_at is None or abs(self._clock() - frees_at) > self._grace:
            return
        capped = self._gate.cap is not None
        self._gate.learn_cap(out)
        if self._gate.cap is not None and not capped:
            self._pacer.forget_model()  # it was learned from the cap's refusals

    def withdraw(self, ticket: Ticket) -> None:
        """The request ended otherwise (another error, or cut): the slot is free."""
        if self._report(ticket):
            self._gate.release()

    def halt(self) -> None:
        """Nothing more is sent: every waiter wakes, with no slot, and sends nothing."""
        self._halted = True
        for scope in self._waits:
            scope.cancel()

    def _report(self, ticket: Ticket) -> bool:
        if ticket.reported:
            return False
        ticket.reported = True
        del self._on_wire[ticket.number]
        return True

    def _generating(self, now: float) -> int:
        """Our requests out long enough to be generating: a refusal comes back fast."""
        admitted_after = now - self._grace
        return sum(1 for sent in self._on_wire.values() if sent <= admitted_after)
