"""Quota answers, and that the delay they announce is honest (fake clock, no real waits)."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from emulator_testing import FLASH25, PRO, FakeClock, GatedSleep, client_for, error_of, generate

from nanobanana_async import protocol
from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.error_bodies import format_delay
from nanobanana_async.emulator.quotas import QuotaBook
from nanobanana_async.errors import QuotaExhausted, RateLimited


def _delay(response: httpx2.Response) -> float:
    error = protocol.classify_error(response.status_code, response.content)
    assert isinstance(error, RateLimited | QuotaExhausted)
    assert error.retry_delay is not None
    return error.retry_delay


@pytest.mark.parametrize("time_scale", [1.0, 0.01])
async def test_per_minute_delay_is_honest(time_scale: float) -> None:
    clock = FakeClock()
    settings = EmulatorSettings(latency=False, rpm=2, time_scale=time_scale, clock=clock)
    async with client_for(Emulator(settings)) as client:
        assert (await generate(client)).status_code == 200
        clock.advance(10 * time_scale)
        assert (await generate(client)).status_code == 200
        clock.advance(10 * time_scale)
        refused = await generate(client)
        assert refused.status_code == 429
        delay = _delay(refused)
        # The oldest admission (t=0) leaves the 60 s window at t=60: 40 s from now.
        assert delay == pytest.approx(40 * time_scale, abs=2e-6)
        # Refused requests consume nothing: asking again and again does not move the delay.
        clock.advance(delay - 0.001 * time_scale)
        assert (await generate(client)).status_code == 429
        clock.advance(0.001 * time_scale)
        assert (await generate(client)).status_code == 200
        assert (await generate(client)).status_code == 429


async def test_per_day_delay_is_honest_and_reported_before_the_minute() -> None:
    clock = FakeClock()
    settings = EmulatorSettings(latency=False, rpm=1, rpd=2, time_scale=0.001, clock=clock)
    async with client_for(Emulator(settings)) as client:
        assert (await generate(client)).status_code == 200
        clock.advance(0.06)  # one scaled minute
        assert (await generate(client)).status_code == 200
        refused = await generate(client)  # both the minute and the day are full
        quota_id = error_of(refused)["details"][1]["violations"][0]["quotaId"]
        assert quota_id.startswith("GenerateRequestsPerDay")
        delay = _delay(refused)
        assert delay == pytest.approx(86.4 - 0.06, abs=2e-6)
        clock.advance(delay - 0.01)
        assert (await generate(client)).status_code == 429
        clock.advance(0.01)
        assert (await generate(client)).status_code == 200


async def test_quotas_are_per_key_and_model() -> None:
    clock = FakeClock()
    async with client_for(Emulator(EmulatorSettings(latency=False, rpm=1, clock=clock))) as client:
        assert (await generate(client, key="key-a")).status_code == 200
        assert (await generate(client, key="key-a")).status_code == 429
        assert (await generate(client, key="key-b")).status_code == 200
        assert (await generate(client, key="key-a", model=FLASH25)).status_code == 200


async def test_concurrency_delay_is_when_the_earliest_generation_is_due() -> None:
    clock = FakeClock()
    sleep = GatedSleep()
    settings = EmulatorSettings(max_concurrent=1, seed=1, clock=clock, sleep=sleep)
    emulator = Emulator(settings)
    async with client_for(emulator) as client:
        first = asyncio.create_task(generate(client))
        (latency,) = await sleep.sleepers(1)
        assert 17.0 <= latency <= 29.0  # pro at 1K
        clock.advance(5.0)
        refused = await generate(client)
        assert refused.status_code == 429
        assert "Concurrent" in error_of(refused)["details"][1]["violations"][0]["quotaId"]
        delay = _delay(refused)
        assert delay == pytest.approx(latency - 5.0, abs=2e-6)
        clock.advance(delay)
        second = asyncio.create_task(generate(client))
        await sleep.sleepers(2)
        assert emulator.stats()["in_flight"] == 2
        sleep.open()
        assert (await first).status_code == 200
        assert (await second).status_code == 200
    assert emulator.stats()["by_quota"] == {"concurrent": 1}


def test_quota_book_counts_only_admissions() -> None:
    book = QuotaBook(rpm=3, rpd=None, max_concurrent=None, time_scale=1.0)
    for t in (0.0, 1.0, 2.0):
        assert book.check("k", PRO, t) is None
        book.admit("k", PRO, t, t)
    breach = book.check("k", PRO, 30.0)
    assert breach is not None
    assert (breach.window, breach.limit, breach.delay) == ("minute", 3, 30.0)
    assert book.check("k", PRO, 60.0) is None  # t=0 left the window exactly at 60


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(34.4, "34.400001s"), (0.0, "0.000001s"), (12.3456789, "12.345680s"), (59.9999989, "60s")],
)
def test_delays_are_rounded_up(seconds: float, text: str) -> None:
    assert format_delay(seconds) == text
    assert protocol.parse_duration(text) is not None
    assert (protocol.parse_duration(text) or 0) >= seconds
