"""The emulator's service tiers: Flex queues (scaled) and sheds at a rate, Priority hurries,
the usage says the tier served, and a tier that is not one is a 400."""

from __future__ import annotations

import orjson
import pytest
from emulator_testing import PRO, client_for, error_of, generate, request_body

from nanobanana_async.emulator import Emulator, EmulatorSettings, VirtualTime
from nanobanana_async.emulator.catalog import MODELS
from nanobanana_async.emulator.server import emulate_settings
from nanobanana_async.service import protocol


def _tiered(tier: object) -> dict[str, object]:
    return {**request_body(model=PRO), "serviceTier": tier}


@pytest.mark.parametrize("tier", ["flex", "priority", "standard", "FLEX", "SERVICE_TIER_FLEX"])
async def test_the_usage_says_the_tier_served(tier: str) -> None:
    emulator = Emulator(EmulatorSettings(latency=False, flex_shed_rate=0.0))
    async with client_for(emulator) as client:
        response = await generate(client, _tiered(tier))
    assert response.status_code == 200
    usage = protocol.parse_success(response.content).usage
    assert usage["serviceTier"] == tier.lower().removeprefix("service_tier_")


async def test_snake_case_names_the_tier_too() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, flex_shed_rate=0.0))
    body = {**request_body(model=PRO), "service_tier": "priority"}
    async with client_for(emulator) as client:
        response = await generate(client, body)
    assert protocol.parse_success(response.content).usage["serviceTier"] == "priority"


@pytest.mark.parametrize("tier", ["turbo", 3, ""])
async def test_a_tier_that_is_not_one_is_a_400(tier: object) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    async with client_for(emulator) as client:
        response = await generate(client, _tiered(tier))
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Invalid value at 'service_tier'")
    assert orjson.dumps(tier).decode() in error["message"]


async def test_flex_sheds_at_its_rate_and_served_at_standard_at_its_rate() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, flex_shed_rate=1.0))
    async with client_for(emulator) as client:
        shed = await generate(client, _tiered("flex"))
        standard = await generate(client, _tiered("standard"))
    assert shed.status_code == 503
    assert error_of(shed)["status"] == "UNAVAILABLE"
    assert standard.status_code == 200  # only Flex is shed
    assert emulator.stats()["by_quota"].get("flex-shed") == 1
    downgraded = Emulator(
        EmulatorSettings(latency=False, flex_shed_rate=0.0, flex_standard_rate=1.0)
    )
    async with client_for(downgraded) as client:
        served = await generate(client, _tiered("flex"))
    assert protocol.parse_success(served.content).usage["serviceTier"] == "standard"


async def test_flex_queues_for_minutes_scaled_and_priority_answers_sooner() -> None:
    waits: dict[str, float] = {}
    for tier in ("standard", "priority", "flex"):
        time = VirtualTime()
        settings = EmulatorSettings(
            flex_shed_rate=0.0,
            flex_queue=(120.0, 120.0),
            time_scale=0.5,
            seed=7,
            clock=time.clock,
            sleep=time.sleep,
        )
        emulator = Emulator(settings)

        async def ask(emulator: Emulator = emulator, tier: str = tier) -> None:
            async with client_for(emulator) as client:
                response = await generate(client, _tiered(tier))
            assert response.status_code == 200

        start = time.now
        await time.run(ask())
        waits[tier] = time.now - start
    assert waits["priority"] == pytest.approx(waits["standard"] * 0.5)
    # The 120 s queue at 0.5, then the model's usual latency (scaled too).
    low, high = MODELS[PRO].latency_range(None)
    assert 60.0 + low * 0.5 <= waits["flex"] <= 60.0 + high * 0.5


def test_the_emulate_command_plays_flex_as_told() -> None:
    settings = emulate_settings(["--flex-shed-rate", "0.5", "--flex-queue", "30,90"])
    assert (settings.flex_shed_rate, settings.flex_queue) == (0.5, (30.0, 90.0))
    assert emulate_settings([]).flex_queue == (60.0, 600.0)
    with pytest.raises(ValueError, match="--flex-queue '30'"):
        emulate_settings(["--flex-queue", "30"])
