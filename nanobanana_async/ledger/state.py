"""What is known about one key's quota: the state the pacer decides from, and its stores.

Plain data, so that it can be shared: :class:`MemoryStore` keeps it for one process, the
file ledger (:mod:`.file`) for the runs of one machine, the Redis ledger
(:mod:`.redis_store`) for those of many. The engine's pacer owns what the fields mean and
how they change; this module only says which of them are times, so a store can move them
from one clock to another, and how they are written as JSON.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "MemoryStore",
    "QuotaState",
    "StateConflict",
    "StateStore",
    "shifted",
    "state_from_json",
    "state_to_json",
]


@dataclass(slots=True)
class QuotaState:
    """What is known about one key's quota for one model; plain data, so it can be shared.

    Attributes:
        sends: send times of requests the quota did not refuse (in flight or answered),
            oldest first.
        owners: the run that made each send, in the same order.
        wanting: per run, until when it is known to want to send (it is waiting to, or
            just did); the runs wanting now split each window between them.
        pause_until: no request leaves before this time.
        burst: the model's ``B``: our sends any window of ``span`` admits (``None``: none
            learned).
        span: the model's ``T`` in seconds.
        limit: the smallest ``quotaValue`` the service stated.
        grow_at: when the model may grow, if it is still holding requests back.
        probe_wait: windows to wait between two growths.
        grown_from: ``B`` before the last growth, until a window confirms or refutes it.
        probe_next: the next send goes alone (after a pause that named no delay).
        probe_until: while a lone probe is out, nobody else sends before this.
        probe_sent: when the lone probe left.
        refused_at: when the last 429 without a delay came (awaiting the probe's verdict).
        announced_until: the latest free time a quota 429 announced.
        storm_frees: the running storm's free time as our sends see it: the latest of its
            refusals' send time plus delay (the window is learned from it, not from when
            the refusals were read).
        freed_at: the latest announced free time that has passed: our sends before it
            were in a window that has freed, so no later observation counts them.
        trial_at: when a lone refusal that stated no limit last put the model on trial.
        learned_at: when the model was last learned from a refusal.
        evidence_since: ``learned_at`` as the running storm began: only our sends after
            it can refute what the storm shows (earlier ones were read already).
        before: the model as it was when the running pause began; every 429 of one storm
            refines one observation from there, so the storm's last word is what counts.
    """

    sends: list[float] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    wanting: dict[str, float] = field(default_factory=dict)
    pause_until: float = -math.inf
    burst: int | None = None
    span: float | None = None
    limit: float | None = None
    grow_at: float = math.inf
    probe_wait: int = 1
    grown_from: int | None = None
    probe_next: bool = False
    probe_until: float = -math.inf
    probe_sent: float = -math.inf
    refused_at: float | None = None
    announced_until: float = -math.inf
    storm_frees: float = -math.inf
    freed_at: float = -math.inf
    trial_at: float = -math.inf
    learned_at: float = -math.inf
    evidence_since: float = -math.inf
    before: tuple[int | None, float | None, float, int, int | None] | None = None


class StateConflict(Exception):
    """Raised as a decision's block ends: another run's decision was kept first, so this
    one was made on a state that is no longer the latest, and is not kept. The store now
    holds the newer state; the decision is to be made again on it."""


class StateStore(Protocol):
    """Where a :class:`Pacer` keeps its :class:`QuotaState`.

    ``open()`` hands out the state for one decision and keeps it when the block ends (the
    file store writes it back and releases its lock; the Redis store writes it only if no
    other run's decision was kept meanwhile, else raises :class:`StateConflict`); nothing
    awaits inside the block.
    """

    def open(self) -> AbstractContextManager[QuotaState]: ...


class MemoryStore:
    """One process's state, unshared."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = QuotaState()

    def __repr__(self) -> str:
        return f"<MemoryStore {self.state!r}>"

    @contextmanager
    def open(self) -> Iterator[QuotaState]:
        yield self.state


_FIELDS = {f.name: f for f in dataclasses.fields(QuotaState)}
# The fields that are times on the pacer's clock (every other one is a count or a length).
_TIMES = (
    "pause_until",
    "grow_at",
    "probe_until",
    "probe_sent",
    "announced_until",
    "storm_frees",
    "freed_at",
    "trial_at",
    "learned_at",
    "evidence_since",
)


def shifted(state: QuotaState, delta: float) -> QuotaState:
    """``state`` with every time moved by ``delta`` seconds, in place (infinities stay).

    Why: a store shared by machines keeps times on one clock they can all read (the
    server's); each machine moves them onto its own monotonic clock as it reads, and back
    as it writes.
    """
    if delta == 0.0:
        return state
    state.sends = [t + delta for t in state.sends]
    state.wanting = {run: t + delta for run, t in state.wanting.items()}
    for name in _TIMES:
        setattr(state, name, getattr(state, name) + delta)
    if state.refused_at is not None:
        state.refused_at += delta
    if state.before is not None:
        burst, span, grow_at, wait, grown_from = state.before
        state.before = (burst, span, grow_at + delta, wait, grown_from)
    return state


def state_to_json(state: QuotaState) -> dict[str, Any]:
    """``state`` as JSON-ready data (an infinity is written as ``null``: its default)."""
    data: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(state, name)
        if isinstance(value, float) and math.isinf(value):
            value = None
        elif isinstance(value, tuple):
            value = [None if isinstance(v, float) and math.isinf(v) else v for v in value]
        elif isinstance(value, list | dict):
            value = value.copy()  # the caller may go on changing the state
        data[name] = value
    return data


def state_from_json(data: object) -> QuotaState:
    """What :func:`state_to_json` wrote; anything else (another version, a planted value)
    is dropped field by field, never trusted whole: the state is evidence, not a promise."""
    state = QuotaState()
    if not isinstance(data, dict):
        return state
    for name, spec in _FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        try:
            _set(state, name, spec, value)
        except (TypeError, ValueError):
            continue  # a field of the wrong shape keeps its default
    if not all(isinstance(v, int | float) for v in state.wanting.values()):
        state.wanting = {}
    if len(state.owners) != len(state.sends) or not all(isinstance(o, str) for o in state.owners):
        state.owners = ["?"] * len(state.sends)  # a send of nobody now running
    return state


def _set(state: QuotaState, name: str, spec: dataclasses.Field[Any], value: object) -> None:
    if name == "before":
        before = list(value) if isinstance(value, list) else []
        if len(before) == 5:
            grow_at = math.inf if before[2] is None else float(before[2])
            state.before = (before[0], before[1], grow_at, int(before[3]), before[4])
    elif name == "sends":
        if isinstance(value, list):
            state.sends = [float(v) for v in value if isinstance(v, int | float)]
    elif name == "owners":
        if isinstance(value, list):
            state.owners = [str(v) for v in value]
    elif name == "wanting":
        if isinstance(value, dict):
            state.wanting = {str(k): float(v) for k, v in value.items()}
    elif isinstance(spec.default, float):
        state_value = float(value)  # type: ignore[arg-type]
        setattr(state, name, state_value)
    elif name in ("burst", "probe_wait", "grown_from"):
        setattr(state, name, int(value))  # type: ignore[call-overload]
    elif name in ("span", "limit", "refused_at"):
        setattr(state, name, float(value))  # type: ignore[arg-type]
    elif name == "probe_next":
        state.probe_next = bool(value)
