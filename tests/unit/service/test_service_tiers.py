"""The service tiers on the wire: the body's ``serviceTier``, the answer's, a Flex deadline,
and a shed classified once, where the answer arrives."""

from __future__ import annotations

from typing import Any

import pytest

from nanobanana_async.errors import FlexShed, RateLimited, TransientError
from nanobanana_async.service.protocol import build_request, classify_error
from nanobanana_async.service.tiers import (
    FLEX_QUEUE_S,
    asked_tier,
    deadline_for,
    served_tier,
    with_tier,
)


def _error(code: int, status: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": "busy", "status": status, "details": details or []}}


_QUOTA = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-PaidTier1"}],
}


def test_a_standard_body_is_sent_as_before_and_others_name_their_tier() -> None:
    body = build_request("Slide 1", model="gemini-3-pro-image")
    assert with_tier(body, "standard") == body
    flex = with_tier(body, "flex")
    assert flex["serviceTier"] == "flex"
    assert "serviceTier" not in body  # the planned body (and its digest) is left alone
    assert with_tier(flex, "standard") == body  # a fallback takes the field away
    assert asked_tier(flex) == "flex"
    assert asked_tier(body) == "standard"
    assert asked_tier({"service_tier": "priority"}) == "priority"


@pytest.mark.parametrize(
    ("usage", "asked", "served"),
    [
        ({"serviceTier": "flex"}, "flex", "flex"),
        ({"serviceTier": "standard"}, "flex", "standard"),
        ({"serviceTier": "SERVICE_TIER_PRIORITY"}, "priority", "priority"),
        ({"serviceTier": "PRIORITY"}, "priority", "priority"),
        ({}, "flex", "flex"),  # a proxy that drops the field: as asked
        ({"serviceTier": "turbo"}, "flex", "flex"),
    ],
)
def test_the_tier_served_is_read_from_the_usage(
    usage: dict[str, Any], asked: str, served: str
) -> None:
    assert served_tier(usage, asked) == served


def test_a_flex_request_waits_for_the_queue_on_top_of_its_deadline() -> None:
    assert deadline_for("flex", 300.0) == 300.0 + FLEX_QUEUE_S == 1200.0
    assert deadline_for("standard", 300.0) == 300.0
    assert deadline_for("priority", 300.0) == 300.0


@pytest.mark.parametrize(
    ("status", "body", "tier", "kind"),
    [
        (503, _error(503, "UNAVAILABLE"), "flex", FlexShed),
        (504, _error(504, "DEADLINE_EXCEEDED"), "flex", FlexShed),
        (429, _error(429, "RESOURCE_EXHAUSTED"), "flex", FlexShed),  # no quota named
        (429, _error(429, "RESOURCE_EXHAUSTED", [_QUOTA]), "flex", RateLimited),  # the quota's
        (500, _error(500, "INTERNAL"), "flex", TransientError),
        (503, _error(503, "UNAVAILABLE"), "standard", TransientError),
        (503, _error(503, "UNAVAILABLE"), "priority", TransientError),
    ],
)
def test_a_shed_is_classified_from_status_and_tier(
    status: int, body: dict[str, Any], tier: str, kind: type[Exception]
) -> None:
    error = classify_error(status, body, model="gemini-3-pro-image", tier=tier)
    assert type(error) is kind
    if kind is FlexShed:
        assert error.reason == "FLEX_SHED"
        assert error.status == status
