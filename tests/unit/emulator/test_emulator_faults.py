"""Injected failures: by script and by rate, deterministic under a seed."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from emulator_testing import GatedSleep, client_for, generate, request_body

from nanobanana_async.emulator import FAULT_KINDS, ConnectionDropped, Emulator, EmulatorSettings
from nanobanana_async.errors import (
    ApiError,
    ImageRefused,
    NoImageReturned,
    PromptBlocked,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from nanobanana_async.service import protocol


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [
        ("no-image", 200, NoImageReturned),
        ("image-safety", 200, ImageRefused),
        ("blocked", 200, PromptBlocked),
        ("truncated", 200, TransientError),
        ("429", 429, RateLimited),
        ("429-day", 429, QuotaExhausted),
    ],
)
async def test_each_answer_fault_reads_as_the_client_expects(
    kind: str, status: int, error: type[ApiError]
) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: kind})
    async with client_for(emulator) as client:
        response = await generate(client)
    assert response.status_code == status
    if status == 200:
        with pytest.raises(error):
            protocol.parse_success(response.content)
    else:
        assert type(protocol.classify_error(status, response.content)) is error
    assert emulator.stats()["by_fault"] == {kind: 1}


async def test_drop_reaches_an_in_process_client_as_a_protocol_error() -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: "drop"})
    async with client_for(emulator) as client:
        with pytest.raises(httpx2.RemoteProtocolError) as caught:
            await generate(client)
        assert isinstance(caught.value, ConnectionDropped)
        assert (await generate(client)).status_code == 200
    assert [(a["status"], a["fault"]) for a in emulator.stats()["arrivals"]] == [
        (200, "drop"),
        (200, None),
    ]


async def test_slow_waits_ten_scaled_minutes_and_stops_when_the_client_leaves() -> None:
    sleep = GatedSleep()
    emulator = Emulator(EmulatorSettings(latency=False, time_scale=0.5, sleep=sleep))
    emulator.script({1: "slow"})
    async with client_for(emulator) as client:
        request = asyncio.create_task(generate(client))
        assert await sleep.sleepers(1) == [300.0]
        assert emulator.stats()["in_flight"] == 1
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
    stats = emulator.stats()
    assert stats["in_flight"] == 0
    assert stats["arrivals"][0]["status"] == 499


async def test_slow_answers_504_if_nobody_gives_up() -> None:
    sleep = GatedSleep()
    emulator = Emulator(EmulatorSettings(latency=False, sleep=sleep))
    emulator.script({1: "slow"})
    sleep.open()
    async with client_for(emulator) as client:
        response = await generate(client)
    assert response.status_code == 504


async def test_script_wins_over_the_rate_and_counts_every_request() -> None:
    settings = EmulatorSettings(latency=False, fail_rate=1.0, fail_kinds=("500",))
    emulator = Emulator(settings)
    emulator.script({2: "503", 3: "no-image"})
    async with client_for(emulator) as client:
        await generate(client, key=None)  # ordinal 1, refused before any fault
        statuses = [(await generate(client)).status_code for _ in range(3)]
    assert statuses == [503, 200, 500]
    faults = [a["fault"] for a in emulator.stats()["arrivals"]]
    assert faults == [None, "503", "no-image", "500"]


async def _run(seed: int) -> tuple[list[tuple[int, str | None]], list[str], list[float]]:
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = EmulatorSettings(
        fail_rate=0.5,
        fail_kinds=("500", "503", "no-image", "blocked", "429"),
        seed=seed,
        time_scale=0.001,
        sleep=recording_sleep,
    )
    emulator = Emulator(settings)
    ids: list[str] = []
    async with client_for(emulator) as client:
        for n in range(16):
            response = await generate(client, request_body(f"Slide {n}: Topic {n}."))
            if response.status_code == 200:
                ids.append(response.json().get("responseId", ""))
    outcomes = [(a["status"], a["fault"]) for a in emulator.stats()["arrivals"]]
    return outcomes, ids, waits


async def test_fail_rate_is_deterministic_under_a_seed() -> None:
    first, again, other = await _run(7), await _run(7), await _run(8)
    assert first == again
    assert first != other
    outcomes = first[0]
    assert any(fault is None for _, fault in outcomes)
    assert any(fault is not None for _, fault in outcomes)
    assert {fault for _, fault in outcomes} <= {None, "500", "503", "no-image", "blocked", "429"}


async def test_control_endpoints() -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    async with client_for(emulator) as client:
        scripted = await client.post("/_emulator/script", json={"2": "503"})
        assert scripted.json() == {"script": {"2": "503"}}
        bad = await client.post("/_emulator/script", json={"2": "teapot"})
        assert bad.status_code == 400
        statuses = [(await generate(client)).status_code for _ in range(2)]
        stats = (await client.get("/_emulator/stats")).json()
        assert (await client.post("/_emulator/reset")).json() == {"reset": True}
        after = (await client.get("/_emulator/stats")).json()
    assert statuses == [200, 503]
    assert stats["by_status"] == {"200": 1, "503": 1}
    assert stats["script"] == {"2": "503"}
    assert (after["requests"], after["script"], after["by_status"]) == (0, {}, {})


def test_bad_settings_and_scripts_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        EmulatorSettings(fail_kinds=("500", "teapot"))
    with pytest.raises(ValueError, match="fail_rate"):
        EmulatorSettings(fail_rate=1.5)
    with pytest.raises(ValueError, match="rpm"):
        EmulatorSettings(rpm=0)
    emulator = Emulator()
    with pytest.raises(ValueError, match="1 or more"):
        emulator.script({0: "500"})
    with pytest.raises(ValueError, match="not one of"):
        emulator.script({"3": "teapot"})
    assert emulator.stats()["script"] == {}


def test_fault_kinds_are_the_documented_ones() -> None:
    assert set(FAULT_KINDS) == {
        "500", "503", "504", "429", "429-day", "429-overload", "invalid-key", "drop", "slow",
        "truncated", "no-image", "image-safety", "blocked", "misspell", "keeps-text",
    }  # fmt: skip
