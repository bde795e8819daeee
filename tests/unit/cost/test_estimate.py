"""The cost of an answer from its usageMetadata, and of an image before it is asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from nanobanana_async.cost import PRICES, answer_cost, image_cost

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
