"""The service tiers as the emulator plays them: Flex queues and sheds, Priority hurries.

A request names its tier in the body's top-level ``serviceTier`` (``service_tier`` too: the
service reads proto JSON either way); absent, it is standard. A value that is not a tier is
refused as the service refuses a bad enum, a 400 naming the field. The answer's
``usageMetadata.serviceTier`` says the tier served (:func:`served`).

What the real service does with Flex is documented only in outline (a 1 to 15 minute target,
best-effort, "sheddable"); the emulator plays one member of that family, with every knob in
:class:`~.settings.EmulatorSettings`: a Flex request is shed at ``flex_shed_rate`` with a 503
``UNAVAILABLE`` at once, else waits ``flex_queue`` (scaled) before its usual latency, and is
served at standard at ``flex_standard_rate``. Priority's latency is ``priority_latency`` of
the usual. Tiers share the key's quota (Google does not say they do not; sharing is the
case a client must survive). Draws happen only for Flex requests, so a seed replays a
standard run exactly as before tiers existed.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from . import error_bodies
from .settings import EmulatorSettings

__all__ = ["TIERS", "TierDraw", "draw", "parse_tier", "unknown_tier"]

TIERS = ("standard", "flex", "priority")
_ENUM_NAMES = {"unspecified": "standard", **{tier: tier for tier in TIERS}}


def parse_tier(value: Any) -> str | None:
    """The tier a body's ``serviceTier`` names (absent: standard); ``None`` if not a tier.

    The enum is read in any case, by its short name or the proto's (``SERVICE_TIER_FLEX``).
    """
    if value is None:
        return "standard"
    if not isinstance(value, str):
        return None
    return _ENUM_NAMES.get(value.strip().lower().removeprefix("service_tier_"))


def unknown_tier(value: Any) -> str:
    """The 400's message for a ``serviceTier`` that is not one, as the service words a bad
    enum value."""
    return (
        "Invalid value at 'service_tier' "
        "(type.googleapis.com/google.ai.generativelanguage.v1beta.ServiceTier), "
        f"{orjson.dumps(value).decode()}"
    )


class TierDraw:
    """What one admitted request's tier does to it: shed, extra wait, tier served."""

    __slots__ = ("latency_share", "queue", "served", "shed")

    def __init__(self, *, shed: bool, queue: float, latency_share: float, served: str) -> None:
        self.shed = shed
        self.queue = queue
        self.latency_share = latency_share
        self.served = served

    def __repr__(self) -> str:
        return f"<TierDraw served={self.served} shed={self.shed} queue={self.queue:.0f}s>"


def draw(settings: EmulatorSettings, rng: random.Random, tier: str) -> TierDraw:
    """Draw what ``tier`` does to one request (``queue`` scaled). No draw unless Flex."""
    if tier == "priority":
        return TierDraw(shed=False, queue=0.0, latency_share=settings.priority_latency, served=tier)
    if tier != "flex":
        return TierDraw(shed=False, queue=0.0, latency_share=1.0, served=tier)
    shed = rng.random() < settings.flex_shed_rate
    low, high = settings.flex_queue
    queue = rng.uniform(low, high) * settings.time_scale if settings.latency else 0.0
    served = "standard" if rng.random() < settings.flex_standard_rate else "flex"
    return TierDraw(shed=shed, queue=queue, latency_share=1.0, served=served)


def shed_body() -> dict[str, Any]:
    """A shed Flex request's answer: the service's 503 for no capacity."""
    return error_bodies.unavailable(0)
