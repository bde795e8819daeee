"""``streamGenerateContent``: the same generation as ``generateContent``, sent in chunks,
through the same quota and faults."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
import orjson
import pytest
from emulator_testing import KEY, PRO, FakeClock, client_for, error_of, generate, request_body

from nanobanana_async.emulator import ConnectionDropped, Emulator, EmulatorSettings
from nanobanana_async.service import protocol

_PATH = f"/v1beta/models/{PRO}:streamGenerateContent"


async def _stream(
    client: httpx2.AsyncClient, *, sse: bool = True, **request: Any
) -> httpx2.Response:
    return await client.post(
        _PATH,
        params={"alt": "sse"} if sse else {},
        content=orjson.dumps(request_body(**request)),
        headers={"x-goog-api-key": KEY},
    )


def _events(response: httpx2.Response) -> list[dict[str, Any]]:
    """The chunks of an SSE body, checking its framing on the way."""
    frames = response.content.split(b"\r\n\r\n")
    assert frames[-1] == b""
    assert all(frame.startswith(b"data: ") and b"\n" not in frame for frame in frames[:-1])
    return [orjson.loads(frame[len(b"data: ") :]) for frame in frames[:-1]]


def _parts(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = chunk["candidates"][0]["content"]["parts"]
    return parts


async def test_text_comes_first_and_the_last_chunk_carries_the_image_and_the_usage() -> None:
    settings = EmulatorSettings(latency=False, signature_bytes=64)
    # Two emulators of one seed: the first request of each draws the same numbers.
    async with client_for(Emulator(settings)) as client:
        streamed = await _stream(client)
    async with client_for(Emulator(settings)) as client:
        whole = (await generate(client)).json()
    assert streamed.status_code == 200
    assert streamed.headers["content-type"] == "text/event-stream"
    chunks = _events(streamed)
    assert len(chunks) >= 3
    *early, last = chunks
    for chunk in early:
        assert [set(p) - {"thoughtSignature"} for p in _parts(chunk)] == [{"text"}]
        assert "finishReason" not in chunk["candidates"][0]
        assert set(chunk["usageMetadata"]) == {
            "promptTokenCount",
            "totalTokenCount",
            "promptTokensDetails",
        }
    (image,) = _parts(last)
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == whole["usageMetadata"]
    assert {c["responseId"] for c in chunks} == {whole["responseId"]}
    # The same slide and the same words as generateContent answers.
    whole_parts = whole["candidates"][0]["content"]["parts"]
    assert "".join(p["text"] for c in early for p in _parts(c)) == whole_parts[0]["text"]
    assert image["inlineData"] == whole_parts[-1]["inlineData"]
    assert image["thoughtSignature"] == whole_parts[-1]["thoughtSignature"]


async def test_without_alt_sse_the_chunks_come_as_one_json_array() -> None:
    settings = EmulatorSettings(latency=False, seed=7)
    async with client_for(Emulator(settings)) as sse_client:
        events = _events(await _stream(sse_client))
    async with client_for(Emulator(settings)) as client:
        response = await _stream(client, sse=False)
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert b"\n,\r\n" in response.content
    assert response.json() == events


async def test_thought_images_are_chunks_of_their_own_before_the_text() -> None:
    settings = EmulatorSettings(latency=False, thought_images=True, seed=1)
    async with client_for(Emulator(settings)) as client:
        chunks = _events(await _stream(client))
    kinds = [
        "thought" if part.get("thought") else ("image" if "inlineData" in part else "text")
        for chunk in chunks
        for part in _parts(chunk)
    ]
    assert kinds[0] == "thought"
    assert kinds[-1] == "image"
    assert "thought" not in kinds[kinds.index("text") :]
    final = base64.b64decode(_parts(chunks[-1])[0]["inlineData"]["data"])
    assert final[:2] == b"\xff\xd8"  # the JPEG of the slide


async def test_streams_and_generate_content_share_one_quota() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpm=2, clock=clock))
    async with client_for(emulator) as client:
        first = await _stream(client)
        second = await generate(client)
        refused = await _stream(client)
    assert (first.status_code, second.status_code) == (200, 200)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/json; charset=UTF-8"
    assert "Please retry in" in error_of(refused)["message"]
    stats = emulator.stats()
    assert stats["requests"] == 3
    assert stats["by_status"] == {"200": 2, "429": 1}
    assert stats["calls"] == {"generateContent": 1, "streamGenerateContent": 2}


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503), ("429", 429)])
async def test_a_scripted_error_is_an_http_error_not_a_stream(kind: str, status: int) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: kind})
    async with client_for(emulator) as client:
        response = await _stream(client)
    assert response.status_code == status
    assert error_of(response)["code"] == status
    assert emulator.stats()["by_fault"] == {kind: 1}


async def test_no_image_is_one_chunk_and_a_drop_cuts_the_stream() -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: "no-image", 2: "drop", 3: "truncated"})
    async with client_for(emulator) as client:
        (only,) = _events(await _stream(client))
        with pytest.raises(ConnectionDropped):
            await _stream(client)
        truncated = await _stream(client)
    assert only["candidates"][0]["finishReason"] == "NO_IMAGE"
    assert truncated.status_code == 200
    assert not truncated.content.endswith(b"\r\n\r\n")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(truncated.content.split(b"\r\n\r\n")[-1][len(b"data: ") :])


async def test_the_clients_parser_reads_the_streams_last_chunk() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        last = _events(await _stream(client, aspect_ratio="4:3"))[-1]
    assert protocol.parse_success(orjson.dumps(last)).mime_type == "image/jpeg"
