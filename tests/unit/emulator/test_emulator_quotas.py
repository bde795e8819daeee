"""Quota answers, and that the delay they announce is honest (fake clock, no real waits)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from emulator_testing import FLASH25, PRO, FakeClock, GatedSleep, client_for, error_of, generate

from nanobanana_async.emulator import Emulator, EmulatorSettings, RateQuota
from nanobanana_async.emulator.error_bodies import format_delay
from nanobanana_async.emulator.quotas import QuotaBook
from nanobanana_async.errors import QuotaExhausted, RateLimited
from nanobanana_async.service import protocol


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
    book = QuotaBook([RateQuota("sliding", 3)])
    for t in (0.0, 1.0, 2.0):
        assert book.check("k", PRO, t) is None
        book.admit("k", PRO, t, t)
    breach = book.check("k", PRO, 30.0)
    assert breach is not None
    assert (breach.label, breach.limit, breach.delay) == ("minute", 3, 30.0)
    assert book.check("k", PRO, 60.0) is None  # t=0 left the window exactly at 60


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(34.4, "34.400001s"), (0.0, "0.000001s"), (12.3456789, "12.345680s"), (59.9999989, "60s")],
)
def test_delays_are_rounded_up(seconds: float, text: str) -> None:
    assert format_delay(seconds) == text
    assert protocol.parse_duration(text) is not None
    assert (protocol.parse_duration(text) or 0) >= seconds


# -- shapes and labels over HTTP -----------------------------------------------------------


async def test_a_fixed_window_of_seconds_is_labelled_per_minute_and_states_its_limit() -> None:
    clock = FakeClock()
    quota = RateQuota("fixed", 2, 5.0, phase=1.0)
    async with client_for(
        Emulator(EmulatorSettings(latency=False, quotas=(quota,), clock=clock))
    ) as client:
        assert [(await generate(client)).status_code for _ in range(2)] == [200, 200]
        clock.advance(0.25)
        refused = await generate(client)
        violation = error_of(refused)["details"][1]["violations"][0]
        assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-PaidTier1"
        assert violation["quotaValue"] == "2"
        error = protocol.classify_error(refused.status_code, refused.content)
        assert isinstance(error, RateLimited)
        assert error.limit == 2
        assert error.retry_delay == pytest.approx(0.75, abs=2e-6)  # the boundary at 1 s
        clock.advance(0.75)
        assert (await generate(client)).status_code == 200


async def test_a_day_long_fixed_window_stops_the_run() -> None:
    clock = FakeClock()
    settings = EmulatorSettings(
        latency=False, quotas=(RateQuota("fixed", 1, 86_400.0),), clock=clock
    )
    async with client_for(Emulator(settings)) as client:
        assert (await generate(client)).status_code == 200
        clock.advance(400.0)
        refused = await generate(client)
    error = protocol.classify_error(refused.status_code, refused.content)
    assert isinstance(error, QuotaExhausted)
    assert error.retry_delay == pytest.approx(86_000.0, abs=2e-6)


async def test_a_bucket_is_labelled_per_minute_with_its_rate() -> None:
    clock = FakeClock()
    quota = RateQuota("bucket", 30, 60.0, burst=1)
    async with client_for(
        Emulator(EmulatorSettings(latency=False, quotas=(quota,), clock=clock))
    ) as client:
        assert (await generate(client)).status_code == 200
        refused = await generate(client)
    error = protocol.classify_error(refused.status_code, refused.content)
    assert isinstance(error, RateLimited)
    assert error.limit == 30
    assert error.retry_delay == pytest.approx(2.0, abs=2e-6)  # one token every 2 s


async def test_two_runs_on_one_key_share_one_quota() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpm=3, clock=clock))
    async with client_for(emulator) as first, client_for(emulator) as second:
        answers = await asyncio.gather(*(generate(c) for c in (first, second, first, second)))
        other_key = await generate(second, key="another-key")
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 429]
    assert other_key.status_code == 200


# -- what a 429 states ---------------------------------------------------------------------


async def _refused(**settings: Any) -> httpx2.Response:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpm=1, clock=clock, **settings))
    async with client_for(emulator) as client:
        assert (await generate(client)).status_code == 200
        clock.advance(15.0)
        return await generate(client)


async def test_hidden_quota_value() -> None:
    refused = await _refused(quota_value=False)
    error = error_of(refused)
    assert "limit:" not in error["message"]
    metric = "generativelanguage.googleapis.com/generate_content_paid_tier_requests"
    assert f"* Quota exceeded for metric: {metric}, model: {PRO}\n" in error["message"]
    assert "quotaValue" not in error["details"][1]["violations"][0]
    classified = protocol.classify_error(refused.status_code, refused.content)
    assert isinstance(classified, RateLimited)
    assert classified.limit is None
    assert classified.retry_delay == pytest.approx(45.0, abs=2e-6)


async def test_hidden_retry_info() -> None:
    refused = await _refused(retry_info=False)
    error = error_of(refused)
    assert "Please retry in" not in error["message"]
    assert not [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
    classified = protocol.classify_error(refused.status_code, refused.content)
    assert isinstance(classified, RateLimited)
    assert (classified.limit, classified.retry_delay) == (1, None)


async def test_both_hidden() -> None:
    refused = await _refused(quota_value=False, retry_info=False)
    classified = protocol.classify_error(refused.status_code, refused.content)
    assert isinstance(classified, RateLimited)
    assert (classified.limit, classified.retry_delay) == (None, None)
    assert error_of(refused)["message"].endswith(f"model: {PRO}")


async def test_scripted_429s_follow_the_settings_and_record_their_delay() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, quota_value=False, time_scale=0.01))
    emulator.script({1: "429"})
    async with client_for(emulator) as client:
        refused = await generate(client)
    classified = protocol.classify_error(refused.status_code, refused.content)
    assert isinstance(classified, RateLimited)
    assert classified.limit is None
    (arrival,) = emulator.stats()["arrivals"]
    assert arrival["retry_delay"] == pytest.approx(classified.retry_delay, abs=2e-6)


# -- overload --------------------------------------------------------------------------------

_OVERLOADED = "Resource has been exhausted (e.g. check quota)."


@pytest.mark.parametrize("retry_info", [True, False])
async def test_overload_429_names_no_quota(retry_info: bool) -> None:
    settings = EmulatorSettings(
        latency=False, rpm=1, overload_rate=1.0, retry_info=retry_info, time_scale=0.5
    )
    emulator = Emulator(settings)
    async with client_for(emulator) as client:
        answers = [await generate(client) for _ in range(3)]
    for response in answers:
        assert response.status_code == 429
        error = error_of(response)
        assert (error["status"], error["message"]) == ("RESOURCE_EXHAUSTED", _OVERLOADED)
        types = [d["@type"].rsplit(".", 1)[-1] for d in error.get("details", [])]
        assert types == (["RetryInfo"] if retry_info else [])
        classified = protocol.classify_error(response.status_code, response.content)
        assert isinstance(classified, RateLimited)
        assert classified.limit is None
        if retry_info:
            assert classified.retry_delay is not None
            assert 0.5 <= classified.retry_delay <= 1.5 + 1e-6  # (1, 3) s, scaled
        else:
            assert classified.retry_delay is None
    stats = emulator.stats()
    assert stats["by_quota"] == {"overload": 3}
    delays = [a["retry_delay"] for a in stats["arrivals"]]
    assert all((d is not None) == retry_info for d in delays)


async def test_overload_uses_no_quota() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, rpm=1))
    emulator.script({1: "429-overload", 2: "429-overload"})
    async with client_for(emulator) as client:
        statuses = [(await generate(client)).status_code for _ in range(4)]
    assert statuses == [429, 429, 200, 429]
    stats = emulator.stats()
    assert stats["by_fault"] == {"429-overload": 2}
    assert stats["by_quota"] == {"minute": 1}


async def test_overload_rate_draws_per_request() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, rpm=50, overload_rate=0.3, seed=4))
    async with client_for(emulator) as client:
        answers = [await generate(client) for _ in range(40)]
    overloaded = sum(error_of(a)["message"] == _OVERLOADED for a in answers if a.status_code == 429)
    assert 0 < overloaded < 40
    assert sum(a.status_code == 200 for a in answers) == 40 - overloaded
    assert emulator.stats()["by_quota"] == {"overload": overloaded}


# -- judging the client ----------------------------------------------------------------------


async def test_inside_announced_delay_counts_a_client_that_did_not_wait() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpm=1, clock=clock))
    async with client_for(emulator) as client:
        assert (await generate(client)).status_code == 200
        assert _delay(await generate(client)) == pytest.approx(60.0, abs=2e-6)  # quiet to 60
        clock.advance(10.0)
        assert (await generate(client)).status_code == 429  # did not wait: counted
        clock.advance(20.0)
        assert (await generate(client, key="another-key")).status_code == 200  # not its 429
        clock.advance(30.0 - 0.0005)  # inside the 1 ms of slack: not counted
        assert (await generate(client)).status_code == 429
        assert emulator.stats()["inside_announced_delay"] == 1
        clock.advance(60.0)
        assert (await generate(client)).status_code == 200  # waited: not counted
    stats = emulator.stats()
    assert stats["inside_announced_delay"] == 1
    assert [a["answered"] for a in stats["arrivals"]] == [a["t"] for a in stats["arrivals"]]


async def test_requests_already_on_the_wire_when_a_429_left_are_not_held_against_it() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpm=1, clock=clock))

    def connection(port: int) -> httpx2.AsyncClient:
        transport = httpx2.ASGITransport(app=emulator, client=("127.0.0.1", port))
        return httpx2.AsyncClient(transport=transport, base_url="http://emulator")

    async with connection(1001) as first, connection(1002) as second:
        assert (await generate(first)).status_code == 200
        assert (await generate(first)).status_code == 429
        clock.advance(0.05)  # on another connection, maybe sent before that 429 was read
        assert (await generate(second)).status_code == 429
        assert emulator.stats()["inside_announced_delay"] == 0
        # On the 429's own connection the client had read it before sending again.
        assert (await generate(first)).status_code == 429
        assert emulator.stats()["inside_announced_delay"] == 1
        clock.advance(0.1)  # long after: whatever the connection, it had been told
        assert (await generate(second)).status_code == 429
        assert emulator.stats()["inside_announced_delay"] == 2


async def test_a_client_that_waits_out_every_delay_scores_zero() -> None:
    clock = FakeClock()
    quotas = (RateQuota("bucket", 2, 6.0, burst=2),)
    emulator = Emulator(
        EmulatorSettings(latency=False, quotas=quotas, clock=clock, overload_rate=0.2)
    )
    async with client_for(emulator) as client:
        for _ in range(20):
            response = await generate(client)
            if response.status_code == 429:
                clock.advance(_delay(response))
    stats = emulator.stats()
    assert stats["by_status"]["429"] > 0
    assert stats["inside_announced_delay"] == 0
