"""Which Flex requests are waiting in the service's queue, and what that does to the ETA.

A Flex request may wait up to 15 minutes before its answer starts (Google's target is 1 to
15): a run whose slides are all on Flex looks stuck for minutes unless it says why. The
progress tracker feeds this the requests sent and ended; a snapshot asks it which have
waited past :data:`QUEUED_AFTER_S` (the status says ``queued (flex) 4 min``) and, until the
first Flex answer arrives, lifts the ETA to what is left of the queue's 15 minutes: the pace
of standard answers says nothing of Flex's.
"""

from __future__ import annotations

import math

from ..service.tiers import FLEX_QUEUE_S

__all__ = ["QUEUED_AFTER_S", "FlexQueue", "queued_words"]

QUEUED_AFTER_S = 60.0
"""A Flex request on the wire this long is said to be queued (a standard answer's usual
time is well under it: docs/gemini-protocol.md)."""


class FlexQueue:
    """The Flex requests on the wire, by slide, and whether a Flex answer came yet.

    Args:
        scale: the run's time scale (an emulator's minutes are scaled): it multiplies the
            queue's 15 minutes and the threshold.
    """

    __slots__ = ("_answered", "_scale", "_sent")

    def __init__(self, scale: float = 1.0) -> None:
        self._scale = scale
        self._sent: dict[int, float] = {}
        self._answered = False

    def __repr__(self) -> str:
        return f"<FlexQueue waiting={sorted(self._sent)} answered={self._answered}>"

    def sent(self, slide: int, at: float, tier: str) -> None:
        if tier == "flex":
            self._sent[slide] = at
        else:
            self._sent.pop(slide, None)

    def ended(self, slide: int, *, answered: bool) -> None:
        """``slide``'s request ended: ``answered`` (an image came), or not (retried, failed)."""
        if self._sent.pop(slide, None) is not None and answered:
            self._answered = True

    def clear(self) -> None:
        self._sent.clear()

    def queued(self, now: float) -> tuple[list[int], float]:
        """The slides queued past the threshold at ``now``, and the longest wait (seconds)."""
        waits = {slide: now - at for slide, at in self._sent.items()}
        slides = sorted(s for s, wait in waits.items() if wait >= QUEUED_AFTER_S * self._scale)
        return slides, max((waits[s] for s in slides), default=0.0)

    def eta_floor(self, now: float) -> int | None:
        """Before any Flex answer: what is left of the oldest request's 15 minutes."""
        if self._answered or not self._sent:
            return None
        oldest = min(self._sent.values())
        return max(0, math.ceil(FLEX_QUEUE_S * self._scale - (now - oldest)))


def queued_words(seconds: float) -> str:
    """``queued (flex) 4 min``: the longest wait, in whole minutes (at least 1)."""
    return f"queued (flex) {max(1, int(seconds // 60))} min"
