"""The service's timestamps (RFC 3339, UTC, ``Z``), read off the emulator's own clock.

Resources carry ``createTime``, ``updateTime``, ``endTime`` and ``expirationTime``. The
emulator's clock is monotonic and may be a test's fake one, so a :class:`WallClock` pins
one wall-clock moment to one clock reading and counts from there: a test that moves its
clock an hour sees timestamps an hour later, and nothing reads the real time twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["WallClock"]


class WallClock:
    """Turns readings of the emulator's clock into RFC 3339 timestamps.

    Args:
        origin: a reading of the emulator's clock.
        wall: the UTC moment it stands for (default: now).
    """

    __slots__ = ("_origin", "_wall")

    def __init__(self, origin: float, wall: datetime | None = None) -> None:
        self._origin = origin
        self._wall = wall or datetime.now(UTC)

    def __repr__(self) -> str:
        return f"<WallClock {self.stamp(self._origin)} at {self._origin}>"

    def stamp(self, reading: float) -> str:
        """``reading`` as the service writes a timestamp: six fractional digits and ``Z``."""
        moment = self._wall + timedelta(seconds=reading - self._origin)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
