"""Per-key quotas, and the honest delay a breach announces.

Each (key, model) pair is one "project and model" of the real service (its quota ids say
``PerProjectPerModel``), so two runs on one key share one quota. A pair has any number of
rate quotas (:mod:`.rates`, counted by :mod:`.windows`), a cap on generations in progress,
and optionally another client's share (:mod:`.other_client`). Every method takes ``now``
from its caller and never reads a clock, so the same book serves the emulator and a
simulated schedule (:mod:`.schedule`). Why the delay is honest: docs/design.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .other_client import OtherClient, Phantom
from .rates import RateQuota
from .windows import Window, until, window_for

if TYPE_CHECKING:
    from .settings import EmulatorSettings

__all__ = [
    "Admission",
    "Breach",
    "Label",
    "QuotaBook",
]

Label = Literal["minute", "day", "concurrent"]


@dataclass(frozen=True, slots=True)
class Breach:
    """A request refused for quota.

    Attributes:
        label: how the 429 names the limit hit: ``day`` for a rate quota of a day or
            more, ``minute`` for any shorter one (whatever its real window), or
            ``concurrent``.
        limit: that limit's value, the ``quotaValue`` a 429 states.
        delay: seconds (already time-scaled) until the same request would be admitted.
        quota: the rate quota hit, or ``None`` for concurrency.
    """

    label: Label
    limit: int
    delay: float
    quota: RateQuota | None = None


@dataclass(slots=True, eq=False)
class Admission:
    """One admitted request, kept until :meth:`QuotaBook.release` or its due time."""

    owner: tuple[str, str]
    due: float


class _Pair:
    """What one (key, model) has used: its rate windows, its generations, its neighbour."""

    __slots__ = ("in_flight", "other", "windows")

    def __init__(self, windows: list[Window], other: Phantom | None) -> None:
        self.windows = windows
        self.in_flight: list[Admission] = []
        self.other = other

    def __repr__(self) -> str:
        windows = " ".join(repr(w) for w in self.windows)
        return f"<_Pair {windows} in_flight={len(self.in_flight)} other={self.other!r}>"


class QuotaBook:
    """The quota state of every (key, model) seen, with the limits it enforces.

    Args:
        quotas: the rate quotas of every pair.
        max_concurrent: generations in progress allowed per pair (``None``: no limit).
        other_client: another client taking its share on every pair, if any.
        time_scale: multiplies every window and the other client's interval and latency.
        origin: the time fixed windows count from (the emulator's start).
    """

    __slots__ = (
        "_origin",
        "_other_hold",
        "_other_interval",
        "_pairs",
        "_scale",
        "max_concurrent",
        "other_client",
        "quotas",
    )

    def __init__(
        self,
        quotas: Iterable[RateQuota] = (),
        *,
        max_concurrent: int | None = None,
        other_client: OtherClient | None = None,
        time_scale: float = 1.0,
        origin: float = 0.0,
    ) -> None:
        self.quotas = tuple(sorted(quotas, key=lambda q: not q.per_day))
        self.max_concurrent = max_concurrent
        self.other_client = other_client
        self._scale = time_scale
        self._origin = origin
        self._other_interval = self._other_hold = 0.0
        if other_client is not None:
            self._other_interval = other_client.window * time_scale / other_client.rate
            self._other_hold = other_client.latency * time_scale
        self._pairs: dict[tuple[str, str], _Pair] = {}

    @classmethod
    def for_settings(cls, settings: EmulatorSettings, *, origin: float) -> QuotaBook:
        """The book an emulator with ``settings``, started at ``origin``, keeps."""
        return cls(
            settings.rate_quotas,
            max_concurrent=settings.max_concurrent,
            other_client=settings.other_client,
            time_scale=settings.time_scale,
            origin=origin,
        )

    def __repr__(self) -> str:
        quotas = " ".join(str(q) for q in self.quotas) or "none"
        other = f" other_client={self.other_client}" if self.other_client else ""
        return (
            f"<QuotaBook quotas={quotas} max_concurrent={self.max_concurrent}{other} "
            f"pairs={len(self._pairs)}>"
        )

    def clear(self) -> None:
        """Forget every admission (in-flight requests release into nothing)."""
        self._pairs.clear()

    def _pair(self, key: str, model: str, now: float) -> _Pair:
        pair = self._pairs.get((key, model))
        if pair is None:
            windows = [
                window_for(q, time_scale=self._scale, origin=self._origin, now=now)
                for q in self.quotas
            ]
            other = Phantom(self._other_interval, now) if self.other_client else None
            pair = self._pairs[(key, model)] = _Pair(windows, other)
        return pair

    def _breach(self, pair: _Pair, now: float) -> Breach | None:
        """The breach a request arriving ``now`` would cause, if any.

        Rate quotas are checked day-long ones first: when a day is full too, that is what
        the client must hear about, since waiting a minute will not help; the first one
        breached names itself in the 429. A refused request consumes nothing, so every
        limit only frees up while nothing is admitted, and the delay is the latest "free
        at" among the limits breached, not the first one's. For concurrency it is the time
        until enough in-flight generations are due to end: they count by *due time*
        (``admitted_at + latency``), not by when the answer has finished sending, so the
        delay stays honest while an answer is still being encoded. The cost: with latency
        off, a request is due at once and never counts.
        """
        named: tuple[Label, int, RateQuota | None] | None = None
        latest = now
        for window in pair.windows:
            free = window.free_at(now)
            if free is not None:
                hit = window.quota
                named = named or ("day" if hit.per_day else "minute", hit.limit, hit)
                latest = max(latest, free)
        pair.in_flight = [a for a in pair.in_flight if a.due > now]
        cap = self.max_concurrent
        if cap is not None and len(pair.in_flight) >= cap:
            dues = sorted(a.due for a in pair.in_flight)
            named = named or ("concurrent", cap, None)
            latest = max(latest, dues[len(dues) - cap])
        if named is None:
            return None
        label, limit, quota = named
        return Breach(label, limit, until(latest, now), quota)

    def _admit(self, pair: _Pair, owner: tuple[str, str], now: float, due: float) -> Admission:
        for window in pair.windows:
            window.admit(now)
        admission = Admission(owner, due)
        pair.in_flight.append(admission)
        return admission

    def _play_other(self, pair: _Pair, owner: tuple[str, str], now: float) -> None:
        """Play the other client's tries due by ``now``, in time order (ties go first)."""
        other = pair.other
        if other is None:
            return
        while other.next_try <= now:
            at = other.next_try
            breach = self._breach(pair, at)
            if breach is None:
                self._admit(pair, owner, at, at + self._other_hold)
                other.on_admitted(at)
            else:
                other.on_refused(at, breach.delay)

    def check(self, key: str, model: str, now: float) -> Breach | None:
        """The breach a request arriving ``now`` would cause, or ``None`` if it may go."""
        pair = self._pair(key, model, now)
        self._play_other(pair, (key, model), now)
        return self._breach(pair, now)

    def admit(self, key: str, model: str, now: float, due: float) -> Admission:
        """Count a request arriving ``now`` whose generation ends at ``due``."""
        pair = self._pair(key, model, now)
        self._play_other(pair, (key, model), now)
        return self._admit(pair, (key, model), now, due)

    def release(self, admission: Admission) -> None:
        """The request has been answered (or abandoned)."""
        pair = self._pairs.get(admission.owner)
        if pair is not None:
            with suppress(ValueError):
                pair.in_flight.remove(admission)

    def catch_up(self, now: float) -> None:
        """Play the other client's tries due by ``now`` on every pair (before reading stats)."""
        for owner, pair in self._pairs.items():
            self._play_other(pair, owner, now)

    def other_client_counts(self) -> dict[str, int]:
        """The other client's tries so far, summed over every pair: admitted and refused."""
        pairs = [p.other for p in self._pairs.values() if p.other is not None]
        return {
            "admitted": sum(p.admitted for p in pairs),
            "refused": sum(p.refused for p in pairs),
        }
