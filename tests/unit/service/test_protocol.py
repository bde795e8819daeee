"""The wire format, against answers on file: our own fixtures, and real recordings if present.

Our fixtures (``tests/fixtures/wire``, written from the documented format) always run; the
recordings in ``shared/fixtures/gemini-recorded`` are an extra cross-check where they are
beside the repo (see :func:`emulator_testing.wire_cases`).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import orjson
import pytest
from emulator_testing import RECORDED_FIXTURES, RECORDED_MISSING, RECORDED_NAMES, Wire, wire_cases
from PIL import Image

from nanobanana_async.errors import (
    ApiError,
    BadRequest,
    ImageRefused,
    InvalidApiKey,
    ModelNotFound,
    NoImageReturned,
    PermissionDenied,
    PromptBlocked,
    QuotaExhausted,
    RateLimited,
    SignatureRejected,
    TransientError,
)
from nanobanana_async.service import protocol


def test_recorded_fixtures_cross_check() -> None:
    """Every recording the suite names is there; without the folder, this one test skips."""
    if not RECORDED_FIXTURES.is_dir():
        pytest.skip(RECORDED_MISSING)
    assert RECORDED_NAMES
    assert [n for n in sorted(RECORDED_NAMES) if not Wire(n, recorded=True).path.is_file()] == []


def _parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = body["candidates"][0]["content"]["parts"]
    return parts


@pytest.mark.parametrize(
    ("wire", "mime", "size"),
    wire_cases(
        [
            ("gemini-3-pro-image--image-jpeg", "image/jpeg", (1408, 768)),
            ("gemini-3-pro-image--text-and-image", "image/jpeg", (1376, 768)),
            ("gemini-3-pro-image--thoughts-then-image", "image/jpeg", (1024, 1024)),
            ("gemini-3.1-flash-image--text-and-image", "image/jpeg", (2064, 512)),
            ("gemini-2.5-flash-image--text-and-image-png", "image/png", (1024, 1024)),
            ("vertex-gemini-2.5-flash-image--image-jpeg", "image/jpeg", (1344, 768)),
        ],
        [
            ("gemini-3-pro-image--image-jpeg", "image/jpeg", (1408, 768)),
            ("gemini-3-pro-image-preview--text-and-image", "image/jpeg", None),
            ("gemini-2.5-flash-image--text-and-image-png", "image/png", (1024, 1024)),
            ("vertex-gemini-2.5-flash-image--image-jpeg", "image/jpeg", None),
        ],
    ),
)
def test_success_bodies_yield_the_image(
    wire: Wire, mime: str, size: tuple[int, int] | None
) -> None:
    body = wire.response()["body"]
    image = protocol.parse_success(orjson.dumps(body))
    assert image.mime_type == mime
    with Image.open(io.BytesIO(image.data)) as decoded:
        decoded.load()
        assert Image.MIME[decoded.format or ""] == mime
        if size:
            assert decoded.size == size
    # The documented rule: the last image part that is not a thought; thoughts are not text.
    final = [p for p in _parts(body) if "inlineData" in p and not p.get("thought")][-1]
    assert image.data == base64.b64decode(final["inlineData"]["data"])
    assert image.text == "".join(
        p["text"] for p in _parts(body) if "text" in p and not p.get("thought")
    )
    assert image.model_version == body["modelVersion"]
    assert image.response_id == body["responseId"]
    assert image.usage == body["usageMetadata"]


@pytest.mark.parametrize(
    ("wire", "words"),
    wire_cases(
        [
            ("gemini-3-pro-image--text-and-image", "Three pillars standing"),
            ("gemini-3.1-flash-image--text-and-image", "four milestones"),
            ("gemini-2.5-flash-image--text-and-image-png", "paper plane"),
        ],
        [("gemini-3-pro-image-preview--text-and-image", "axolotl")],
    ),
)
def test_text_before_image_is_kept_as_text(wire: Wire, words: str) -> None:
    image = protocol.parse_success(wire.response()["body"])
    assert words in image.text


def test_thought_parts_are_neither_the_image_nor_the_text() -> None:
    """Two thought images (red, green) and a thought text come before the final blue image."""
    body = Wire("gemini-3-pro-image--thoughts-then-image").response()["body"]
    image = protocol.parse_success(orjson.dumps(body))
    with Image.open(io.BytesIO(image.data)) as decoded:
        pixel = decoded.convert("RGB").getpixel((512, 512))
    assert pixel == pytest.approx((40, 40, 220), abs=8)
    assert image.text == "Six robots around a round table, seen from above."


@pytest.mark.parametrize(
    ("wire", "error", "reason"),
    wire_cases(
        [
            ("gemini-2.5-flash-image--text-only-no-image", NoImageReturned, "STOP"),
            ("gemini-3.1-flash-image--no-image", NoImageReturned, "NO_IMAGE"),
            ("gemini-3.1-flash-image--prompt-blocked", PromptBlocked, "PROHIBITED_CONTENT"),
            ("gemini-3-pro-image--image-safety", ImageRefused, "IMAGE_SAFETY"),
        ],
        [
            ("gemini-2.5-flash-image--text-only-no-image", NoImageReturned, "STOP"),
            ("gemini-3.1-flash-image-preview--no-image", NoImageReturned, "NO_IMAGE"),
            (
                "gemini-3.1-flash-image-preview--prompt-blocked",
                PromptBlocked,
                "PROHIBITED_CONTENT",
            ),
        ],
    ),
)
def test_answers_without_an_image(wire: Wire, error: type[ApiError], reason: str) -> None:
    body = wire.response()["body"]
    with pytest.raises(error) as caught:
        protocol.parse_success(orjson.dumps(body))
    assert type(caught.value) is error
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("wire", "expected"),
    wire_cases(
        [
            ("error-400-invalid-argument", BadRequest),
            ("error-400-api-key-invalid", InvalidApiKey),
            ("error-403-permission-denied", PermissionDenied),
            ("error-404-not-found", ModelNotFound),
            ("error-429-per-minute-retry-info", RateLimited),
            ("error-429-per-day", QuotaExhausted),
            ("error-429-free-tier-limit-0", QuotaExhausted),
            ("error-500-internal", TransientError),
            ("error-503-unavailable", TransientError),
        ],
        [
            ("error-400-invalid-argument", BadRequest),
            ("error-429-resource-exhausted-retry-info", RateLimited),
        ],
    ),
)
def test_error_bodies_are_classified(wire: Wire, expected: type[ApiError]) -> None:
    response = wire.response()
    error = protocol.classify_error(response["status"], orjson.dumps(response["body"]))
    assert type(error) is expected
    assert error.status == response["status"]


@pytest.mark.parametrize(
    ("wire", "delay", "limit"),
    wire_cases(
        [("error-429-per-minute-retry-info", 12.5, 20.0)],
        # A quota is named, its value not given: the pacer counts what it admitted.
        [("error-429-resource-exhausted-retry-info", 34.4, None)],
    ),
)
def test_a_429_is_rate_limited_with_the_body_delay(
    wire: Wire, delay: float, limit: float | None
) -> None:
    response = wire.response()
    error = protocol.classify_error(response["status"], orjson.dumps(response["body"]))
    assert isinstance(error, RateLimited)
    assert error.retry_delay == pytest.approx(delay)
    assert (error.overload, error.limit) == (False, limit)


def _quota_429(*violations: dict[str, object]) -> bytes:
    return _error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota.",
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": list(violations)},
    )


@pytest.mark.parametrize(
    ("violations", "overload", "limit"),
    [
        (
            [
                {
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-PaidTier1",
                    "quotaValue": "20",
                }
            ],
            False,
            20.0,
        ),
        (
            [
                {
                    "quotaId": "GenerateContentInputTokensPerModelPerMinute-PaidTier1",
                    "quotaValue": "9",
                },
                {
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-PaidTier1",
                    "quotaValue": "10",
                },
            ],
            False,
            10.0,
        ),
        (
            [
                {
                    "quotaId": "GenerateContentInputTokensPerModelPerMinute-PaidTier1",
                    "quotaValue": "9",
                }
            ],
            False,
            None,
        ),
        (
            [{"quotaId": "GenerateContentConcurrentRequestsPerProjectPerModel", "quotaValue": "4"}],
            False,
            4.0,
        ),
        (
            [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": "lots"}],
            False,
            None,
        ),
        (
            [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": True}],
            False,
            None,
        ),
        (
            [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": "-3"}],
            False,
            None,
        ),
        ([], True, None),
    ],
)
def test_a_429_says_whether_it_names_a_quota_and_the_request_limit(
    violations: list[dict[str, object]], overload: bool, limit: float | None
) -> None:
    error = protocol.classify_error(429, _quota_429(*violations))
    assert isinstance(error, RateLimited)
    assert (error.overload, error.limit) == (overload, limit)


def _png(color: str) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_last_non_thought_image_is_kept() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "inlineData": {"mimeType": "image/png", "data": _png("red")},
                            "thought": True,
                        },
                        {"inlineData": {"mimeType": "image/png", "data": _png("green")}},
                        {
                            "inlineData": {"mimeType": "image/png", "data": _png("blue")},
                            "thought": True,
                        },
                        {"text": "here you go"},
                        {"inlineData": {"mimeType": "image/png", "data": _png("white")}},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    image = protocol.parse_success(body)
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    assert image.text == "here you go"


def test_a_thought_image_after_the_final_one_is_not_taken() -> None:
    """The last image is not the answer when it is a thought: the flag decides, not order."""
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"inlineData": {"mimeType": "image/png", "data": _png("green")}},
                        {
                            "inlineData": {"mimeType": "image/png", "data": _png("blue")},
                            "thought": True,
                        },
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    image = protocol.parse_success(body)
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.convert("RGB").getpixel((0, 0)) == (0, 128, 0)


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "SAFETY", "PROHIBITED_CONTENT"])
def test_refusals_are_not_retried_as_no_image(reason: str) -> None:
    body = {"candidates": [{"content": {}, "finishReason": reason}]}
    with pytest.raises(ImageRefused):
        protocol.parse_success(body)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"candidates": [{"content": {"parts": [{"inlineData": {"data": "@@"}}]}}]}'],
)
def test_malformed_bodies_are_transient(raw: bytes) -> None:
    with pytest.raises(TransientError):
        protocol.parse_success(raw)


def _error(code: int, status: str, message: str, *details: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "message": message, "status": status, "details": list(details)}}
    )


_BAD_KEY = _error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
)
_PER_DAY = _error(
    429,
    "RESOURCE_EXHAUSTED",
    "You exceeded your current quota. Please retry in 3600s.",
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-PaidTier1"}],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3600s"},
)
_FREE_TIER = _error(
    429,
    "RESOURCE_EXHAUSTED",
    "Quota exceeded for metric: x, limit: 0, model: gemini-3-pro-image\n"
    "Please retry in 49.125626837s.",
)
_PER_MINUTE_MESSAGE_ONLY = _error(
    429, "RESOURCE_EXHAUSTED", "Quota exceeded. Please retry in 1500ms."
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _BAD_KEY, InvalidApiKey),
        (400, _error(400, "INVALID_ARGUMENT", "bad aspect ratio"), BadRequest),
        (403, _error(403, "PERMISSION_DENIED", "unregistered callers"), PermissionDenied),
        (404, _error(404, "NOT_FOUND", "models/x is not found"), ModelNotFound),
        (429, _PER_DAY, QuotaExhausted),
        (429, _FREE_TIER, QuotaExhausted),
        (429, _PER_MINUTE_MESSAGE_ONLY, RateLimited),
        (408, b"", TransientError),
        (500, _error(500, "INTERNAL", "An internal error has occurred."), TransientError),
        (502, b"<html>bad gateway</html>", TransientError),
        (503, _error(503, "UNAVAILABLE", "The model is overloaded."), TransientError),
        (504, _error(504, "DEADLINE_EXCEEDED", "Deadline expired."), TransientError),
        (409, _error(409, "ABORTED", "conflict"), BadRequest),
    ],
)
def test_classification_table(status: int, body: bytes, expected: type[ApiError]) -> None:
    error = protocol.classify_error(status, body)
    assert type(error) is expected
    assert error.status == status


def test_retry_delay_falls_back_to_the_message() -> None:
    error = protocol.classify_error(429, _PER_MINUTE_MESSAGE_ONLY)
    assert isinstance(error, RateLimited)
    assert error.retry_delay == pytest.approx(1.5)


def test_retired_model_404_names_the_replacement() -> None:
    response = Wire("error-404-not-found").response()
    error = protocol.classify_error(
        response["status"], orjson.dumps(response["body"]), model="gemini-3-pro-image-preview"
    )
    assert isinstance(error, ModelNotFound)
    assert error.replacement == "gemini-3-pro-image"
    assert "use gemini-3-pro-image" in error.message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("34.4s", 34.4), ("0s", 0.0), ("49.125626837s", 49.125626837), ("x", None)],
)
def test_parse_duration(value: str, seconds: float | None) -> None:
    assert protocol.parse_duration(value) == (pytest.approx(seconds) if seconds else seconds)


def test_build_request_leaves_image_size_out_for_flash_25() -> None:
    body = protocol.build_request(
        "p", model="gemini-2.5-flash-image", aspect_ratio="1:1", image_size="2K"
    )
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1"}
    body = protocol.build_request(
        "p",
        model="gemini-3-pro-image",
        aspect_ratio="16:9",
        image_size="4K",
        temperature=0.5,
        seed=7,
    )
    config = body["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "4K"}
    assert (config["temperature"], config["seed"]) == (0.5, 7)
    assert body["contents"][0]["parts"] == [{"text": "p"}]


# --- the model turn an edit sends back --------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "gemini-3-pro-image--text-and-image",
        "gemini-3-pro-image--thoughts-then-image",
        "gemini-3.1-flash-image--text-and-image",
        "gemini-2.5-flash-image--text-and-image-png",
    ],
)
def test_the_turn_is_the_content_as_received(name: str) -> None:
    body = Wire(name).response()["body"]
    as_sent = orjson.dumps(body)
    sent = orjson.loads(as_sent)
    image = protocol.parse_success(body)
    signed = [p for p in _parts(body) if "thoughtSignature" in p]
    assert bool(signed) is name.startswith("gemini-3")
    if not signed:  # nothing an edit needs beyond the image itself
        assert image.turn is None
        return
    assert image.turn is not None
    # Every part, thoughts and signatures included, nothing added or dropped, but the
    # delivered image's base64: that is ``data``, and not held twice while it waits.
    expected = sent["candidates"][0]["content"]
    emptied = 0
    for part in expected["parts"]:
        inline = part.get("inlineData")
        if inline and not part.get("thought") and base64.b64decode(inline["data"]) == image.data:
            inline["data"] = ""
            emptied += 1
    assert emptied == 1
    assert image.turn == expected
    # The answer as parsed is left as it was (a caller may still read it).
    assert orjson.dumps(body) == as_sent


@pytest.mark.parametrize(
    "message",
    [
        "Image part is missing a thought_signature in content position 2, part position 1. "
        "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures"
        "#model-behavior for more details.",
        "Text part is missing a thought_signature in content position 2, part position 1.",
        "Corrupted thought signature.",
        "Unable to submit request because Thought signature is not valid.",
    ],
)
def test_a_400_naming_a_thought_signature_is_signature_rejected(message: str) -> None:
    error = protocol.classify_error(400, _error(400, "INVALID_ARGUMENT", message))
    assert type(error) is SignatureRejected
    assert isinstance(error, BadRequest)  # a caller unaware of edits still records the slide
    assert (error.status, error.reason, error.message) == (400, "THOUGHT_SIGNATURE", message)


def test_other_400s_stay_bad_requests() -> None:
    for message in ("Multiple candidates is not enabled", "signature of the request"):
        error = protocol.classify_error(400, _error(400, "INVALID_ARGUMENT", message))
        assert type(error) is BadRequest
