"""How a count and a list of slides are worded, once, for every line the package prints.

A line read by people and by agents says ``1 image`` and ``2 images``, ``slide 3`` and
``slides 1-3, 7``: the same words from the engine's refusals, the plan and the run's final
line. Nothing here imports the rest of the package, so any room may use it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["plural", "slide_ranges"]

# Ranges in a list of slides before "and N more".
_MAX_RANGES = 6


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 image``, ``0 images``, ``2 batches`` (``nouns``: the plural, when not noun + s)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def _ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    return ranges


def slide_ranges(numbers: Iterable[int]) -> str:
    """``slide 3``, ``slides 1-3, 7, 9-12``, ``slides 1, 3, 5, 7, 9, 11 and 24 more``."""
    ranges = _ranges(numbers)
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:_MAX_RANGES])
    more = sum(b - a + 1 for a, b in ranges[_MAX_RANGES:])
    if more:
        shown += f" and {more} more"
    single = len(ranges) == 1 and ranges[0][0] == ranges[0][1]
    return f"{'slide' if single else 'slides'} {shown}"
