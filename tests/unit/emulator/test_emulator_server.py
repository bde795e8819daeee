"""Over real HTTP (uvicorn on loopback): gzip, chunking, dropped and cut answers, shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx2
import pytest
from emulator_testing import KEY, client_for, generate

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.errors import TransientError
from nanobanana_async.service import protocol


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False))
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


@pytest.fixture
def server(served: tuple[Emulator, str]) -> tuple[Emulator, str]:
    served[0].reset()
    return served


def _client(base_url: str, **options: float) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=base_url, timeout=options.get("timeout", 10.0))


async def test_answers_are_gzipped_and_chunked(server: tuple[Emulator, str]) -> None:
    _, base_url = server
    async with _client(base_url) as client:
        zipped = await generate(client)
        plain = await client.post(
            "/v1beta/models/gemini-3-pro-image:generateContent",
            content=b'{"contents": [{"parts": [{"text": "Slide 2: Plain."}]}]}',
            headers={"x-goog-api-key": KEY, "accept-encoding": "identity"},
        )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["transfer-encoding"] == "chunked"
    assert zipped.headers["content-type"] == "application/json; charset=UTF-8"
    assert zipped.headers["server-timing"].startswith("gfet4t7; dur=")
    assert "retry-after" not in zipped.headers
    assert "content-encoding" not in plain.headers
    for response in (zipped, plain):
        assert response.status_code == 200
        assert protocol.parse_success(response.content).mime_type == "image/jpeg"


async def test_a_dropped_connection_is_a_protocol_error(server: tuple[Emulator, str]) -> None:
    emulator, base_url = server
    emulator.script({1: "drop"})
    async with _client(base_url) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            await generate(client)
        assert (await generate(client)).status_code == 200
    assert emulator.stats()["by_fault"] == {"drop": 1}


async def test_a_truncated_body_is_a_transient_error(server: tuple[Emulator, str]) -> None:
    emulator, base_url = server
    emulator.script({1: "truncated"})
    async with _client(base_url) as client:
        response = await generate(client)
    assert response.status_code == 200
    with pytest.raises(TransientError) as caught:
        protocol.parse_success(response.content)
    assert caught.value.reason == "BAD_BODY"


async def _until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_slow_stops_waiting_when_the_client_times_out(server: tuple[Emulator, str]) -> None:
    emulator, base_url = server
    emulator.script({1: "slow"})
    async with _client(base_url, timeout=0.3) as client:
        with pytest.raises(httpx2.ReadTimeout):
            await generate(client)
    await _until(lambda: emulator.stats()["in_flight"] == 0)
    assert emulator.stats()["arrivals"][0]["status"] == 499


async def test_leaving_the_server_ends_generations_in_flight() -> None:
    emulator = Emulator(EmulatorSettings(seed=2))  # real latency: 17 s or more for pro
    client: httpx2.AsyncClient | None = None
    try:
        with serve_in_thread(emulator) as base_url:
            client = _client(base_url)
            request = asyncio.create_task(generate(client))
            await _until(lambda: emulator.stats()["in_flight"] == 1)
            started = time.monotonic()
        response = await request
        assert time.monotonic() - started < 5
        assert response.status_code == 503
    finally:
        if client is not None:
            await client.aclose()


async def test_serve_in_thread_takes_settings_and_in_process_agrees() -> None:
    settings = EmulatorSettings(latency=False, seed=4)
    with serve_in_thread(settings) as base_url:
        async with _client(base_url) as client:
            served = (await generate(client)).json()["responseId"]
    async with client_for(Emulator(settings)) as client:
        local = (await generate(client)).json()["responseId"]
    assert served == local
