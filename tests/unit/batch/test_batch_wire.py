"""The Batch API's shapes: operations as the service sends them, responses judged as alone."""

from __future__ import annotations

import base64
import io
from typing import Any

import orjson
import pytest
from PIL import Image

from nanobanana_async.batch.wire import (
    Operation,
    checked_name,
    create_body,
    jsonl,
    outcome,
    slide_key,
    slide_of,
)
from nanobanana_async.errors import (
    BatchNameRefused,
    InvalidApiKey,
    PromptBlocked,
    QuotaExhausted,
    TransientError,
    redact,
)
from nanobanana_async.service.protocol import GeneratedImage

_META = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
KEY = "plain-secret-9f3c27e1b5d84a06"


def _scrub(text: str) -> str:
    return redact(text, KEY)


def _parse(data: object) -> Operation:
    return Operation.parse(data, _scrub)


def _png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "orange").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def _answer() -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": _png()}}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1290},
    }


def test_a_pending_operation_is_read_with_its_counts_as_strings() -> None:
    op = _parse(
        {
            "name": "batches/abc123",
            "metadata": {
                "@type": _META,
                "model": "models/gemini-3-pro-image",
                "displayName": "nanobanana-deck-0a1b",
                "createTime": "2026-12-02T10:00:00Z",
                "batchStats": {"requestCount": "40", "pendingRequestCount": "40"},
                "state": "BATCH_STATE_PENDING",
                "name": "batches/abc123",
            },
            "done": False,
        }
    )
    assert (op.name, op.state, op.display_name) == (
        "batches/abc123",
        "PENDING",
        "nanobanana-deck-0a1b",
    )
    assert (op.requests, op.pending, op.succeeded) == (40, 40, 0)
    assert not op.over


def test_a_finished_operation_carries_its_inline_responses_or_its_file() -> None:
    inline = _parse(
        {
            "name": "batches/x",
            "metadata": {"state": "BATCH_STATE_SUCCEEDED", "batchStats": {"requestCount": "2"}},
            "done": True,
            "response": {
                "@type": f"{_META}Output",
                "inlinedResponses": {
                    "inlinedResponses": [
                        {"response": _answer(), "metadata": {"key": "slide-1"}},
                        {"error": {"code": 400, "message": "bad"}, "metadata": {"key": "slide-2"}},
                    ]
                },
            },
        }
    )
    assert inline.over
    assert len(inline.inlined) == 2
    by_file = _parse(
        {
            "name": "batches/y",
            "metadata": {"state": "BATCH_STATE_SUCCEEDED"},
            "done": True,
            "response": {"responsesFile": "files/out-1"},
        }
    )
    assert by_file.responses_file == "files/out-1"
    # As batches.list and some SDKs give a batch: its fields at the top.
    listed = _parse({"name": "batches/z", "state": "JOB_STATE_RUNNING"})
    assert listed.state == "RUNNING"


@pytest.mark.parametrize("junk", [[], {"metadata": {}}, {"name": ""}, {"name": 7}, "text"])
def test_anything_without_a_batch_name_is_a_transient_bad_body(junk: object) -> None:
    with pytest.raises(TransientError, match="malformed batch answer"):
        _parse(junk)


BAD_NAMES = [
    "batches/abc\ndef",  # a newline: it crashed every run that read it
    "batches/abc\x1b[2Jdef",  # a terminal escape
    "batches/../../upload/v1beta/files",  # a path: the key would go along
    "batches/abc?alt=media",
    "batches/",
    "batches/-abc",
    "batches/ABC123",  # not the documented lowercase
    "batches/" + "a" * 65,
    "operations/1",  # another resource altogether
    f"batches/{KEY}",  # the key echoed: of the shape, but never kept
    f"batches/{KEY[:12]}x",  # a long prefix of it
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_batch_name_of_another_shape_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(BatchNameRefused) as refused:
        _parse({"name": name, "metadata": {"state": "BATCH_STATE_PENDING"}})
    message = refused.value.message
    assert message.isprintable()
    assert KEY[:8] not in message
    assert len(message) < 300
    assert message.endswith("refused; a rerun sends its slides anew")


@pytest.mark.parametrize(
    "name", ["files/", "files/-x", "files/a/../b", "files/a\r\nb", "files/" + "a" * 65, KEY]
)
def test_a_results_file_name_of_another_shape_is_refused(name: str) -> None:
    data = {"name": "batches/ok1", "done": True, "response": {"responsesFile": name}}
    with pytest.raises(BatchNameRefused, match=r"^file name"):
        _parse(data)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("batches/bq8tz9fxi3r3x4yci84xla7xrp7frh44m687", "batches"),  # a real one's shape
        ("batches/a", "batches"),
        ("files/123-456", "files"),  # the docs' example
        ("files/batch-leg9wy9p5df66syjxke2eq4xfjqcwp47ejv3", "files"),  # a real one
    ],
)
def test_the_documented_shapes_are_kept(name: str, kind: str) -> None:
    assert checked_name(name, kind, _scrub) == name


def test_a_state_of_no_enum_shape_is_unspecified() -> None:
    op = _parse({"name": "batches/s1", "metadata": {"state": f"BATCH_STATE_X\n{KEY}"}})
    assert op.state == "UNSPECIFIED"


def test_each_response_is_judged_as_the_same_answer_alone() -> None:
    slide, image = outcome({"response": _answer(), "metadata": {"key": "slide-3"}}, "m")
    assert slide == 3
    assert isinstance(image, GeneratedImage)
    assert image.usage["candidatesTokenCount"] == 1290
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}}
    assert isinstance(outcome({"key": "slide-4", "response": blocked}, "m")[1], PromptBlocked)
    bad_key = {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
    }
    assert isinstance(outcome({"key": "slide-5", "error": bad_key}, "m")[1], InvalidApiKey)
    daily = {"code": 429, "message": "Quota exceeded, limit: 0", "status": "RESOURCE_EXHAUSTED"}
    assert isinstance(outcome({"key": "slide-6", "error": daily}, "m")[1], QuotaExhausted)
    assert isinstance(outcome({"key": "slide-7"}, "m")[1], TransientError)


def test_keys_name_slides_and_nothing_else() -> None:
    assert slide_of(slide_key(12)) == 12
    for foreign in ("12", "slide-", "slide-x", "slide-1e3", None, 12, "slide-" + "9" * 12):
        assert slide_of(foreign) is None


def test_the_create_body_inline_and_by_file() -> None:
    body = {"contents": [{"parts": [{"text": "p"}]}]}
    inline = create_body("nb-1", [(2, body)])
    assert inline == {
        "batch": {
            "displayName": "nb-1",
            "inputConfig": {
                "requests": {"requests": [{"request": body, "metadata": {"key": "slide-2"}}]}
            },
        }
    }
    assert create_body("nb-1", file_name="files/f")["batch"]["inputConfig"] == {
        "fileName": "files/f"
    }
    lines = list(jsonl([(1, body), (2, body)]))
    assert [orjson.loads(line)["key"] for line in lines] == ["slide-1", "slide-2"]
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)


def test_a_per_request_error_s_grpc_code_is_read_as_its_http_status() -> None:
    from nanobanana_async.errors import BadRequest, RateLimited

    def judged(code: int) -> object:
        return outcome({"key": "slide-1", "error": {"code": code, "message": "m"}}, "m")[1]

    assert isinstance(judged(3), BadRequest)  # INVALID_ARGUMENT: this slide's request
    assert isinstance(judged(8), RateLimited)  # RESOURCE_EXHAUSTED
    assert isinstance(judged(13), TransientError)  # INTERNAL
    assert isinstance(judged(14), TransientError)  # UNAVAILABLE
    assert isinstance(judged(400), BadRequest)  # an HTTP status, as given
