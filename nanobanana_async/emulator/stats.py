"""What the emulator saw, for tests and benchmarks to judge a client by.

Only generations (``generateContent``, ``streamGenerateContent``) are counted in
``requests``, so it equals the sum of ``by_status`` once nothing is in flight; ``calls``
counts every API method called, generations included, by name (``countTokens``,
``models.list``, ...), and paths the API does not have go to ``other_requests``.
``batches`` counts batches created (in all, by display name, their requests) and
``files`` the uploads finalized, so a test can tell one batch from two. ``edits`` counts
edit requests admitted, ``signature_refusals`` the 400s for a thought signature. ``arrivals`` lists
each one, with when it arrived and was answered, the delay any 429 announced, and the
images it carried (``images``: :func:`image_digest` of each, in order). Keys appear
only as the first 8 hex digits of their SHA-256. :func:`inside_announced_delay` is the
verdict (why it is built so: docs/design.md, "The emulator"); status 499 marks a request
whose client went away first. Every method takes the lock: tests read from another thread.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CLIENT_GONE",
    "REACTION",
    "SLACK",
    "Arrival",
    "Stats",
    "fingerprint",
    "image_digest",
]

# nginx's "client closed request": the client went away before the answer was sent.
CLIENT_GONE = 499
# Seconds of rounding allowed on every announced delay.
SLACK = 1e-3
# Real seconds after a 429's answer from which a request on another connection counts as
# inside its delay: before that it may have been on its way (a burst of new connections
# reaches the app over a while, since the server accepts and parses them one at a time).
REACTION = 0.1


def fingerprint(key: str | None) -> str:
    """A short, non-reversible name for an API key (``"none"`` when there is none)."""
    if not key:
        return "none"
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def image_digest(data: bytes) -> str:
    """A short name for an image a request carried: 16 hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


class Arrival:
    """One ``generateContent`` request, filled in as it is answered."""

    __slots__ = (
        "answered",
        "conn",
        "epoch",
        "fault",
        "images",
        "key",
        "model",
        "n",
        "retry_delay",
        "status",
        "t",
    )

    def __init__(
        self, n: int, t: float, model: str, key: str, epoch: int = 0, conn: str = ""
    ) -> None:
        self.epoch = epoch
        # The client's address and port: which connection the request came on.
        self.conn = conn
        self.n = n
        self.t = t
        self.model = model
        self.key = key
        self.status: int | None = None
        self.fault: str | None = None
        # When the answer was sent, on the same clock as ``t``.
        self.answered: float | None = None
        # The delay a 429 announced to this request (RetryInfo), in seconds.
        self.retry_delay: float | None = None
        # image_digest of each inline image of a valid request, in order.
        self.images: list[str] = []

    def __repr__(self) -> str:
        return f"<Arrival n={self.n} t={self.t:.3f} {self.model} status={self.status}>"

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "t": self.t,
            "answered": self.answered,
            "model": self.model,
            "status": self.status,
            "key": self.key,
            "fault": self.fault,
            "retry_delay": self.retry_delay,
            "conn": self.conn,
            "images": list(self.images),
        }


class Stats:
    """Counters and the arrival log of one emulator."""

    __slots__ = (
        "_arrivals",
        "_batch_names",
        "_batch_requests",
        "_batches",
        "_by_fault",
        "_by_key",
        "_by_model",
        "_by_quota",
        "_by_status",
        "_calls",
        "_edits",
        "_epoch",
        "_file_bytes",
        "_files",
        "_lock",
        "_other",
        "_peak",
        "_signature_refusals",
        "in_flight",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self._epoch = 0
        self._clear()

    def __repr__(self) -> str:
        return f"<Stats requests={len(self._arrivals)} in_flight={self.in_flight}>"

    def _clear(self) -> None:
        self._arrivals: list[Arrival] = []
        self._by_status: Counter[str] = Counter()
        self._by_model: Counter[str] = Counter()
        self._by_key: Counter[str] = Counter()
        self._by_fault: Counter[str] = Counter()
        self._by_quota: Counter[str] = Counter()
        self._calls: Counter[str] = Counter()
        self._batches = 0
        self._batch_names: Counter[str] = Counter()
        self._batch_requests = 0
        self._files = 0
        self._file_bytes = 0
        self._other = 0
        self._peak = self.in_flight
        self._edits = 0
        self._signature_refusals = 0

    def reset(self) -> None:
        """Forget everything but the requests still in flight.

        Requests in flight across a reset are not counted again when they finish.
        """
        with self._lock:
            self._epoch += 1
            self._clear()

    def arrive(self, t: float, model: str, key: str, conn: str = "") -> Arrival:
        """Count a new ``generateContent`` request; its ordinal is ``Arrival.n``."""
        with self._lock:
            arrival = Arrival(len(self._arrivals) + 1, t, model, key, self._epoch, conn)
            self._arrivals.append(arrival)
            self._by_model[model] += 1
            self._by_key[key] += 1
            self.in_flight += 1
            self._peak = max(self._peak, self.in_flight)
            return arrival

    def finish(self, arrival: Arrival, status: int, answered: float | None = None) -> None:
        """Record how a request counted by :meth:`arrive` was answered, and when."""
        with self._lock:
            arrival.status = status
            arrival.answered = answered
            self.in_flight -= 1
            if arrival.epoch == self._epoch:
                self._by_status[str(status)] += 1

    def fault(self, arrival: Arrival, kind: str) -> None:
        """Record that ``kind`` was injected into this request."""
        with self._lock:
            arrival.fault = kind
            if arrival.epoch == self._epoch:
                self._by_fault[kind] += 1

    def quota(self, label: str) -> None:
        """Record a refusal for want of quota or capacity: a 429 (``minute``, ``day``,
        ``overload``, ...), or a shed Flex request's 503 (``flex-shed``)."""
        with self._lock:
            self._by_quota[label] += 1

    def edit(self) -> None:
        """Count an edit request admitted (its answer is its base, stamped)."""
        with self._lock:
            self._edits += 1

    def signature_refused(self) -> None:
        """Count a 400 for a thought signature missing or not the emulator's."""
        with self._lock:
            self._signature_refusals += 1

    def call(self, method: str) -> None:
        """Count a call of API method ``method`` (whatever it is answered)."""
        with self._lock:
            self._calls[method] += 1

    def batch_created(self, display_name: str, requests: int) -> None:
        """Count a batch created (each create is a new, paid job), with its requests."""
        with self._lock:
            self._batches += 1
            self._batch_names[display_name] += 1
            self._batch_requests += requests

    def file_uploaded(self, size: int) -> None:
        """Count a file whose upload was finalized."""
        with self._lock:
            self._files += 1
            self._file_bytes += size

    def other(self) -> None:
        """Count a request to any other path."""
        with self._lock:
            self._other += 1

    def snapshot(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready data."""
        with self._lock:
            return {
                "requests": len(self._arrivals),
                "by_status": dict(sorted(self._by_status.items())),
                "by_model": dict(sorted(self._by_model.items())),
                "by_key": dict(sorted(self._by_key.items())),
                "by_fault": dict(sorted(self._by_fault.items())),
                "by_quota": dict(sorted(self._by_quota.items())),
                "in_flight": self.in_flight,
                "peak_concurrency": self._peak,
                "calls": dict(sorted(self._calls.items())),
                "batches": {
                    "created": self._batches,
                    "by_display_name": dict(sorted(self._batch_names.items())),
                    "requests": self._batch_requests,
                },
                "files": {"uploaded": self._files, "bytes": self._file_bytes},
                "other_requests": self._other,
                "edits": self._edits,
                "signature_refusals": self._signature_refusals,
                "inside_announced_delay": inside_announced_delay(self._arrivals),
                "arrivals": [a.as_dict() for a in self._arrivals],
            }


def inside_announced_delay(
    arrivals: Iterable[Arrival], slack: float = SLACK, reaction: float = REACTION
) -> int:
    """How many arrivals came while a delay announced to their key was still running.

    On the connection the 429 went out on, any later arrival inside the delay counts (HTTP/1.1
    sends the next request only once it has read the answer). On another connection it
    counts only from ``reaction`` after the answer: before that it may have been on its way.
    """
    quiet: dict[tuple[str, str], list[tuple[float, float]]] = {}
    listed = list(arrivals)
    for a in listed:
        if a.status == 429 and a.retry_delay is not None and a.answered is not None:
            end = a.answered + a.retry_delay - slack
            for where, allowance in (((a.key, a.conn), slack), ((a.key, ""), reaction)):
                if a.answered + allowance < end:
                    quiet.setdefault(where, []).append((a.answered + allowance, end))
    spans = {where: _merged(windows) for where, windows in quiet.items()}
    count = 0
    for a in listed:
        count += any(_inside(spans.get(where), a.t) for where in ((a.key, a.conn), (a.key, "")))
    return count


def _merged(windows: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """Disjoint spans, so each arrival is one bisection."""
    starts: list[float] = []
    ends: list[float] = []
    for start, end in sorted(windows):
        if ends and start < ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _inside(spans: tuple[list[float], list[float]] | None, t: float) -> bool:
    if spans is None:
        return False
    starts, ends = spans
    i = bisect.bisect_left(starts, t) - 1
    return i >= 0 and t < ends[i]
