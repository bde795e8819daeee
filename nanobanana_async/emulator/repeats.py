"""How many times the very same generation request has come: its image's ``#k`` mark.

The real service never draws the same image twice, so N variants of a slide sent as N
identical requests (``candidateCount`` above 1 is refused) come back as N different images.
The emulator's renders are deterministic; it tells them apart by counting each body (and
model) it admits, and marking the k-th one ``#k`` (:mod:`.generation`). The count is kept
for the most recent bodies only, and cleared by the emulator's reset.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

__all__ = ["Repeats"]

_KEPT = 4096


class Repeats:
    """Counts of identical requests by (model, body digest), for the last 4096 bodies.

    Not thread-safe: the app calls it under its lock.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: OrderedDict[tuple[str, bytes], int] = OrderedDict()

    @staticmethod
    def digest(body: bytes) -> bytes:
        """What identifies a body (computed outside the app's lock: a body may be 20 MB)."""
        return hashlib.sha256(body).digest()

    def count(self, model: str, digest: bytes) -> int:
        """This request's ordinal among identical ones (same model, same body digest)."""
        key = (model, digest)
        seen = self._counts.pop(key, 0) + 1
        self._counts[key] = seen
        while len(self._counts) > _KEPT:
            self._counts.popitem(last=False)
        return seen

    def clear(self) -> None:
        self._counts.clear()
