"""The Gemini ``generateContent`` wire format: request bodies out, typed outcomes in.

The one place that knows the service's JSON shapes. The client sends what
:func:`build_request` makes and hands every answer to :func:`parse_success` or
:func:`classify_error`, whose docstrings state the decisions that matter; tests feed the
recorded real answers and the emulator's through the same two functions, so the emulator
cannot drift from what the client understands. Why errors are classified once, here:
docs/design.md.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import (
    ApiError,
    BadRequest,
    EndpointRedirected,
    FlexShed,
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
from .model_ids import MODELS_WITHOUT_IMAGE_SIZE, replacement_for

__all__ = [
    "DEPRECATED_SETTINGS",
    "GeneratedImage",
    "build_request",
    "classify_error",
    "int64",
    "parse_duration",
    "parse_success",
    "sendable",
]

_RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
# What a Flex request that found no capacity gets (with a 429 naming no quota).
_SHED_STATUSES = frozenset({503, 504})
# finishReason values that mean "no image, and asking again the same way will not help".
_REFUSAL_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")
_RETRY_IN = re.compile(r"Please retry in (\d+(?:\.\d+)?)(ms|s)\b")
# "thought_signature", "Thought signature", "thoughtSignature": the service's wordings for a
# refused model turn (design26 facts 5 and 6).
_SIGNATURE = re.compile(r"thought[ _]?signature", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """The image kept from a successful answer, and what came with it.

    Attributes:
        data: the decoded image bytes, exactly as the service sent them.
        mime_type: the MIME type the service declared (``image/jpeg`` or ``image/png``).
        text: the text parts that came with it, joined (often empty).
        finish_reason: the candidate's ``finishReason``.
        model_version: ``modelVersion`` of the answer.
        response_id: ``responseId`` of the answer.
        usage: ``usageMetadata`` as sent.
        turn: the answer's ``candidates[0].content`` as received, every part verbatim
            (thoughts and ``thoughtSignature`` included) but the delivered image's base64,
            which is ``data`` (its ``inlineData.data`` is ``""``: encode ``data`` again to
            send the turn back); ``None`` when no part is signed, since such a turn carries
            nothing an edit needs that ``data`` does not. What an edit of this image sends
            back as the model's turn. Not holding the base64 matters: a received image can
            wait its turn to be saved, and a deck's waiting answers held 1.3 times their
            images' size more (the memory bench's 100-slide peak went from 227 to 379 MiB).
    """

    data: bytes
    mime_type: str
    text: str = ""
    finish_reason: str = ""
    model_version: str = ""
    response_id: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    turn: dict[str, Any] | None = field(default=None, repr=False, compare=False)


DEPRECATED_SETTINGS = ("temperature", "topP", "topK")
"""``generationConfig`` settings Google deprecated on 2026-07-21 (docs/models.md): never sent."""


def sendable(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as it goes on the wire: without :data:`DEPRECATED_SETTINGS`.

    A planned body still carries them, so a slide's key (the digest of its planned body)
    does not change under a deck made with them: dropping them there would make every such
    slide new, and paid for again. The config says once that they are not sent.
    """
    config = body.get("generationConfig")
    if not isinstance(config, dict) or not any(k in config for k in DEPRECATED_SETTINGS):
        return body
    kept = {k: v for k, v in config.items() if k not in DEPRECATED_SETTINGS}
    return {**body, "generationConfig": kept}


def build_request(
    prompt: str,
    *,
    model: str,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
    temperature: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Make the ``generateContent`` body for one slide.

    ``imageSize`` is left out for models that reject it (``gemini-2.5-flash-image`` has one
    size only), so one deck config works across models.
    """
    image_config: dict[str, Any] = {}
    if aspect_ratio:
        image_config["aspectRatio"] = aspect_ratio
    if image_size and model not in MODELS_WITHOUT_IMAGE_SIZE:
        image_config["imageSize"] = image_size
    generation_config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if image_config:
        generation_config["imageConfig"] = image_config
    if temperature is not None:
        generation_config["temperature"] = temperature
    if seed is not None:
        generation_config["seed"] = seed
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": generation_config,
    }


def int64(value: object) -> int:
    """A count as the service sends it (an int, or an int64 as a JSON string); else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def parse_duration(value: object) -> float | None:
    """Parse a protobuf ``Duration`` as JSON sends it (``"34.4s"``) into seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    return float(match.group(1)) if match else None


def _load(body: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        loaded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TransientError(
            f"malformed response body ({len(body)} bytes, not JSON: {exc})", reason="BAD_BODY"
        ) from None
    if not isinstance(loaded, dict):
        raise TransientError("malformed response body (not a JSON object)", reason="BAD_BODY")
    return loaded


def parse_success(body: bytes | dict[str, Any]) -> GeneratedImage:
    """Turn a 200 answer into the image to keep, or raise the :class:`SlideError` it means.

    A success can still hold no image: a blocked prompt has no candidates at all, a refused
    image has a safety ``finishReason``, and ``NO_IMAGE`` or a text-only answer is worth one
    more try. The image kept is the *last* image part that is not a thought: Gemini 3
    models may send up to two interim thought images first, and reading ``parts[0]`` keeps
    the wrong one.
    """
    data = _load(body)
    candidates = data.get("candidates")
    if not candidates:
        feedback = data.get("promptFeedback") or {}
        block = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if block:
            raise PromptBlocked(f"prompt blocked ({block})", status=200, reason=str(block))
        raise NoImageReturned("answer had no candidates", status=200, reason="NO_CANDIDATES")
    candidate = candidates[0] if isinstance(candidates, list) else {}
    if not isinstance(candidate, dict):
        raise TransientError("malformed response body (bad candidate)", reason="BAD_BODY")
    finish = str(candidate.get("finishReason") or "")
    content = candidate.get("content") or {}
    parts = content.get("parts") or [] if isinstance(content, dict) else []
    texts: list[str] = []
    image: dict[str, Any] | None = None
    for part in parts:
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        inline = part.get("inlineData") or part.get("inline_data")
        if isinstance(inline, dict) and inline.get("data"):
            image = inline
    if image is None:
        if finish in _REFUSAL_REASONS:
            raise ImageRefused(f"image refused ({finish})", status=200, reason=finish)
        why = finish if finish and finish != "STOP" else "text only, no image part"
        raise NoImageReturned(f"no image returned ({why})", status=200, reason=finish or "NO_IMAGE")
    try:
        raw = base64.b64decode(image["data"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise TransientError("malformed image data (bad base64)", reason="BAD_BODY") from None
    return GeneratedImage(
        data=raw,
        mime_type=str(image.get("mimeType") or image.get("mime_type") or ""),
        text="".join(texts),
        finish_reason=finish,
        model_version=str(data.get("modelVersion") or ""),
        response_id=str(data.get("responseId") or ""),
        usage=data.get("usageMetadata") or {},
        turn=_signed_turn(content, parts, image),
    )


def _signed_turn(content: object, parts: list[Any], image: dict[str, Any]) -> dict[str, Any] | None:
    """The model's turn to keep for an edit: a signed one, without the image's base64."""
    signed = any(
        isinstance(part, dict) and ("thoughtSignature" in part or "thought_signature" in part)
        for part in parts
    )
    if not signed or not isinstance(content, dict):
        return None
    kept: list[Any] = []
    for part in parts:
        inline = part.get("inlineData") if isinstance(part, dict) else None
        if inline is image:
            part = {**part, "inlineData": {**image, "data": ""}}
        elif isinstance(part, dict) and part.get("inline_data") is image:
            part = {**part, "inline_data": {**image, "data": ""}}
        kept.append(part)
    return {**content, "parts": kept}


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    suffix = f"google.rpc.{kind}"
    return [
        d
        for d in error.get("details") or []
        if isinstance(d, dict) and str(d.get("@type", "")).endswith(suffix)
    ]


def _retry_delay(error: dict[str, Any], message: str) -> float | None:
    for info in _details(error, "RetryInfo"):
        delay = parse_duration(info.get("retryDelay"))
        if delay is not None:
            return delay
    match = _RETRY_IN.search(message)
    if match:
        value = float(match.group(1))
        return value / 1000 if match.group(2) == "ms" else value
    return None


def _counts_requests(quota_id: object) -> bool:
    """``Generate...Requests...``, not ``...InputTokens...`` (whose value is in tokens)."""
    return isinstance(quota_id, str) and "Requests" in quota_id


def _quota_value(value: object) -> float | None:
    """A ``quotaValue`` (a decimal string on the wire) as a positive number, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 < number < math.inf else None


def _vertex_fix(message: str, reasons: set[str]) -> str:
    """Vertex AI's refusals of who asks, as one line naming the fix (else ``message``)."""
    if "SERVICE_DISABLED" in reasons and "aiplatform" in message:
        project = re.search(r"project (\S+) ", message)
        named = f" --project {project.group(1)}" if project else ""
        return (
            "the Vertex AI API is not enabled in this project: "
            f"gcloud services enable aiplatform.googleapis.com{named}"
        )
    if "API keys are not supported" in message:
        return (
            "Vertex AI takes no API key: sign in with gcloud auth application-default login "
            '(or use "backend": "gemini" with the key)'
        )
    if "IAM_PERMISSION_DENIED" in reasons and "aiplatform" in message:
        return (
            'no such project, or no Vertex AI access in it: check "project" '
            "(GOOGLE_CLOUD_PROJECT), grant roles/aiplatform.user"
        )
    return message


def classify_error(
    status: int, body: bytes | dict[str, Any], *, model: str = "", tier: str = "standard"
) -> ApiError:
    """Turn a non-200 answer into the one typed error that decides what happens next.

    A 400 with ``ErrorInfo.reason == API_KEY_INVALID`` is a bad key (fatal); one whose message
    names a thought signature is a :class:`SignatureRejected` (the model turn an edit sent
    back); any other 400 is about this slide's request. A 429 is fatal when the quota cannot
    clear during the run: a per-day ``quotaId``, or a message saying ``limit: 0`` (the free tier
    has no image quota). Otherwise it is a :class:`RateLimited` carrying
    ``RetryInfo.retryDelay`` (the service sends no ``Retry-After``: the body is the only place
    the delay lives), whether it names a quota at all (a busy service answers 429 with none,
    which says nothing about the client's quota), and a request quota's ``quotaValue`` when
    stated. Window lengths are not read from the ``quotaId``: a label that says ``PerMinute`` is
    not trusted to mean 60 s.

    On a Flex request (``tier``), what says "no capacity now" is a :class:`FlexShed`: a 503,
    a 504, or a 429 naming no quota. Google documents no shed body of its own, so the family
    is matched, not one message; a 429 naming a quota is the quota's, whatever the tier.
    """
    error = _classify(status, body, model=model)
    if tier == "flex" and (
        status in _SHED_STATUSES or (isinstance(error, RateLimited) and error.overload)
    ):
        return FlexShed(f"shed by Flex: {error.message}", status=status, reason="FLEX_SHED")
    return error


def _classify(status: int, body: bytes | dict[str, Any], *, model: str) -> ApiError:
    try:
        data = _load(body)
    except TransientError:
        data = {}
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    assert isinstance(error, dict)
    message = str(error.get("message") or f"HTTP {status}")
    state = str(error.get("status") or "")
    reasons = {str(d.get("reason", "")) for d in _details(error, "ErrorInfo")}

    if status == 400:
        if "API_KEY_INVALID" in reasons or "API key not valid" in message:
            return InvalidApiKey(message, status=400, reason="API_KEY_INVALID")
        if _SIGNATURE.search(message):
            return SignatureRejected(message, status=400, reason="THOUGHT_SIGNATURE")
        return BadRequest(message, status=400, reason=state or "INVALID_ARGUMENT")
    if status == 401 or status == 403:
        reason = next(iter(sorted(r for r in reasons if r)), state or "PERMISSION_DENIED")
        return PermissionDenied(_vertex_fix(message, reasons), status=status, reason=reason)
    if status == 404:
        replacement = replacement_for(model)
        if replacement:
            message = f"model {model} is retired: use {replacement} (404 NOT_FOUND)"
        else:
            message = f"model {model or '?'} not found (404): {message}"
        return ModelNotFound(message, status=404, replacement=replacement)
    if status == 429:
        violations = [
            v
            for q in _details(error, "QuotaFailure")
            for v in q.get("violations") or []
            if isinstance(v, dict)
        ]
        quota_ids = [str(v.get("quotaId", "")) for v in violations]
        delay = _retry_delay(error, message)
        quota_id = quota_ids[0] if quota_ids else ""
        per_day = any("PerDay" in q for q in quota_ids)
        if "limit: 0" in message:
            why = f"no image quota on this key's tier (limit: 0, {quota_id or 'free tier'})"
            return QuotaExhausted(why, quota_id=quota_id, retry_delay=delay)
        if per_day:
            why = f"daily quota reached ({quota_id}); it resets tomorrow"
            return QuotaExhausted(why, quota_id=quota_id, retry_delay=delay)
        requests = [v for v in violations if _counts_requests(v.get("quotaId"))]
        limits = [x for v in requests if (x := _quota_value(v.get("quotaValue"))) is not None]
        return RateLimited(
            message,
            retry_delay=delay,
            quota_id=quota_id,
            overload=not violations,
            limit=min(limits) if limits else None,
        )
    if 300 <= status < 400:
        return EndpointRedirected(
            f"the endpoint answered {status} (a redirect, not followed: the key would go "
            "along); set base_url to the API itself",
            status=status,
            reason=f"HTTP_{status}",
        )
    if status in _RETRYABLE_STATUSES:
        return TransientError(message, status=status, reason=state or f"HTTP_{status}")
    if 400 <= status < 500:
        return BadRequest(message, status=status, reason=state or f"HTTP_{status}")
    return TransientError(message, status=status, reason=state or f"HTTP_{status}")
