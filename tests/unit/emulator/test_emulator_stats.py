"""``/_emulator/stats``: counts, fingerprints, arrival times and peak concurrency."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
from emulator_testing import FLASH25, KEY, PRO, FakeClock, GatedSleep, client_for, generate

from nanobanana_async.emulator import Emulator, EmulatorSettings, RequestLog


async def test_stats_count_by_status_model_key_and_quota() -> None:
    clock = FakeClock(50.0)
    emulator = Emulator(EmulatorSettings(latency=False, rpm=2, clock=clock))
    async with client_for(emulator) as client:
        for model in (PRO, PRO, PRO, FLASH25):
            clock.advance(1.5)
            await generate(client, model=model)
        await generate(client, key=None)
        await client.get("/nowhere")
        stats = (await client.get("/_emulator/stats")).json()
    assert stats == emulator.stats()
    fingerprint = hashlib.sha256(KEY.encode()).hexdigest()[:8]
    assert stats["requests"] == 5
    assert stats["by_status"] == {"200": 3, "403": 1, "429": 1}
    assert stats["by_model"] == {FLASH25: 1, PRO: 4}
    assert stats["by_key"] == {fingerprint: 4, "none": 1}
    assert stats["by_quota"] == {"minute": 1}
    assert (stats["in_flight"], stats["peak_concurrency"], stats["other_requests"]) == (0, 1, 1)
    arrivals = stats["arrivals"]
    assert [a["n"] for a in arrivals] == [1, 2, 3, 4, 5]
    assert [a["t"] for a in arrivals] == [1.5, 3.0, 4.5, 6.0, 6.0]
    assert [a["status"] for a in arrivals] == [200, 200, 429, 200, 403]
    assert arrivals[0] == {
        "n": 1, "t": 1.5, "answered": 1.5, "model": PRO, "status": 200, "key": fingerprint,
        "fault": None, "retry_delay": None, "conn": "127.0.0.1:123", "images": [],
    }  # fmt: skip
    assert arrivals[2]["retry_delay"] > 0
    assert KEY not in orjson.dumps(stats).decode()


async def test_peak_concurrency_and_in_flight() -> None:
    sleep = GatedSleep()
    emulator = Emulator(EmulatorSettings(time_scale=0.001, sleep=sleep))
    async with client_for(emulator) as client:
        requests = [asyncio.create_task(generate(client)) for _ in range(4)]
        await sleep.sleepers(4)
        assert emulator.stats()["in_flight"] == 4
        sleep.open()
        assert [(await r).status_code for r in requests] == [200] * 4
    stats = emulator.stats()
    assert (stats["in_flight"], stats["peak_concurrency"]) == (0, 4)


async def test_reset_clears_counts_quotas_and_script() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpm=1, clock=clock))
    emulator.script({5: "500"})
    async with client_for(emulator) as client:
        await generate(client)
        assert (await generate(client)).status_code == 429
        emulator.reset()
        assert emulator.stats()["requests"] == 0
        assert emulator.stats()["script"] == {}
        assert (await generate(client)).status_code == 200
    assert emulator.stats()["arrivals"][0]["n"] == 1


async def test_the_request_hook_never_sees_the_key() -> None:
    lines: list[RequestLog] = []
    emulator = Emulator(EmulatorSettings(latency=False), on_request=lines.append)
    async with client_for(emulator) as client:
        await client.post(
            f"/v1beta/models/{PRO}:generateContent", params={"key": KEY}, content=b"{}"
        )
        await generate(client)
    assert [(r.method, r.path, r.status, r.model) for r in lines] == [
        ("POST", f"/v1beta/models/{PRO}:generateContent", 400, PRO),
        ("POST", f"/v1beta/models/{PRO}:generateContent", 200, PRO),
    ]
    assert all(KEY not in r.line() for r in lines)
