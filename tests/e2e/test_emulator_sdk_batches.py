"""The official ``google-genai`` SDK, over real HTTP, drives the emulator's Batch API, Files
API, model listing, token counting and streaming as it drives the real service.

The emulator's clock is a fake one the tests move, so a batch goes PENDING, RUNNING and
SUCCEEDED without anyone waiting.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import orjson
import pytest
from emulator_testing import FLASH25, KEY, PRO, FakeClock, request_body
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

_CLOCK = FakeClock()
_CONFIG = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str]]:
    settings = EmulatorSettings(
        latency=False, clock=_CLOCK, batch_latency=2.0, signature_bytes=16, thought_images=True
    )
    emulator = Emulator(settings)
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


@pytest.fixture
def sdk(served: tuple[Emulator, str]) -> Iterator[tuple[Emulator, genai.Client]]:
    emulator, base_url = served
    emulator.reset()
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url))
    try:
        yield emulator, client
    finally:
        client.close()


def _inline(*keys: str) -> list[types.InlinedRequest]:
    return [
        types.InlinedRequest(contents=f"Slide {n}: {key}.", metadata={"key": key}, config=_CONFIG)
        for n, key in enumerate(keys, 1)
    ]


def test_an_inline_batch_goes_pending_running_succeeded(sdk: tuple[Emulator, genai.Client]) -> None:
    emulator, client = sdk
    emulator.script_batches(requests={"slide-2": "500"})
    job = client.batches.create(
        model=PRO, src=_inline("slide-1", "slide-2", "slide-3"), config={"display_name": "deck"}
    )
    assert job.name is not None
    assert (job.state, job.display_name) == (types.JobState.JOB_STATE_PENDING, "deck")
    assert job.model == f"models/{PRO}"
    states = []
    for _ in range(2):
        _CLOCK.advance(2.0)
        states.append(client.batches.get(name=job.name).state)
    assert states == [types.JobState.JOB_STATE_RUNNING, types.JobState.JOB_STATE_SUCCEEDED]
    done = client.batches.get(name=job.name)
    assert done.end_time is not None
    assert done.create_time is not None
    assert done.end_time > done.create_time
    assert done.dest is not None
    assert done.dest.inlined_responses is not None
    first, failed, third = done.dest.inlined_responses
    assert [r.metadata for r in (first, failed, third)] == [
        {"key": f"slide-{n}"} for n in (1, 2, 3)
    ]
    for ok in (first, third):
        assert ok.response is not None
        assert ok.response.candidates
        content = ok.response.candidates[0].content
        assert content is not None
        assert content.parts
        images = [p for p in content.parts if p.inline_data and not p.thought]
        assert images[-1].inline_data is not None
        assert images[-1].inline_data.mime_type == "image/jpeg"
    assert failed.error is not None
    assert failed.error.code == 13
    assert [j.name for j in client.batches.list()] == [job.name]
    assert emulator.stats()["batches"]["created"] == 1


def test_a_batch_from_an_uploaded_file_answers_a_results_file(
    sdk: tuple[Emulator, genai.Client],
) -> None:
    emulator, client = sdk
    lines = b"".join(
        orjson.dumps({"key": f"slide-{n}", "request": request_body(f"Slide {n}.", model=FLASH25)})
        + b"\n"
        for n in (1, 2)
    )
    uploaded = client.files.upload(
        file=io.BytesIO(lines), config={"mime_type": "application/jsonl", "display_name": "in"}
    )
    assert uploaded.name is not None
    assert (uploaded.size_bytes, uploaded.state) == (len(lines), types.FileState.ACTIVE)
    assert client.files.get(name=uploaded.name).display_name == "in"
    job = client.batches.create(model=FLASH25, src=uploaded.name)
    assert job.name is not None
    _CLOCK.advance(4.0)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None
    assert done.dest.file_name is not None
    results = client.files.download(file=done.dest.file_name)
    rows = [orjson.loads(line) for line in results.splitlines()]
    assert [row["key"] for row in rows] == ["slide-1", "slide-2"]
    part = rows[0]["response"]["candidates"][0]["content"]["parts"][-1]
    assert part["inlineData"]["mimeType"] == "image/png"
    client.files.delete(name=uploaded.name)
    with pytest.raises(genai_errors.ClientError) as gone:
        client.files.get(name=uploaded.name)
    assert gone.value.code == 403
    assert emulator.stats()["files"]["uploaded"] == 1


def test_cancel_expire_and_delete(sdk: tuple[Emulator, genai.Client]) -> None:
    emulator, client = sdk
    emulator.script_batches(outcomes={2: "expired"})
    cancelled = client.batches.create(model=PRO, src=_inline("a"))
    expired = client.batches.create(model=PRO, src=_inline("b"))
    assert cancelled.name is not None
    assert expired.name is not None
    client.batches.cancel(name=cancelled.name)
    _CLOCK.advance(4.0)
    assert client.batches.get(name=cancelled.name).state == types.JobState.JOB_STATE_CANCELLED
    assert client.batches.get(name=expired.name).state == types.JobState.JOB_STATE_EXPIRED
    client.batches.delete(name=cancelled.name)
    with pytest.raises(genai_errors.ClientError) as missing:
        client.batches.get(name=cancelled.name)
    assert (missing.value.code, missing.value.status) == (404, "NOT_FOUND")


def test_models_list_get_and_count_tokens(sdk: tuple[Emulator, genai.Client]) -> None:
    _, client = sdk
    names = [m.name for m in client.models.list(config={"page_size": 2})]
    lite = "gemini-3.1-flash-lite-image"
    assert names == [f"models/{m}" for m in (PRO, "gemini-3.1-flash-image", lite, FLASH25)]
    model = client.models.get(model=PRO)
    assert (model.display_name, model.input_token_limit) == ("Nano Banana Pro", 131072)
    assert model.supported_actions is not None
    assert "batchGenerateContent" in model.supported_actions
    contents = "Slide 6: What we learned this quarter."
    counted = client.models.count_tokens(model=PRO, contents=contents)
    answer = client.models.generate_content(model=PRO, contents=contents)
    assert answer.usage_metadata is not None
    assert counted.total_tokens == answer.usage_metadata.prompt_token_count
    with pytest.raises(genai_errors.ClientError) as unknown:
        client.models.get(model="gemini-3-pro-image-preview")
    assert unknown.value.code == 404


def test_generate_content_stream_ends_with_the_image(sdk: tuple[Emulator, genai.Client]) -> None:
    emulator, client = sdk
    chunks = list(
        client.models.generate_content_stream(
            model=PRO, contents="Slide 7: Streaming, chunk by chunk.", config=_CONFIG
        )
    )
    assert len(chunks) > 2
    texts = "".join(c.text or "" for c in chunks[:-1])
    assert texts.startswith("Here is the slide:")
    last = chunks[-1]
    assert last.candidates
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count
    content = last.candidates[0].content
    assert content is not None
    assert content.parts
    assert content.parts[-1].inline_data is not None
    assert emulator.stats()["calls"] == {"streamGenerateContent": 1}
