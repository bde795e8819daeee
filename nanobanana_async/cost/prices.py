"""The Gemini API's prices for the image models, in one table with its source and date.

Source: the Gemini API pricing page (ai.google.dev/gemini-api/docs/pricing), as of the date
below; rates per million tokens, USD. The Batch API bills half of every rate. An image is
billed as output tokens whose number depends on the model and ``imageSize`` only, so a
plan can price a slide before it is sent; a run prices each answer from its own
``usageMetadata`` (:func:`~nanobanana_async.cost.estimate.answer_cost`) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["BATCH_DISCOUNT", "PRICES", "PRICES_AS_OF", "TIERS_AS_OF", "TIER_SHARES", "ModelPrices"]

PRICES_AS_OF = "2026-11"
BATCH_DISCOUNT = 0.5
"""The Batch API's price as a share of the standard one, for every rate."""

TIERS_AS_OF = "2026-12-07"
TIER_SHARES: Mapping[str, float] = MappingProxyType({"standard": 1.0, "flex": 0.5, "priority": 2.0})
"""Each service tier's price as a share of the standard one, for every rate.

Source: ai.google.dev/gemini-api/docs/optimization and .../flex-inference (read on the date
above): Flex is "50% discount", Priority "75% to 100% more than standard". No page we could
read gives the image models' own Priority rates, so Priority is priced at the top of the
range (2.0): a budget is never passed on a guess that ran low, and a Priority answer's cost
may be overstated by up to an eighth (1.75 against 2.0). Replace it with the model's rates
once the pricing page lists them.
"""


@dataclass(frozen=True, slots=True)
class ModelPrices:
    """One model's rates (USD per million tokens) and the tokens one image is billed.

    Attributes:
        input: prompt tokens, text and images alike.
        text_output: text and thinking tokens of the answer.
        image_output: image tokens of the answer.
        image_tokens: output tokens per image, by ``imageSize`` (``""``: a model that
            takes no size).
        default_size: the size the service uses when none is asked.
        input_image_tokens: prompt tokens one input image counts for: a reference image, or
            each image an edit sends (the previous image, a thought image of the model's
            turn, the marked copy).
    """

    input: float
    text_output: float
    image_output: float
    image_tokens: Mapping[str, int]
    default_size: str
    input_image_tokens: int

    def tokens_per_image(self, image_size: str | None) -> int:
        """Output tokens one image at ``image_size`` is billed (the default size if unknown)."""
        return self.image_tokens.get(image_size or "", self.image_tokens[self.default_size])


PRICES: Mapping[str, ModelPrices] = MappingProxyType(
    {
        # $0.134 an image at 1K and 2K, $0.24 at 4K.
        "gemini-3-pro-image": ModelPrices(
            input=2.0,
            text_output=12.0,
            image_output=120.0,
            image_tokens=MappingProxyType({"1K": 1120, "2K": 1120, "4K": 2000}),
            default_size="1K",
            # 560 an input image ($0.0011): the pricing page, and Google's Vertex model page
            # (docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-pro-image,
            # read 2026-12-07).
            input_image_tokens=560,
        ),
        # $0.045 at 512, $0.067 at 1K, $0.101 at 2K, $0.151 at 4K.
        "gemini-3.1-flash-image": ModelPrices(
            input=0.5,
            text_output=3.0,
            image_output=60.0,
            image_tokens=MappingProxyType({"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}),
            default_size="1K",
            # 1120 an input image: Google's Vertex model page ("consumes 1120 input image
            # tokens per input image", .../models/gemini/3-1-flash-image, read 2026-12-07);
            # this table said 560 before. Not yet seen in a Developer API answer's usage.
            input_image_tokens=1120,
        ),
        # $0.039 an image, one size only; the page gives it one output rate, $30 / 1M.
        "gemini-2.5-flash-image": ModelPrices(
            input=0.3,
            text_output=30.0,
            image_output=30.0,
            image_tokens=MappingProxyType({"": 1290}),
            default_size="",
            # 258: unverified for this model. The docs' image tokenising (Gemini 2.x) bills
            # 258 an image up to 384 px and 258 a 768 px tile above; an edit's 1024 px input
            # may count a few tiles. At $0.30 / 1M, a tile is $0.00008.
            input_image_tokens=258,
        ),
    }
)
"""Model id -> its prices. A model not listed (a proxy's own) has no price: cost unknown."""
