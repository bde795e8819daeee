"""What is known about one key's quota: the state the pacer decides from, and its stores.

Plain data, so that it can be shared: :class:`MemoryStore` keeps it for one process, the
ledger (:mod:`.ledger`) in a file the runs of one machine share. The :mod:`.pacer` owns
what the fields mean and how they change.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["MemoryStore", "QuotaState", "StateStore"]


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


class StateStore(Protocol):
    """Where a :class:`Pacer` keeps its :class:`QuotaState`.

    ``open()`` hands out the state for one decision and keeps it (a file store writes it
    back and releases its lock when the block ends); nothing awaits inside the block.
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
