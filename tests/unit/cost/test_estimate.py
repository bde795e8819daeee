"""The cost of an answer from its usageMetadata, and of an image before it is asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from nanobanana_async.cost import (
    PRICES,
    TIER_SHARES,
    answer_cost,
    edit_cost,
    image_cost,
    rate_share,
)

WIRE = Path(__file__).resolve().parents[2] / "fixtures" / "wire"


def _usage(name: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((WIRE / name).read_bytes())["response"]["body"]
    return dict(body["usageMetadata"])


# The pricing page's figures per image (standard; the Batch API bills half).
@pytest.mark.parametrize(
    ("model", "size", "page"),
    [
        ("gemini-3-pro-image", "1K", 0.134),
        ("gemini-3-pro-image", "2K", 0.134),
        ("gemini-3-pro-image", "4K", 0.24),
        ("gemini-3.1-flash-image", "512", 0.045),
        ("gemini-3.1-flash-image", "1K", 0.067),
        ("gemini-3.1-flash-image", "2K", 0.101),
        ("gemini-3.1-flash-image", "4K", 0.151),
        ("gemini-2.5-flash-image", None, 0.039),
    ],
)
def test_an_image_costs_what_the_pricing_page_says(
    model: str, size: str | None, page: float
) -> None:
    assert image_cost(model, size) == pytest.approx(page, abs=0.0005)
    assert image_cost(model, size, batch=True) == pytest.approx(page / 2, abs=0.0005)


def test_prompt_and_reference_images_are_billed_at_the_input_rate() -> None:
    bare = image_cost("gemini-3-pro-image", "2K")
    assert bare is not None
    with_prompt = image_cost("gemini-3-pro-image", "2K", prompt_tokens=1000, reference_images=2)
    assert with_prompt == pytest.approx(bare + (1000 + 2 * 560) * 2.0e-6)


def test_an_answer_is_billed_from_its_own_usage_thinking_included() -> None:
    usage = _usage("gemini-3-pro-image--thoughts-then-image.json")
    # 17 prompt tokens x $2, 1120 image tokens x $120, (12 text + 254 thinking) x $12, per 1M.
    expected = (17 * 2 + 1120 * 120 + (1132 - 1120 + 254) * 12) / 1e6
    assert answer_cost("gemini-3-pro-image", usage) == pytest.approx(expected)
    assert answer_cost("models/gemini-3-pro-image", usage, batch=True) == pytest.approx(
        expected / 2
    )


def test_a_flash_answer_has_no_thinking() -> None:
    usage = _usage("gemini-2.5-flash-image--text-and-image-png.json")
    expected = (15 * 0.3 + 1290 * 30 + 10 * 30) / 1e6
    assert answer_cost("gemini-2.5-flash-image", usage) == pytest.approx(expected)


def test_unknown_models_have_no_price_and_odd_usage_counts_nothing() -> None:
    assert answer_cost("someones-proxy-model", {"promptTokenCount": 10}) is None
    assert image_cost("someones-proxy-model", "1K") is None
    odd = {
        "promptTokenCount": "12",
        "candidatesTokenCount": True,
        "thoughtsTokenCount": -5,
        "candidatesTokensDetails": [{"modality": "image", "tokenCount": "1120"}, "junk"],
    }
    assert answer_cost("gemini-3-pro-image", odd) == pytest.approx((12 * 2 + 1120 * 120) / 1e6)


def test_every_priced_model_prices_its_default_size() -> None:
    for model, prices in PRICES.items():
        assert prices.tokens_per_image(None) == prices.image_tokens[prices.default_size], model


def test_a_flash_31_answer_bills_its_thinking_at_the_text_rate() -> None:
    usage = _usage("gemini-3.1-flash-image--text-and-image.json")
    expected = (16 * 0.5 + 1120 * 60 + (1131 - 1120 + 96) * 3) / 1e6
    assert answer_cost("gemini-3.1-flash-image", usage) == pytest.approx(expected)


# An edit: the output image, each input image at the model's per-image tokens, the text.
# Per image in (Google's pages, read 2026-12-07): pro 560, 3.1 flash 1120; 2.5 flash 258
# (unverified).
@pytest.mark.parametrize(
    ("model", "size", "per_image_in", "rate_in", "output"),
    [
        ("gemini-3-pro-image", "2K", 560, 2.0, 1120 * 120.0),
        ("gemini-3-pro-image", "4K", 560, 2.0, 2000 * 120.0),
        ("gemini-3.1-flash-image", "1K", 1120, 0.5, 1120 * 60.0),
        ("gemini-2.5-flash-image", None, 258, 0.3, 1290 * 30.0),
    ],
)
def test_an_edit_pays_its_output_its_input_images_and_its_text(
    model: str, size: str | None, per_image_in: int, rate_in: float, output: float
) -> None:
    # A region step sent back: the slide's turn (no image), the model turn (one image and
    # one thought image), the marked copy: 3 images in, and 300 tokens of text.
    expected = (output + (3 * per_image_in + 300) * rate_in) / 1e6
    assert edit_cost(model, size, 3, prompt_tokens=300) == pytest.approx(expected)
    assert edit_cost(f"models/{model}", size, 3, prompt_tokens=300, batch=True) == pytest.approx(
        expected / 2
    )
    # An edit costs more than the image alone, by its inputs exactly.
    alone = image_cost(model, size)
    assert alone is not None
    assert edit_cost(model, size, 1) == pytest.approx(alone + per_image_in * rate_in / 1e6)


def test_the_pro_edit_of_a_2k_slide_in_dollars() -> None:
    # $0.1344 the image, $0.0011 each of two input images (the pricing page's $0.134, $0.0011).
    assert edit_cost("gemini-3-pro-image", "2K", 2) == pytest.approx(0.1344 + 2 * 0.00112)


def test_an_edit_on_an_unpriced_model_has_no_price() -> None:
    assert edit_cost("house-model", "2K", 2) is None
    assert edit_cost("gemini-3-pro-image", "2K", -1) == image_cost("gemini-3-pro-image", "2K")


def test_an_answer_is_priced_at_the_tier_it_was_served_at() -> None:
    usage = {
        "promptTokenCount": 10,
        "candidatesTokenCount": 1120,
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
    }
    standard = answer_cost("gemini-3-pro-image", usage)
    assert standard is not None
    assert answer_cost("gemini-3-pro-image", usage, tier="flex") == pytest.approx(standard / 2)
    assert answer_cost("gemini-3-pro-image", usage, tier="priority") == pytest.approx(
        standard * TIER_SHARES["priority"]
    )
    # The Batch API has its own price, whatever tier is named.
    batch = answer_cost("gemini-3-pro-image", usage, batch=True, tier="priority")
    assert batch == pytest.approx(standard / 2)
    assert rate_share(tier="unknown") == 1.0
