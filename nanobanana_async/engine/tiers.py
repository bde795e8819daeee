"""Each slide's service tier during a run: what it asks, what a shed does, what it got.

A slide asks for its tier (the run's ``--tier``, else its own). A Flex request the service
sheds (:class:`~nanobanana_async.errors.FlexShed`) is retried on Flex up to the retry
policy's ``flex_shed_retries``; the next shed either moves the slide to standard for the
rest of the run (``"flex_fallback": "standard"``: its budget estimate rises to the standard
price before that request may leave, so ``max_cost`` holds) or lets the shed fail it
(``"fail"``). Either way it is said: the results name each slide that fell back and what it
cost, and the final line sums them.

An answer is priced at the tier it says it was served at (``usageMetadata.serviceTier``),
which may not be the one asked: a Flex request served at standard is billed at standard.
Such slides are collected and said once, in one notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config.loading import FlexFallback
from ..cost import rate_share
from ..service.tiers import served_tier, with_tier
from ..wording import slide_ranges

__all__ = ["SlideTiers"]


class SlideTiers:
    """The tier of every slide of one run, and what became of it.

    Args:
        tiers: slide -> the tier it asks for at the start.
        fallback: what a slide shed past its Flex retries becomes.
        flex_retries: the sheds retried on Flex before that (the retry policy's).
    """

    __slots__ = (
        "_asked",
        "_fallback",
        "_flex_retries",
        "_now",
        "_sheds",
        "downgraded",
        "fell_back",
    )

    def __init__(
        self, tiers: Mapping[int, str], *, fallback: FlexFallback, flex_retries: int
    ) -> None:
        self._asked = dict(tiers)
        self._now = dict(tiers)
        self._fallback = fallback
        self._flex_retries = flex_retries
        self._sheds: dict[int, int] = {}
        self.fell_back: set[int] = set()  # moved to standard after Flex shed them
        self.downgraded: set[int] = set()  # asked Flex or Priority, served at another tier

    def __repr__(self) -> str:
        flex = sum(1 for tier in self._now.values() if tier == "flex")
        return f"<SlideTiers flex={flex} fell_back={sorted(self.fell_back)}>"

    @property
    def falls_back(self) -> bool:
        """Whether a slide shed past its retries is sent once more, at standard."""
        return self._fallback == "standard"

    def tier(self, slide: int) -> str:
        """The tier ``slide``'s next request asks for."""
        return self._now.get(slide, "standard")

    def share(self, slide: int) -> float:
        """The share of the standard price ``slide``'s next request is expected to cost."""
        return rate_share(tier=self.tier(slide))

    def body(self, slide: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` as ``slide``'s next request sends it: asking for its tier now."""
        return with_tier(body, self.tier(slide))

    def shed(self, slide: int) -> bool:
        """Count a shed of ``slide``'s Flex request; whether it now falls back to standard.

        Past the retries on Flex, with ``"flex_fallback": "standard"``, the slide asks for
        standard from its next request on; with ``"fail"`` it stays, and the retry policy
        lets the shed fail it.
        """
        count = self._sheds[slide] = self._sheds.get(slide, 0) + 1
        if count <= self._flex_retries or not self.falls_back:
            return False
        self._now[slide] = "standard"
        self.fell_back.add(slide)
        return True

    def served(self, slide: int, usage: Mapping[str, Any], asked: str) -> str:
        """The tier an answer for ``slide`` (asked at ``asked``) was served at, noted when
        it is not the one asked."""
        tier = served_tier(usage, asked)
        if tier != asked:
            self.downgraded.add(slide)
        return tier

    def notice(self) -> str:
        """One line for the slides served at another tier than asked; ``""`` if none."""
        if not self.downgraded:
            return ""
        slides = slide_ranges(sorted(self.downgraded))
        return f"{slides} asked {self._asked_words()}, served at another tier: priced as served"

    def _asked_words(self) -> str:
        asked = sorted({self._asked.get(n, "standard") for n in self.downgraded})
        return " or ".join(asked)
