"""The arithmetic of cost: an answer from its ``usageMetadata``, an image before it is asked.

The rule (pricing page): prompt tokens x the input rate, plus the answer's IMAGE tokens x
the image rate, plus its TEXT and thinking tokens x the text rate. A model missing from
:data:`~nanobanana_async.cost.prices.PRICES` has no known price: ``None``, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..service.protocol import int64
from .prices import BATCH_DISCOUNT, PRICES, TIER_SHARES

__all__ = ["answer_cost", "edit_cost", "image_cost", "rate_share"]

_PER_TOKEN = 1e-6  # rates are per million tokens


def _modalities(details: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    if isinstance(details, list):
        for entry in details:
            if isinstance(entry, Mapping):
                modality = str(entry.get("modality", "")).upper()
                counts[modality] = counts.get(modality, 0) + int64(entry.get("tokenCount"))
    return counts


def rate_share(*, batch: bool = False, tier: str = "standard") -> float:
    """The share of the standard rates a request pays: the Batch API's, else its tier's.

    A tier not in the table (none is sent but ours) is priced as standard.
    """
    return BATCH_DISCOUNT if batch else TIER_SHARES.get(tier, 1.0)


def answer_cost(
    model: str, usage: Mapping[str, Any], *, batch: bool = False, tier: str = "standard"
) -> float | None:
    """USD billed for one answer of ``model``, from its ``usageMetadata``.

    The candidates' tokens not listed as IMAGE (or listed as TEXT) are text; thinking
    tokens (``thoughtsTokenCount``) are billed as text too. ``tier``: the tier the answer
    was served at (:func:`~..service.tiers.served_tier`), not the one asked.
    """
    prices = PRICES.get(model.removeprefix("models/"))
    if prices is None:
        return None
    prompt = int64(usage.get("promptTokenCount"))
    by_modality = _modalities(usage.get("candidatesTokensDetails"))
    image = by_modality.get("IMAGE", 0)
    candidates = int64(usage.get("candidatesTokenCount"))
    text = max(candidates - image, by_modality.get("TEXT", 0))
    thoughts = int64(usage.get("thoughtsTokenCount"))
    cost = (
        prompt * prices.input + image * prices.image_output + (text + thoughts) * prices.text_output
    ) * _PER_TOKEN
    return cost * rate_share(batch=batch, tier=tier)


def image_cost(
    model: str,
    image_size: str | None,
    *,
    prompt_tokens: int = 0,
    reference_images: int = 0,
    batch: bool = False,
) -> float | None:
    """USD one image of ``model`` at ``image_size`` is expected to cost, before it is asked.

    The image's tokens are fixed by model and size; the prompt's are estimated by the
    caller (``prompt_tokens``) plus what each reference image counts for. Thinking, which
    the service decides, is not known before: the answer's own cost may be a little more.
    """
    prices = PRICES.get(model.removeprefix("models/"))
    if prices is None:
        return None
    prompt = max(0, prompt_tokens) + reference_images * prices.input_image_tokens
    cost = (
        prompt * prices.input + prices.tokens_per_image(image_size) * prices.image_output
    ) * _PER_TOKEN
    return cost * (BATCH_DISCOUNT if batch else 1.0)


def edit_cost(
    model: str,
    image_size: str | None,
    input_images: int,
    *,
    prompt_tokens: int = 0,
    batch: bool = False,
) -> float | None:
    """USD one edit step of ``model`` is expected to cost, before it is sent.

    An edit is billed as a generation whose prompt carries images: the output image at
    ``image_size``, plus every input image at the model's per-image input tokens, plus the
    text. The caller counts what the step's body sends
    (:func:`~..service.edit_body.images_in`): the images of the user turn sent back (its
    references, the previous step's marked copy), the model turn's (its image and each
    thought image), the marked copy of a region step; a fresh edit sends the image itself.
    ``prompt_tokens`` is the text of those turns and the instruction. Thought signatures
    are not counted: the pricing page bills none (unverified on the wire).

    ``None`` for a model without a known price.
    """
    return image_cost(
        model,
        image_size,
        prompt_tokens=prompt_tokens,
        reference_images=max(0, input_images),
        batch=batch,
    )
