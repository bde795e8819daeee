"""Every row of the protocol notes' error table, through HTTP and the client's classifier."""

from __future__ import annotations

import httpx2
import pytest
from emulator_testing import (
    FLASH25,
    KEY,
    PRO,
    FakeClock,
    client_for,
    error_of,
    generate,
    request_body,
)

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.error_bodies import UNAVAILABLE_MESSAGES
from nanobanana_async.errors import (
    ApiError,
    BadRequest,
    InvalidApiKey,
    ModelNotFound,
    PermissionDenied,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from nanobanana_async.service import protocol

_RPC = "type.googleapis.com/google.rpc."


def _classified(response: httpx2.Response, model: str = PRO) -> ApiError:
    return protocol.classify_error(response.status_code, response.content, model=model)


async def test_400_bad_value() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, aspect_ratio="7:3")
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == (
        "* GenerateContentRequest.generation_config.image_config.aspect_ratio: aspect_ratio "
        "must be one of '1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', "
        "or '21:9'.\n"
    )
    assert type(_classified(response)) is BadRequest


async def test_400_api_key_invalid_when_keys_are_set() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, keys=frozenset({"good-key"})))
    async with client_for(emulator) as client:
        refused = await generate(client, key="some-other-key")
        accepted = await generate(client, key="good-key")
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["message"] == "API key not valid. Please pass a valid API key."
    info = next(d for d in error["details"] if d["@type"] == _RPC + "ErrorInfo")
    assert (info["reason"], info["domain"]) == ("API_KEY_INVALID", "googleapis.com")
    assert type(_classified(refused)) is InvalidApiKey
    assert accepted.status_code == 200


async def test_any_key_is_accepted_by_default_and_the_query_key_works() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await client.post(
            f"/v1beta/models/{PRO}:generateContent",
            params={"key": "whatever"},
            json=request_body(),
        )
    assert response.status_code == 200


async def test_403_without_a_key() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, key=None)
    assert response.status_code == 403
    error = error_of(response)
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith("Method doesn't allow unregistered callers")
    assert type(_classified(response)) is PermissionDenied


@pytest.mark.parametrize("version", ["v1beta", "v1"])
@pytest.mark.parametrize(
    ("model", "replacement"),
    [("gemini-3-pro-image-preview", PRO), ("no-such-model", None)],
)
async def test_404_unknown_and_retired_models(
    version: str, model: str, replacement: str | None
) -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, model=model, version=version)
    assert response.status_code == 404
    error = error_of(response)
    assert error["status"] == "NOT_FOUND"
    assert error["message"] == (
        f"models/{model} is not found for API version {version}, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods."
    )
    classified = _classified(response, model=model)
    assert isinstance(classified, ModelNotFound)
    assert classified.replacement == replacement


async def test_other_paths_get_a_google_shaped_404() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await client.get("/v1beta/tunedModels", headers={"x-goog-api-key": KEY})
        wrong_method = await client.get(f"/v1beta/models/{PRO}:generateContent")
        unknown_verb = await client.post(f"/v1beta/models/{PRO}:predict")
    for answer in (response, wrong_method, unknown_verb):
        assert answer.status_code == 404
        assert error_of(answer)["status"] == "NOT_FOUND"


async def test_429_per_minute_is_rate_limited_with_the_body_delay() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpm=1, clock=clock))
    async with client_for(emulator) as client:
        assert (await generate(client)).status_code == 200
        clock.advance(15)
        response = await generate(client)
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    error = error_of(response)
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["message"].startswith("You exceeded your current quota")
    assert "limit: 1, model: gemini-3-pro-image" in error["message"]
    assert error["message"].endswith("Please retry in 45.000001s.")
    types = [d["@type"] for d in error["details"]]
    assert types == [_RPC + "Help", _RPC + "QuotaFailure", _RPC + "RetryInfo"]
    violation = error["details"][1]["violations"][0]
    assert violation == {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-PaidTier1",
        "quotaDimensions": {"location": "global", "model": PRO},
        "quotaValue": "1",
    }
    classified = _classified(response)
    assert isinstance(classified, RateLimited)
    assert classified.retry_delay == pytest.approx(45.0, abs=1e-5)


async def test_429_per_day_stops_the_run() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorSettings(latency=False, rpd=1, clock=clock))
    async with client_for(emulator) as client:
        assert (await generate(client)).status_code == 200
        response = await generate(client)
    assert response.status_code == 429
    violation = error_of(response)["details"][1]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-PaidTier1"
    classified = _classified(response)
    assert isinstance(classified, QuotaExhausted)
    assert classified.retry_delay == pytest.approx(86_400.0, abs=1e-5)


async def test_free_tier_is_limit_zero_every_time() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, free_tier=True))
    async with client_for(emulator) as client:
        answers = [await generate(client, model=model) for model in (PRO, FLASH25, PRO)]
    for response in answers:
        assert response.status_code == 429
        error = error_of(response)
        assert "limit: 0" in error["message"]
        quota_ids = [v["quotaId"] for v in error["details"][1]["violations"]]
        assert all(q.endswith("-FreeTier") for q in quota_ids)
        assert isinstance(_classified(response), QuotaExhausted)
    assert emulator.stats()["by_quota"] == {"free-tier": 3}


@pytest.mark.parametrize(
    ("kind", "status", "state"),
    [("500", 500, "INTERNAL"), ("503", 503, "UNAVAILABLE"), ("504", 504, "DEADLINE_EXCEEDED")],
)
async def test_server_errors_are_transient(kind: str, status: int, state: str) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: kind})
    async with client_for(emulator) as client:
        response = await generate(client)
        after = await generate(client)
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["status"]) == (status, state)
    classified = _classified(response)
    assert type(classified) is TransientError
    assert classified.status == status
    assert after.status_code == 200


async def test_503_uses_the_real_messages() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, seed=3))
    emulator.script(dict.fromkeys(range(1, 31), "503"))
    async with client_for(emulator) as client:
        messages = {error_of(await generate(client))["message"] for _ in range(30)}
    assert messages == set(UNAVAILABLE_MESSAGES)


async def test_scripted_invalid_key_mid_run() -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({2: "invalid-key"})
    async with client_for(emulator) as client:
        statuses = [(await generate(client)).status_code for _ in range(2)]
        last = await generate(client)
    assert statuses == [200, 400]
    assert last.status_code == 200


async def test_errors_are_gzipped_when_accepted() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, key=None)
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.json()["error"]["code"] == 403
