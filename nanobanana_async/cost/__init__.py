"""What images cost: the price table (:mod:`.prices`) and the arithmetic on it (:mod:`.estimate`).

An answer's cost comes from its own ``usageMetadata``; a plan's from the tokens an image of
that model and size is billed. Nothing here sends a request or reads a file.
"""

from __future__ import annotations

from .estimate import answer_cost, edit_cost, image_cost, rate_share
from .prices import PRICES, PRICES_AS_OF, TIER_SHARES, ModelPrices

__all__ = [
    "PRICES",
    "PRICES_AS_OF",
    "TIER_SHARES",
    "ModelPrices",
    "answer_cost",
    "edit_cost",
    "image_cost",
    "rate_share",
]
