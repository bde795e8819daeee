"""What a rate quota is, and how one is written on the command line.

The real service documents its limits, not how it counts them, so the emulator offers a
sliding window, fixed clock windows and a token bucket (why: docs/design.md, "The
emulator"). A spec is ``KIND:LIMIT/WINDOW[+PHASE][,burst=N]``: ``sliding:10/60s``,
``fixed:20/60s+15s`` (the first fixed window closes 15 s after start),
``bucket:20/60s,burst=5``, ``fixed:1000/1d``; durations take ``ms``, ``s``, ``m``, ``h`` or
``d``, unscaled. A 429 names a window of a day or more ``PerDay``, any shorter ``PerMinute``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DAY",
    "QUOTA_SPEC",
    "RateKind",
    "RateQuota",
    "parse_quota",
    "parse_seconds",
]

RateKind = Literal["sliding", "fixed", "bucket"]
DAY = 86_400.0
QUOTA_SPEC = (
    "KIND:LIMIT/WINDOW[+PHASE][,burst=N] with KIND sliding, fixed or bucket and units "
    "ms, s, m, h or d, e.g. sliding:10/60s, fixed:20/60s+15s, bucket:20/60s,burst=5"
)

_KINDS: dict[str, RateKind] = {"sliding": "sliding", "fixed": "fixed", "bucket": "bucket"}
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^({_NUMBER})(ms|s|m|h|d)$")
_SPEC = re.compile(
    rf"^(?P<kind>\w+):(?P<limit>\d+)/(?P<window>{_NUMBER}[a-z]+)"
    rf"(?:\+(?P<phase>{_NUMBER}[a-z]+))?(?:,burst=(?P<burst>\d+))?$"
)


@dataclass(frozen=True, slots=True)
class RateQuota:
    """One rate limit on each (key, model).

    Attributes:
        kind: ``sliding`` (at most ``limit`` admissions in any trailing ``window``),
            ``fixed`` (at most ``limit`` per window ``[origin + k W, origin + (k+1) W)``)
            or ``bucket`` (a token bucket holding ``burst`` tokens, refilled at ``limit``
            per ``window``, full at first use).
        limit: admissions per window; also the ``quotaValue`` a 429 states.
        window: seconds, unscaled, from a fraction of a second to days.
        burst: the bucket's capacity (default: ``limit``); bucket only.
        phase: seconds, unscaled, from the emulator's start to the first fixed-window
            boundary (mod ``window``); fixed only.
    """

    kind: RateKind
    limit: int
    window: float = 60.0
    burst: int | None = None
    phase: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"quota kind must be sliding, fixed or bucket, not {self.kind!r}")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"quota limit must be a positive integer, not {self.limit!r}")
        if not 0 < self.window < math.inf:
            raise ValueError(f"quota window must be positive seconds, not {self.window!r}")
        if self.burst is not None and (self.kind != "bucket" or self.burst < 1):
            raise ValueError("burst is a positive integer, for a bucket quota only")
        if self.phase and (self.kind != "fixed" or not math.isfinite(self.phase)):
            raise ValueError("phase is a finite number of seconds, for a fixed quota only")

    def __str__(self) -> str:
        text = f"{self.kind}:{self.limit}/{self.window:g}s"
        if self.phase:
            text += f"+{self.phase:g}s"
        if self.burst is not None:
            text += f",burst={self.burst}"
        return text

    @property
    def per_day(self) -> bool:
        """Whether a 429 names it as a per-day quota (which the client treats as final)."""
        return self.window >= DAY

    @property
    def capacity(self) -> int:
        """The most admissions it allows at once: ``burst`` for a bucket, else ``limit``."""
        return self.burst if self.burst is not None else self.limit


def parse_seconds(text: str) -> float:
    """``"60s"``, ``"1.5m"``, ``"250ms"``, ``"1d"`` as seconds.

    Raises:
        ValueError: no number, or no unit among ``ms``, ``s``, ``m``, ``h``, ``d``.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 60s, 500ms, 5m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_quota(spec: str) -> RateQuota:
    """A :class:`RateQuota` from its spec (see the module docstring).

    Raises:
        ValueError: the spec does not follow :data:`QUOTA_SPEC`, or its values are invalid.
    """
    match = _SPEC.match(spec.strip().replace(" ", ""))
    if match is None:
        raise ValueError(f"expected {QUOTA_SPEC}")
    kind = _KINDS.get(match["kind"])
    if kind is None:
        raise ValueError(f"unknown kind {match['kind']!r}; expected {QUOTA_SPEC}")
    phase = match["phase"]
    burst = match["burst"]
    return RateQuota(
        kind,
        int(match["limit"]),
        parse_seconds(match["window"]),
        burst=int(burst) if burst is not None else None,
        phase=parse_seconds(phase) if phase is not None else 0.0,
    )
