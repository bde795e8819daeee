"""When the next request may leave, under a quota nobody states.

Every attempt, retries included, calls :meth:`Pacer.acquire` right before it is sent and
reports a 429 back with the send time that :meth:`~Pacer.acquire` returned. The service's
``RetryInfo`` delay is obeyed; the quota's shape is learned from our own sends as "at most
B in any T seconds", lowered only by evidence, raised by probing. The rule and why it is
built so: docs/design.md, "Admission". The state it decides from is
:mod:`~nanobanana_async.ledger.state`'s; a decision is a function of that state, made again
on a newer one when a shared store kept another run's first (:meth:`Pacer._decide`).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from ..ledger.state import MemoryStore, QuotaState, StateConflict, StateStore

_T = TypeVar("_T")

__all__ = ["Pacer", "RateLimitNote", "SendNote"]

_GROWTH = 1.5
_MAX_PROBE_WAIT = 4
# How far from ``T`` a window the model knew may have moved and still be that window.
_KNOWN_SLACK = 0.05
_UNANNOUNCED_FRACTION = 0.1
# The most sends remembered (besides the ``history`` horizon), so a ledger stays small.
_MAX_SENDS = 4096
# How far a send's time may be from the one :meth:`Pacer.acquire` returned and still be it.
_SAME_SEND = 1e-3


@dataclass(frozen=True, slots=True)
class RateLimitNote:
    """What :meth:`Pacer.on_rate_limited` decided.

    Attributes:
        pause: seconds from now before any request leaves.
        new_wait: this 429 began a new wait (no pause was running).
    """

    pause: float
    new_wait: bool


@dataclass(frozen=True, slots=True)
class SendNote:
    """What :meth:`Pacer.try_send` decided.

    Attributes:
        sent_at: the send time, counted as sent; ``None``: wait first.
        wait: seconds to wait before asking again.
        new_wait: the seconds left of a pause this run begins waiting on (another run's
            429 began it), once per pause; else ``None``.
    """

    sent_at: float | None
    wait: float
    new_wait: float | None


class Pacer:
    """Decides when the next request may leave.

    Args:
        rpm: requests per ``period`` the user says the quota allows (a ceiling), if known.
        period: the length of a minute in this run's time (60, or scaled for an emulator).
        margin: fraction added to every window length: the service starts counting a
            request when it admits it, a round trip and some queueing after we send it
            (under a burst, tens of milliseconds).
        first_pause: the first pause after a 429 that named no delay, in seconds.
        probe_grace: how long a lone probe must go unrefused to count as admitted.
        presumed_burst: the window assumed before any is learned, for splitting a first
            burst between runs (the gate's starting width).
        presumed_span: how often that first burst is split again between runs, until a
            window is learned (default ``probe_grace``): no shorter than another run takes
            to hear of a refusal.
        probe_first: send a lone probe before anything else when nothing is known, for a
            state shared with other runs (one run alone has nothing to learn from it).
        history: how long sends are remembered, in seconds.
        store: where the state lives (default: in memory).
        on_wait: called with the seconds left when this run begins waiting on a pause that
            another run's 429 began (this run's own 429s are reported by
            :meth:`on_rate_limited`).
        clock: monotonic time in seconds.
        sleep: awaitable sleep.
    """

    __slots__ = (
        "_ceiling",
        "_clock",
        "_first_pause",
        "_forget_asked",
        "_history",
        "_margin",
        "_on_wait",
        "_period",
        "_presumed_burst",
        "_presumed_span",
        "_probe_first",
        "_probe_grace",
        "_run",
        "_seen",
        "_seen_pause",
        "_sleep",
        "_store",
        "_turn",
        "rate_limit_waits",
    )

    def __init__(
        self,
        *,
        rpm: float | None,
        period: float = 60.0,
        margin: float = 0.025,
        first_pause: float = 2.0,
        probe_grace: float = 1.0,
        presumed_burst: int = 20,
        presumed_span: float | None = None,
        probe_first: bool = False,
        history: float = 3600.0,
        store: StateStore | None = None,
        on_wait: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._ceiling = None if rpm is None else max(1, math.floor(rpm + 1e-9))
        self._period = period
        self._margin = margin
        self._first_pause = first_pause
        self._probe_grace = probe_grace
        self._presumed_burst = presumed_burst
        self._presumed_span = probe_grace if presumed_span is None else presumed_span
        self._probe_first = probe_first
        self._history = history
        self._store: StateStore = store if store is not None else MemoryStore()
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._run = secrets.token_hex(4)
        self._seen_pause = -math.inf
        self._forget_asked = False  # drop the model at the next decision (forget_model)
        # The model and pause as the last decision left them: what the properties read,
        # so reading them opens no store (a ledger is a locked file).
        self._seen: tuple[int | None, float | None, float] = (None, None, -math.inf)
        self.rate_limit_waits = 0
        self._turn = anyio.Lock()  # the askers' queue (:meth:`acquire`)

    def __repr__(self) -> str:
        model = self.model
        shown = "unknown" if model is None else f"{model[0]}/{model[1]:.3g}s"
        return (
            f"<Pacer model={shown} ceiling={self._ceiling} paused_for={self.paused_for():.2f}s "
            f"waits={self.rate_limit_waits}>"
        )

    # -- what the gate and the display read ---------------------------------------------

    @property
    def model(self) -> tuple[int, float] | None:
        """The learned ``(B, T)`` as the last decision saw it, or ``None`` before any."""
        burst, span, _ = self._seen
        return None if burst is None or span is None else (burst, span)

    def _keep(self, state: QuotaState) -> None:
        self._seen = (state.burst, state.span, state.pause_until)

    def refresh(self) -> None:
        """Read the shared state once, for the properties (a decision point of its own)."""
        self._decide(self._keep)

    def _decide(self, decision: Callable[[QuotaState], _T]) -> _T:
        """``decision`` on the store's state, whole.

        A store shared optimistically (Redis) raises :class:`StateConflict` when another
        run's decision was kept first: this run's own fields go back to what they were and
        the decision is made again, on the newer state, so no decision is lost or half kept.
        """
        while True:
            saved = (self._seen, self._seen_pause, self._forget_asked, self.rate_limit_waits)
            try:
                with self._store.open() as state:
                    return decision(state)
            except StateConflict:
                (self._seen, self._seen_pause, self._forget_asked, self.rate_limit_waits) = saved

    @property
    def burst(self) -> int | None:
        """Requests one window admits at once, ``None`` when nothing limits them."""
        model = self.model
        bursts = [b for b in (model[0] if model else None, self._ceiling) if b is not None]
        return min(bursts) if bursts else None

    @property
    def rate_per_second(self) -> float | None:
        """The long-run rate the pacer allows, ``None`` when nothing limits it."""
        model = self.model
        rates = []
        if model is not None:
            rates.append(model[0] / model[1])
        if self._ceiling is not None:
            rates.append(self._ceiling / self._period)
        return min(rates) if rates else None

    def forget_model(self) -> None:
        """Drop the learned window (the refusals it was learned from had another cause), at
        the next decision, which opens the store anyway."""
        self._forget_asked = True

    def _forget_if_asked(self, state: QuotaState) -> None:
        if self._forget_asked:
            self._forget_asked = False
            state.burst = state.span = state.grown_from = state.before = None
            state.grow_at = math.inf
            state.probe_wait = 1

    def paused_for(self) -> float:
        """Seconds until the pause the last decision saw ends (0 when none is running)."""
        return max(0.0, self._seen[2] - self._clock())

    # -- sending --------------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait until a request may be sent, and count it as sent.

        One asker at a time decides, first come first served; the others wait their turn
        here, not on the store. Twenty slides waiting on one window made twenty decisions
        each time any of them woke, each a locked file or a Redis round trip, where the
        first in line's is all that can send.

        Returns:
            The send time, to hand back to :meth:`on_rate_limited` if the request is refused.
        """
        async with self._turn:
            while True:
                try_ = self.try_send()
                if try_.sent_at is not None:
                    return try_.sent_at
                if try_.new_wait is not None and self._on_wait is not None:
                    self._on_wait(try_.new_wait)
                await self._sleep(try_.wait)

    def try_send(self) -> SendNote:
        """One decision, without waiting: count a send now, or say how long to wait.

        Synchronous, whole, on the loop: a send decided in another thread could miss a
        refusal being recorded meanwhile, and leave inside its delay.
        """
        return self._decide(self._try_send)

    def _try_send(self, state: QuotaState) -> SendNote:
        """:meth:`try_send`'s decision on ``state``."""
        self._forget_if_asked(state)
        now = self._clock()  # inside the decision: sends from every run stay in order
        wait = self._wait(state, now)
        if wait <= 0:
            if self._probe_first and state.burst is None and not state.sends:
                # Nothing known, nothing sent by any run: the first request goes
                # alone, so a window another run or deck has filled costs one 429,
                # not a burst, and runs started together split the first burst.
                state.probe_next = True
            if state.probe_next:
                state.probe_next = False
                state.probe_sent = now
                state.probe_until = now + self._probe_grace
            state.sends.append(now)
            state.owners.append(self._run)
            state.wanting[self._run] = now
            self._keep(state)
            return SendNote(now, 0.0, None)
        state.wanting[self._run] = now + wait
        waited = self._note_pause(state, now)
        self._keep(state)
        return SendNote(None, wait, waited)

    def _note_pause(self, state: QuotaState, now: float) -> float | None:
        """Count the running pause as one of this run's waits, once.

        A pause seen while the last one this run saw is still running extends that wait; any
        other is a new one, whether this run's 429 or another run's began it.

        Returns:
            The pause's remaining seconds if it is a new wait, else ``None``.
        """
        if state.pause_until <= now or state.pause_until <= self._seen_pause:
            return None
        new = now >= self._seen_pause
        self._seen_pause = state.pause_until
        if not new:
            return None
        self.rate_limit_waits += 1
        return state.pause_until - now

    def _wait(self, state: QuotaState, now: float) -> float:
        """Seconds until one more send is allowed (0 or less: now)."""
        self._forget(state, now)
        wait = state.pause_until - now
        if state.probe_until > now:
            wait = max(wait, state.probe_until - now)
        elif state.refused_at is not None and now >= state.probe_until > -math.inf:
            # The lone probe was not refused in time: it was admitted, so the quota had
            # freed by the time it left.
            self._observe(state, state.refused_at, state.probe_sent)
            state.freed_at = max(state.freed_at, state.probe_sent)
            state.refused_at = None
        if state.burst is not None and state.span is not None:
            held = self._window_wait(state.sends, state.burst, state.span, now)
            if held > 0 and wait <= 0 and now >= state.grow_at:
                self._grow(state, now)
                held = self._window_wait(state.sends, state.burst, state.span, now)
            wait = max(wait, held)
        wait = max(wait, self._share_wait(state, now))
        if self._ceiling is not None:
            wait = max(wait, self._window_wait(state.sends, self._ceiling, self._period, now))
        return wait

    def _share_wait(self, state: QuotaState, now: float) -> float:
        """Until this run is within its share of the window, while other runs want it too.

        Each run wanting to send gets ``B / runs`` of every window; a run that stops
        wanting (its deck is sent) stops counting a moment later, so no share goes unused
        for long. Before any window is known, the first burst is what is split: each run
        sends ``presumed_burst / runs`` per ``presumed_span``, so runs started together
        reach the service interleaved and the first window is shared too.
        """
        recent = now - self._probe_grace
        horizon = recent - (state.span or self._period)
        for run in [r for r, until in state.wanting.items() if until < horizon]:
            del state.wanting[run]  # long gone: forget it
        # This run wants to send: it is deciding to.
        wanting = sorted({self._run, *(r for r, until in state.wanting.items() if until >= recent)})
        runs = len(wanting)
        if runs <= 1:
            return 0.0
        if state.burst is not None and state.span is not None:
            burst, span = state.burst, state.span
        else:
            burst, span = self._presumed_burst, self._presumed_span
        # Every slot of the window is someone's: the first ``burst % runs`` runs (by id,
        # which every run sorts alike) take one more (20 for three: 7, 7, 6, not 6 each).
        share = max(1, burst // runs + (wanting.index(self._run) < burst % runs))
        mine = [t for t, owner in zip(state.sends, state.owners, strict=True) if owner == self._run]
        # Looked at again soon: the other runs may stop wanting long before this frees.
        return min(self._window_wait(mine, share, span, now), self._probe_grace)

    def _window_wait(self, sends: list[float], burst: int, span: float, now: float) -> float:
        """Until fewer than ``burst`` sends fall in the trailing ``span`` (stretched)."""
        window = span * (1.0 + self._margin)
        if len(sends) < burst:
            return 0.0
        oldest = sends[len(sends) - burst]
        return oldest + window - now if oldest > now - window else 0.0

    def _forget(self, state: QuotaState, now: float) -> None:
        horizon = now - max(self._history, 2 * (state.span or 0.0), 2 * self._period)
        sends = state.sends
        drop = 0
        while drop < len(sends) and (sends[drop] <= horizon or len(sends) - drop > _MAX_SENDS):
            drop += 1
        if drop:
            del sends[:drop]
            del state.owners[:drop]

    def _grow(self, state: QuotaState, now: float) -> None:
        assert state.burst is not None
        assert state.span is not None
        cap = self._cap(state)
        if cap is not None and state.burst >= cap:
            state.grow_at = math.inf
            return
        if state.grown_from is not None:
            state.probe_wait = 1  # the last growth held for a whole window: keep climbing
        state.grown_from = state.burst
        grown = max(state.burst + 1, math.ceil(state.burst * _GROWTH))
        state.burst = grown if cap is None else min(cap, grown)
        state.grow_at = now + state.span * state.probe_wait

    def _cap(self, state: QuotaState) -> int | None:
        caps = [c for c in (self._ceiling, state.limit) if c is not None]
        return max(1, math.floor(min(caps) + 1e-9)) if caps else None

    # -- what the service answered --------------------------------------------------------

    def on_rate_limited(
        self,
        retry_delay: float | None,
        *,
        sent_at: float | None = None,
        overload: bool = False,
        limit: float | None = None,
        learn: bool = True,
    ) -> RateLimitNote:
        """Record a 429: pause every sender until the quota frees; learn from it.

        Args:
            retry_delay: the server's ``RetryInfo`` delay, if it gave one.
            sent_at: what :meth:`acquire` returned for the refused request.
            overload: the 429 named no quota (a busy service): pause, learn nothing.
            limit: the request quota's ``quotaValue``, when stated.
            learn: ``False`` when something else explains the refusal (the gate's cap on
                requests in progress): pause as told, keep the model.
        """
        now = self._clock()

        def decide(state: QuotaState) -> RateLimitNote:
            return self._refused(state, now, retry_delay, sent_at, overload, limit, learn)

        return self._decide(decide)

    def _refused(
        self,
        state: QuotaState,
        now: float,
        retry_delay: float | None,
        sent_at: float | None,
        overload: bool,
        limit: float | None,
        learn: bool,
    ) -> RateLimitNote:
        """:meth:`on_rate_limited`'s decision on ``state``."""
        self._forget_if_asked(state)
        if sent_at is not None:
            _remove(state, sent_at, self._run)
        lone = now >= state.pause_until
        if lone:  # a new storm: its 429s all refine one observation
            state.evidence_since = state.learned_at
            state.storm_frees = -math.inf
            state.before = (
                state.burst,
                state.span,
                state.grow_at,
                state.probe_wait,
                state.grown_from,
            )
        if limit is not None and limit > 0:
            state.limit = limit if state.limit is None else min(state.limit, limit)
        if retry_delay is not None:
            until = now + max(0.0, retry_delay)
            frees = _frees(state, until, sent_at, retry_delay)
        else:
            until = now + self._unannounced_pause(state, overload, now)
        state.pause_until = max(state.pause_until, until)
        if not overload:
            if retry_delay is not None and learn and self._on_trial(state, lone, limit, now):
                pass  # obeyed, nothing learned: a lone probe at the free time decides
            elif retry_delay is not None:
                state.refused_at = None
                state.probe_next = False
                if state.announced_until <= now:
                    state.freed_at = max(state.freed_at, state.announced_until)
                state.announced_until = max(state.announced_until, until)
                if learn:
                    trip = 1e-3 if sent_at is None else max(1e-3, now - sent_at)
                    self._observe(state, now, frees, trip)
            else:
                state.refused_at = now if learn else None
                state.probe_next = True
                state.probe_until = -math.inf
        cap = self._cap(state)
        if cap is not None and state.burst is not None and state.burst > cap:
            state.burst = cap
        new = self._note_pause(state, now) is not None
        self._keep(state)
        return RateLimitNote(max(0.0, state.pause_until - now), new)

    def _on_trial(self, state: QuotaState, lone: bool, limit: float | None, now: float) -> bool:
        """Whether this refusal only puts the model on trial: lone, and stating no limit.

        One refusal that names no limit may be the service's passing state, not the
        window's (it refused the third of a burst and admitted the seventeen after it). It
        is obeyed and teaches nothing; the next request after its delay goes alone. A
        refusal within two windows of the last trial confirms it and is learned from.
        """
        if not lone or limit is not None:
            return False
        if now - state.trial_at <= 2 * (state.span or self._period):
            return False
        state.trial_at = now
        state.probe_next = True
        state.probe_until = -math.inf
        state.refused_at = None
        return True

    def _unannounced_pause(self, state: QuotaState, overload: bool, now: float) -> float:
        """A pause the service did not announce: a tenth of how long the window has run.

        Probing at a fixed fraction of the window's age finds its end at most that
        fraction late, with a dozen lone probes for a window ten times the first pause.
        """
        if overload:
            return self._first_pause
        horizon = 2 * (state.span or self._period)
        opened = max([state.freed_at, now - horizon, *state.sends[:1]])
        age = max(0.0, now - opened)
        return min(max(self._first_pause, age * _UNANNOUNCED_FRACTION), horizon / 8)

    def _observe(
        self, state: QuotaState, refused_at: float, frees_at: float, shortest: float = 1e-3
    ) -> None:
        """Set the model from a quota 429 at ``refused_at`` whose window frees at ``frees_at``.

        ``shortest``: the refusal's round trip. A window shorter than that is one no send of
        ours can keep to: a delay shorter than its round trip (a bucket's next token) only
        shows the quota free by the time we read it (read as 1 ms, the next burst went out
        whole).
        """
        if state.before is not None:
            (state.burst, state.span, state.grow_at, state.probe_wait, state.grown_from) = (
                state.before
            )
        # Readings of the same evidence: the window reaches back to the quiet gap, or only
        # to the last announced free time (a fixed window reset then), or it is the window
        # the model already knew, opened by the send about ``T`` before ``F`` and counted by
        # the service a little later than we sent it. The widest is kept, then the
        # fastest: a model too generous is corrected by the next window's 429s at no cost
        # in time; one too narrow or too slow would make every later window crawl.
        windows = [
            w
            for since in (-math.inf, state.freed_at)
            if (w := _window(state.sends, since, refused_at, frees_at)) is not None
        ]
        if state.burst is not None and state.span is not None:
            opened = _known_opening(state.sends, state.span, refused_at, frees_at)
            if opened is not None:  # the known window, started later than we sent
                known = state.grown_from or state.burst  # a growth is still on trial
                windows.append((known, max(frees_at - opened, 1e-3)))
        windows = [(burst, max(span, shortest)) for burst, span in windows]
        if not windows:
            return  # nothing of ours is in the window: someone else filled it
        admitted = [s for s in state.sends if state.evidence_since < s <= refused_at]
        fits = [w for w in windows if not _contradicted(admitted, *w)]
        if not fits:
            # Every reading is refuted by what the service admitted since the model was
            # last learned: a window of T that let through more than 2 B of ours at once
            # (2 B: a fixed window's two halves) cannot be B per T. The windows that end at
            # the free time and hold ours without contradiction remain (a refusal after a
            # lone probe, the window still holding the first burst).
            for opened in sorted(set(admitted)):
                window = (sum(1 for s in admitted if s >= opened), max(frees_at - opened, shortest))
                if not _contradicted(admitted, *window):
                    fits.append(window)
        if not fits:
            return
        burst, span = max(fits, key=lambda w: (w[0], w[0] / w[1]))
        cap = self._cap(state)
        if cap is not None:
            burst = min(burst, cap)
        if state.grown_from is not None and burst <= state.grown_from:
            state.probe_wait = min(_MAX_PROBE_WAIT, state.probe_wait * 2)  # the probe found nothing
        elif state.grown_from is not None:
            state.probe_wait = 1
        state.grown_from = None
        state.burst = burst
        state.span = span
        state.grow_at = frees_at + span * state.probe_wait
        state.learned_at = refused_at


def _frees(state: QuotaState, until: float, sent_at: float | None, retry_delay: float) -> float:
    """When the quota frees as our sends see it: the time its window is learned from.

    The delay counts from the service's decision, somewhere between our send and our
    reading of the answer. Obeyed, it counts from the reading (``until``: nothing leaves
    early, however slow the way back). Learned from, it counts from the send: the way out
    is in every send of ours alike, the way back (the answer's write, our loop's lag) in
    none, and counting it made every window that much longer (a round trip of 2 s on a
    window of 10 s: 0.83 of the best schedule instead of 0.97). Of a storm's refusals, the
    one the service decided soonest after it left says most.
    """
    if sent_at is None:
        return until
    state.storm_frees = max(state.storm_frees, sent_at + max(0.0, retry_delay))
    return min(until, state.storm_frees)


def _window(
    sends: list[float], since: float, refused_at: float, frees_at: float
) -> tuple[int, float] | None:
    """``(B, T)``: the sends since the last quiet gap as long as the delay, and their span."""
    inside = [s for s in sends if since <= s <= refused_at]
    if not inside:
        return None
    gap = frees_at - refused_at
    first = len(inside) - 1
    while first > 0 and inside[first] - inside[first - 1] < gap:
        first -= 1
    return len(inside) - first, max(frees_at - inside[first], 1e-3)


def _contradicted(admitted: list[float], burst: int, span: float) -> bool:
    """Whether some ``span`` held more than ``2 * burst`` of ``admitted`` (sorted sends)."""
    first = 0
    for last, sent in enumerate(admitted):
        while sent - admitted[first] > span:
            first += 1
        if last - first + 1 > 2 * burst:
            return True
    return False


def _known_opening(
    sends: list[float], span: float, refused_at: float, frees_at: float
) -> float | None:
    """The send about ``span`` before ``frees_at``, if there is one: it opened the window.

    Only a send well before the refusal can be that: a window opened by the wave just sent
    is the wave's own evidence (a bucket refusing its second half), not the known window.
    """
    inside = [s for s in sends if s <= refused_at - span / 2]
    if not inside:
        return None
    opened = min(inside, key=lambda s: abs(s - (frees_at - span)))
    return opened if abs(opened - (frees_at - span)) <= _KNOWN_SLACK * span else None


def _remove(state: QuotaState, sent_at: float, run: str) -> None:
    """Take one of ``run``'s sends out of the log (it may already have aged out).

    The nearest within a millisecond, not only an equal one: a state shared across
    machines is kept on the server's clock, and a time moved there and back (about 1.8e9
    seconds, then a run's few thousand) comes back some 1e-7 s off.
    """
    best, gap = -1, _SAME_SEND
    for i in range(len(state.sends) - 1, -1, -1):
        if state.owners[i] == run and abs(state.sends[i] - sent_at) <= gap:
            best, gap = i, abs(state.sends[i] - sent_at)
            if gap == 0.0:
                break
    if best >= 0:
        del state.sends[best]
        del state.owners[best]
