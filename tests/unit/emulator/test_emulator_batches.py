"""Batch jobs: the recorded operation shape, states on the injected clock, failures per
request and per batch, cancel, delete, list, and no per-minute quota."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import orjson
import pytest
from emulator_testing import (
    FLASH25,
    KEY,
    PRO,
    FakeClock,
    batch_body,
    call,
    client_for,
    create_batch,
    error_of,
    generate,
)

from nanobanana_async.emulator import Emulator, EmulatorSettings, VirtualTime
from nanobanana_async.service import protocol

_RECORDED_STAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."


def _emulator(clock: FakeClock, **settings: Any) -> Emulator:
    return Emulator(EmulatorSettings(latency=False, clock=clock, signature_bytes=16, **settings))


async def _get(client: httpx2.AsyncClient, name: str) -> dict[str, Any]:
    response = await call(client, "GET", f"/v1beta/{name}")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _state(operation: dict[str, Any]) -> str:
    state: str = operation["metadata"]["state"]
    return state


async def test_a_new_batch_is_the_recorded_pending_operation() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock)) as client:
        response = await create_batch(client)
    assert response.status_code == 200
    operation = response.json()
    name = operation["name"]
    assert name.startswith("batches/")
    assert len(name) == len("batches/") + 36
    meta = operation.pop("metadata")
    assert operation == {"name": name}  # no "done" until it is true, as proto JSON sends it
    assert list(meta) == [
        "@type", "model", "displayName", "createTime", "updateTime", "batchStats", "state", "name"
    ]  # fmt: skip
    assert meta["@type"] == _TYPE + "GenerateContentBatch"
    assert (meta["model"], meta["displayName"], meta["name"]) == (f"models/{PRO}", "deck", name)
    assert meta["batchStats"] == {"requestCount": "3", "pendingRequestCount": "3"}
    assert meta["state"] == "BATCH_STATE_PENDING"
    assert meta["createTime"] == meta["updateTime"]
    assert re.match(_RECORDED_STAMP, meta["createTime"])


async def test_pending_then_running_then_succeeded_on_the_clock() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock, batch_latency=2.0)) as client:
        name = (await create_batch(client)).json()["name"]
        states = []
        for step in (1.999, 0.001, 1.998, 0.002):
            clock.advance(step)
            states.append(_state(await _get(client, name)))
        done = await _get(client, name)
    assert states == [
        "BATCH_STATE_PENDING",
        "BATCH_STATE_RUNNING",
        "BATCH_STATE_RUNNING",
        "BATCH_STATE_SUCCEEDED",
    ]
    assert done["done"] is True
    meta = done["metadata"]
    assert meta["batchStats"] == {"requestCount": "3", "successfulRequestCount": "3"}
    assert meta["endTime"] == meta["updateTime"] > meta["createTime"]
    response = done["response"]
    assert response["@type"] == _TYPE + "GenerateContentBatchOutput"
    assert meta["output"] == {"inlinedResponses": response["inlinedResponses"]}
    entries = response["inlinedResponses"]["inlinedResponses"]
    assert [e["metadata"] for e in entries] == [{"key": f"slide-{n}"} for n in (1, 2, 3)]
    images = [protocol.parse_success(orjson.dumps(e["response"])) for e in entries]
    assert {image.mime_type for image in images} == {"image/jpeg"}
    assert len({image.data for image in images}) == 3  # each slide its own


async def test_a_poller_on_virtual_time_sees_every_state_and_never_waits() -> None:
    """How a client's tests drive a batch: the emulator and the client share one clock."""
    time = VirtualTime(start=500.0)
    settings = EmulatorSettings(
        latency=False, clock=time.clock, batch_latency=30.0, signature_bytes=16
    )
    emulator = Emulator(settings)
    seen: list[tuple[float, str]] = []

    async def poll() -> None:
        async with client_for(emulator) as client:
            name = (await create_batch(client)).json()["name"]
            while not seen or seen[-1][1] != "BATCH_STATE_SUCCEEDED":
                await time.sleep(10.0)
                seen.append((time.now - 500.0, _state(await _get(client, name))))

    await time.run(poll())
    assert seen == [
        (10.0, "BATCH_STATE_PENDING"),
        (20.0, "BATCH_STATE_PENDING"),
        (30.0, "BATCH_STATE_RUNNING"),
        (40.0, "BATCH_STATE_RUNNING"),
        (50.0, "BATCH_STATE_RUNNING"),
        (60.0, "BATCH_STATE_SUCCEEDED"),
    ]
    assert emulator.stats()["calls"] == {"batchGenerateContent": 1, "batches.get": 6}


async def test_a_held_create_makes_its_batch_at_once_and_answers_later() -> None:
    """``batch_create_hold``: a create on the wire, its batch already made at the service."""
    time = VirtualTime(start=500.0)
    settings = EmulatorSettings(
        latency=False,
        clock=time.clock,
        sleep=time.sleep,
        batch_latency=30.0,
        batch_create_hold=40.0,
        signature_bytes=16,
    )
    emulator = Emulator(settings)
    answered: list[tuple[float, str]] = []
    made_while_held: list[int] = []

    async def create() -> None:
        async with client_for(emulator) as client:
            answer = (await create_batch(client)).json()
            answered.append((time.now - 500.0, _state(answer)))

    async def look() -> None:
        await time.sleep(1.0)
        made_while_held.append(emulator.stats()["batches"]["created"])

    await time.run(create(), look())
    assert made_while_held == [1]
    assert answered == [(40.0, "BATCH_STATE_PENDING")]  # the answer as made, held on the wire


async def test_running_lasts_the_generation_time_when_latency_is_on() -> None:
    clock = FakeClock()
    settings = EmulatorSettings(clock=clock, batch_latency=10.0, time_scale=0.5, signature_bytes=16)
    emulator = Emulator(settings)
    async with client_for(emulator) as client:
        name = (await create_batch(client)).json()["name"]
        # Pending 5 s, then running 5 s plus the slowest pro generation: 17 to 29 s, halved.
        clock.advance(5.0 + 5.0 + 17.0 / 2 - 0.001)
        running = _state(await _get(client, name))
        clock.advance((29.0 - 17.0) / 2 + 0.002)
        done = _state(await _get(client, name))
    assert (running, done) == ("BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED")


async def test_batch_requests_take_no_per_minute_quota_and_are_not_generations() -> None:
    clock = FakeClock()
    emulator = _emulator(clock, rpm=1, batch_latency=0.0)
    async with client_for(emulator) as client:
        first = await create_batch(client)
        second = await create_batch(client)
        alone = await generate(client)
    assert first.json()["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert second.json()["metadata"]["batchStats"]["successfulRequestCount"] == "3"
    assert alone.status_code == 200
    stats = emulator.stats()
    assert (stats["requests"], stats["by_quota"]) == (1, {})
    assert stats["batches"]["created"] == 2
    assert stats["batches"]["requests"] == 6
    assert stats["batches"]["by_display_name"] == {"deck": 2}
    assert stats["batches"]["by_state"] == {"BATCH_STATE_SUCCEEDED": 2}


async def test_a_scripted_key_fails_alone_as_a_status_in_its_place() -> None:
    clock = FakeClock()
    emulator = _emulator(clock, batch_latency=0.0)
    emulator.script_batches(requests={"slide-2": "500", "slide-3": "no-image"})
    async with client_for(emulator) as client:
        done = (await create_batch(client)).json()
    assert done["metadata"]["batchStats"] == {
        "requestCount": "3",
        "successfulRequestCount": "2",
        "failedRequestCount": "1",
    }
    first, failed, no_image = done["response"]["inlinedResponses"]["inlinedResponses"]
    assert "response" in first
    # A google.rpc.Status: the gRPC code (13 INTERNAL), no HTTP status name.
    assert failed == {
        "error": {
            "code": 13,
            "message": "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        },
        "metadata": {"key": "slide-2"},
    }
    assert no_image["response"]["candidates"][0]["finishReason"] == "NO_IMAGE"


@pytest.mark.parametrize(("kind", "code"), [("400", 3), ("429", 8), ("503", 14), ("504", 4)])
async def test_a_fail_rate_draws_its_kinds(kind: str, code: int) -> None:
    clock = FakeClock()
    emulator = _emulator(clock, batch_latency=0.0, batch_fail_rate=1.0, batch_fail_kinds=(kind,))
    async with client_for(emulator) as client:
        entries = (await create_batch(client)).json()["response"]["inlinedResponses"]
    assert [e["error"]["code"] for e in entries["inlinedResponses"]] == [code] * 3


@pytest.mark.parametrize("scripted", [True, False])
async def test_expired_and_failed_batches_end_without_responses(scripted: bool) -> None:
    clock = FakeClock()
    emulator = _emulator(clock, batch_latency=1.0)
    if scripted:
        emulator.script_batches(outcomes={1: "expired", 2: "failed"})
    else:
        emulator = _emulator(clock, batch_latency=1.0, batch_outcome="expired")
    async with client_for(emulator) as client:
        expired_name = (await create_batch(client)).json()["name"]
        failed_name = (await create_batch(client)).json()["name"]
        clock.advance(1.0)
        running = _state(await _get(client, expired_name))
        clock.advance(1.0)
        expired = await _get(client, expired_name)
        failed = await _get(client, failed_name)
    assert running == "BATCH_STATE_RUNNING"
    assert _state(expired) == "BATCH_STATE_EXPIRED"
    assert expired["done"] is True
    assert "response" not in expired
    assert "output" not in expired["metadata"]
    assert expired["metadata"]["batchStats"] == {"requestCount": "3", "pendingRequestCount": "3"}
    if scripted:
        assert _state(failed) == "BATCH_STATE_FAILED"
        assert failed["error"]["code"] == 13
        assert failed["metadata"]["batchStats"]["failedRequestCount"] == "3"
        assert emulator.stats()["batch_script"]["outcomes"] == {"1": "expired", "2": "failed"}
    else:
        assert _state(failed) == "BATCH_STATE_EXPIRED"


async def test_a_batch_not_done_in_48_hours_expires_then() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock, batch_latency=200_000.0)) as client:
        name = (await create_batch(client)).json()["name"]
        clock.advance(48 * 3600 - 1)
        pending = _state(await _get(client, name))
        clock.advance(1)
        expired = _state(await _get(client, name))
    assert (pending, expired) == ("BATCH_STATE_PENDING", "BATCH_STATE_EXPIRED")


async def test_cancel_ends_a_batch_at_once_and_only_once() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock, batch_latency=5.0)) as client:
        name = (await create_batch(client)).json()["name"]
        clock.advance(6.0)
        cancelled = await call(client, "POST", f"/v1beta/{name}:cancel")
        clock.advance(60.0)
        after = await _get(client, name)
        again = await call(client, "POST", f"/v1beta/{name}:cancel")
    assert (cancelled.status_code, cancelled.json()) == (200, {})
    assert _state(after) == "BATCH_STATE_CANCELLED"
    assert after["done"] is True
    assert "response" not in after
    assert again.status_code == 400
    assert error_of(again)["status"] == "FAILED_PRECONDITION"


async def test_delete_and_unknown_ids_are_the_services_404() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock)) as client:
        name = (await create_batch(client)).json()["name"]
        deleted = await call(client, "DELETE", f"/v1beta/{name}")
        gone = await call(client, "GET", f"/v1beta/{name}")
        unknown = await call(client, "POST", "/v1/batches/nosuchbatch:cancel")
    assert (deleted.status_code, deleted.json()) == (200, {})
    for missing in (gone, unknown):
        assert missing.status_code == 404
        assert error_of(missing) == {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
        }


async def test_the_list_pages_newest_first() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock)) as client:
        empty = (await call(client, "GET", "/v1beta/batches")).json()
        names = [(await create_batch(client)).json()["name"] for _ in range(3)]
        first = (await call(client, "GET", "/v1beta/batches", params={"pageSize": 2})).json()
        params = {"pageSize": 2, "pageToken": first["nextPageToken"]}
        second = (await call(client, "GET", "/v1beta/batches", params=params)).json()
    assert empty == {}
    listed = [op["name"] for op in first["operations"] + second["operations"]]
    assert listed == names[::-1]
    assert "nextPageToken" not in second


async def test_a_bad_inline_request_refuses_the_whole_batch() -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    body = batch_body(["Slide 1.", "Slide 2."])
    body["batch"]["inputConfig"]["requests"]["requests"][1]["request"]["generationConfig"][
        "outputMimeType"
    ] = "image/png"
    bad_ratio = batch_body(["Slide 1."])
    bad_ratio["batch"]["inputConfig"]["requests"]["requests"][0]["request"]["generationConfig"][
        "imageConfig"
    ] = {"aspectRatio": "7:3"}
    async with client_for(emulator) as client:
        unknown = await create_batch(client, body)
        ratio = await create_batch(client, bad_ratio)
        nothing = await create_batch(client, {"batch": {"displayName": "x"}})
        typo = await create_batch(client, {"batch": {"inputConfg": {}}})
        big = await client.post(
            f"/v1beta/models/{PRO}:batchGenerateContent",
            content=b" " * (20 * 1024 * 1024 + 1),
            headers={"x-goog-api-key": KEY},
        )
    assert {r.status_code for r in (unknown, ratio, nothing, typo, big)} == {400}
    assert error_of(unknown)["message"] == (
        'Invalid JSON payload received. Unknown name "outputMimeType" at '
        "'batch.input_config.requests.requests[1].request.generation_config': Cannot find field."
    )
    assert "aspect_ratio must be one of" in error_of(ratio)["message"]
    assert "input_config is not specified" in error_of(nothing)["message"]
    assert 'Unknown name "inputConfg"' in error_of(typo)["message"]
    assert error_of(big)["message"] == "Request payload size exceeds the limit: 20971520 bytes."
    assert emulator.stats()["batches"]["created"] == 0


async def test_keys_and_models_are_checked_as_generate_content_checks_them() -> None:
    clock = FakeClock()
    emulator = _emulator(clock, keys=frozenset({KEY}))
    async with client_for(emulator) as client:
        anonymous = await create_batch(client, key=None)
        stranger = await create_batch(client, key="AIza-not-ours")
        retired = await create_batch(client, model="gemini-3-pro-image-preview")
        name = (await create_batch(client)).json()["name"]
        poll = await call(client, "GET", f"/v1beta/{name}", key=None)
    assert (anonymous.status_code, stranger.status_code, poll.status_code) == (403, 400, 403)
    assert retired.status_code == 404
    assert "is not supported for batchGenerateContent" in error_of(retired)["message"]


async def test_a_seed_replays_a_batch_and_reset_forgets_every_batch() -> None:
    clock = FakeClock()
    settings: dict[str, Any] = {"batch_latency": 0.0, "seed": 5}
    runs = []
    for _ in range(2):
        async with client_for(_emulator(clock, **settings)) as client:
            runs.append((await create_batch(client, model=FLASH25)).json())
    assert runs[0]["name"] == runs[1]["name"]
    ids = [
        [
            e["response"]["responseId"]
            for e in run["response"]["inlinedResponses"]["inlinedResponses"]
        ]
        for run in runs
    ]
    assert ids[0] == ids[1]
    emulator = _emulator(clock, **settings)
    emulator.script_batches(requests={"slide-1": "500"})
    async with client_for(emulator) as client:
        name = (await create_batch(client)).json()["name"]
        emulator.reset()
        gone = await call(client, "GET", f"/v1beta/{name}")
        again = (await create_batch(client)).json()
    assert gone.status_code == 404
    assert again["name"] == name  # same seed, same first draw
    assert "error" not in again["response"]["inlinedResponses"]["inlinedResponses"][0]
    stats = emulator.stats()
    assert stats["batches"]["created"] == 1
    assert stats["batch_script"] == {"requests": {}, "outcomes": {}}


async def test_the_batch_script_is_a_control_endpoint_too() -> None:
    clock = FakeClock()
    emulator = _emulator(clock, batch_latency=0.0)
    async with client_for(emulator) as client:
        script = {"requests": {"slide-1": "503"}, "outcomes": {"2": "expired"}}
        answer = await client.post("/_emulator/batch-script", json=script)
        bad = await client.post("/_emulator/batch-script", json={"requests": {"k": "teapot"}})
        entries = (await create_batch(client)).json()["response"]["inlinedResponses"]
        expired = (await create_batch(client)).json()["metadata"]["state"]
        stats = (await client.get("/_emulator/stats")).json()
    assert answer.json() == {"batch_script": script}
    assert bad.status_code == 400
    assert entries["inlinedResponses"][0]["error"]["code"] == 14
    assert expired == "BATCH_STATE_EXPIRED"
    assert [job["state"] for job in stats["batches"]["jobs"]] == [
        "BATCH_STATE_SUCCEEDED",
        "BATCH_STATE_EXPIRED",
    ]
    assert stats["calls"]["batchGenerateContent"] == 2


def test_bad_batch_settings_are_refused() -> None:
    for bad in (
        {"batch_latency": -1.0},
        {"batch_outcome": "lost"},
        {"batch_fail_rate": 1.5},
        {"batch_fail_kinds": ("drop",)},
    ):
        with pytest.raises(ValueError, match="batch"):
            EmulatorSettings(**bad)
    emulator = Emulator(EmulatorSettings())
    with pytest.raises(ValueError, match="ordinal"):
        emulator.script_batches(outcomes={0: "expired"})
    with pytest.raises(ValueError, match="kind"):
        emulator.script_batches(requests={"slide-1": "slow"})
