"""The service tiers on the wire: how a request asks for one, and which one an answer got.

Facts (docs/gemini-protocol.md, "Service tiers"): the tier is the request body's top-level
``serviceTier`` (the official SDK's spelling of ``service_tier``; the service takes both), one
of ``standard``, ``flex``, ``priority``, the default when absent being standard. The answer
says the tier it was served at in ``usageMetadata.serviceTier`` (lower case on the Developer
API; the SDK's enum reads any case). A standard request is sent without the field, exactly
as before tiers existed, so a deck's bodies (and the manifest's digests of them) do not
change. The tier is put on the body at send time, never in the planned body: a deck moved
to Flex is not a changed deck, and its kept images stay kept.

Flex queues a request for up to 15 minutes before the first byte (Google's target is 1 to
15 minutes): its deadline is the configured one plus that queue, so a healthy Flex request
is never cut as a timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "FLEX_QUEUE_S",
    "TIERS",
    "asked_tier",
    "deadline_for",
    "served_tier",
    "with_tier",
]

TIERS = ("standard", "flex", "priority")
"""The tiers the service knows, as the request and the answer spell them."""

FLEX_QUEUE_S = 15 * 60.0
"""The longest a Flex request may wait in the service's queue before its answer starts."""

_FIELD = "serviceTier"
_ENUM_PREFIX = "service_tier_"  # the proto enum's names (SERVICE_TIER_FLEX) say the same


def with_tier(body: Mapping[str, Any], tier: str) -> dict[str, Any]:
    """``body`` asking for ``tier``: a shallow copy with ``serviceTier`` (none for standard)."""
    sent = {name: value for name, value in body.items() if name != _FIELD}
    if tier != "standard":
        sent[_FIELD] = tier
    return sent


def asked_tier(body: Mapping[str, Any]) -> str:
    """The tier a body asks for (standard when it names none)."""
    return _spelt(body.get(_FIELD, body.get("service_tier"))) or "standard"


def served_tier(usage: Mapping[str, Any], asked: str) -> str:
    """The tier an answer was served at: its ``usageMetadata.serviceTier``, else ``asked``.

    An answer that does not say (a proxy that drops the field, a model that never reports it)
    is taken at its word of the request: it is billed as asked, for all we can know.
    """
    return _spelt(usage.get(_FIELD)) or asked


def deadline_for(tier: str, timeout: float) -> float:
    """The deadline of one request at ``tier``: ``timeout``, plus Flex's queue for Flex."""
    return timeout + FLEX_QUEUE_S if tier == "flex" else timeout


def _spelt(value: object) -> str:
    """A tier as we spell it (``flex``), from any spelling the wire uses; ``""`` if none."""
    if not isinstance(value, str):
        return ""
    tier = value.strip().lower().removeprefix(_ENUM_PREFIX)
    return tier if tier in TIERS else ""
