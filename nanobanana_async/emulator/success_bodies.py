"""The 200 answers, in the shape and key order the real service sends.

Shapes follow the recorded real answers (see ``tests/emulator_testing.py``): parts with
``inlineData`` (``mimeType`` then ``data``) and a ``thoughtSignature`` on every non-thought
part of a Gemini 3 answer; ``usageMetadata`` listing only the IMAGE modality, with
``thoughtsTokenCount`` and ``serviceTier`` for the Gemini 3 models only. Large strings (the
image, the signature) go in as placeholders and come out as :class:`~.compression.Segment`
parts, so serialising never copies them and gzip reuses their compressed form.
"""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from .catalog import ModelSpec
from .compression import Segment

__all__ = [
    "Answer",
    "BodyParts",
    "blocked",
    "image_answer",
    "no_image",
    "prompt_details",
    "signature",
]

BodyParts = list[bytes | Segment]
_TOKEN = secrets.token_hex(6)


@lru_cache(maxsize=8)
def signature(chars: int) -> Segment:
    """A ``thoughtSignature``-sized base64 blob, made once per length.

    The service's signatures are opaque protobuf bytes; random bytes are as
    incompressible, so the wire size and gzip ratio match.
    """
    raw = random.Random(chars).randbytes(max(3, chars * 3 // 4))
    return Segment(base64.b64encode(raw)[: max(4, chars - chars % 4)])


@dataclass(slots=True)
class Answer:
    """A JSON body under construction: an object with placeholders for big strings."""

    data: dict[str, Any]
    segments: dict[str, Segment]

    def hold(self, segment: Segment) -> str:
        """The placeholder to put in :attr:`data` where ``segment``'s text goes."""
        token = f"@{_TOKEN}-{len(self.segments)}@"
        self.segments[token] = segment
        return token

    def parts(self, *, indent: bool = True) -> BodyParts:
        """The serialised body as glue bytes and segments, in order.

        Indented as the service sends a JSON body, or on one line (a server-sent event).
        """
        text = orjson.dumps(self.data, option=orjson.OPT_INDENT_2 if indent else None)
        # A stream's chunk shares its answer's segments and holds only some of them.
        places = {token: text.find(token.encode()) for token in self.segments}
        found = sorted((where, token) for token, where in places.items() if where >= 0)
        parts: BodyParts = []
        position = 0
        for at, token in found:
            parts.append(text[position:at])
            parts.append(self.segments[token])
            position = at + len(token)
        parts.append(text[position:])
        return parts


def prompt_details(prompt_tokens: int, image_tokens: int) -> list[dict[str, Any]]:
    """``promptTokensDetails``: the prompt's tokens per modality, TEXT first.

    ``countTokens`` answers the same list, so the two always agree on a request.
    """
    details: list[dict[str, Any]] = [
        {"modality": "TEXT", "tokenCount": prompt_tokens - image_tokens}
    ]
    if image_tokens:
        details.append({"modality": "IMAGE", "tokenCount": image_tokens})
    return details


def _usage(
    spec: ModelSpec,
    prompt_tokens: int,
    candidate_tokens: int = 0,
    image_tokens: int = 0,
    thoughts_tokens: int = 0,
    prompt_image_tokens: int = 0,
    tier: str | None = None,
) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens}
    if candidate_tokens:
        usage["candidatesTokenCount"] = candidate_tokens
    usage["totalTokenCount"] = prompt_tokens + candidate_tokens + thoughts_tokens
    usage["promptTokensDetails"] = prompt_details(prompt_tokens, prompt_image_tokens)
    if image_tokens:
        usage["candidatesTokensDetails"] = [{"modality": "IMAGE", "tokenCount": image_tokens}]
    if thoughts_tokens:
        usage["thoughtsTokenCount"] = thoughts_tokens
    if spec.service_tier:
        usage["serviceTier"] = tier or spec.service_tier
    return usage


def image_answer(
    *,
    spec: ModelSpec,
    prompt_tokens: int,
    image: Segment | None,
    image_tokens: int,
    drafts: list[Segment],
    text: str | None,
    sign: Callable[[str, str | Segment], list[Segment]] | None,
    thoughts_tokens: int,
    response_id: str,
    prompt_image_tokens: int = 0,
    tier: str | None = None,
) -> Answer:
    """A STOP answer: optional thought images, optional text, then the image (if any).

    ``sign`` gives the segments of a part's ``thoughtSignature`` from its kind (``text``,
    ``image``) and content; ``None`` signs nothing (Gemini 2.5 flash).
    """
    answer = Answer({}, {})
    parts: list[dict[str, Any]] = [
        {"inlineData": {"mimeType": spec.mime_type, "data": answer.hold(d)}, "thought": True}
        for d in drafts
    ]
    signed: list[tuple[dict[str, Any], str, str | Segment]] = []
    if text:
        signed.append(({"text": text}, "text", text))
    if image is not None:
        inline = {"mimeType": spec.mime_type, "data": answer.hold(image)}
        signed.append(({"inlineData": inline}, "image", image))
    for part, kind, content in signed:
        if sign is not None:
            part["thoughtSignature"] = "".join(answer.hold(s) for s in sign(kind, content))
        parts.append(part)
    text_tokens = max(1, round(len(text) / 4)) if text else 0
    answer.data = {
        "candidates": [
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _usage(
            spec,
            prompt_tokens,
            candidate_tokens=(image_tokens if image is not None else 0) + text_tokens,
            image_tokens=image_tokens if image is not None else 0,
            thoughts_tokens=thoughts_tokens,
            prompt_image_tokens=prompt_image_tokens,
            tier=tier,
        ),
        "modelVersion": spec.name,
        "responseId": response_id,
    }
    return answer


def no_image(
    *,
    spec: ModelSpec,
    reason: str,
    prompt_tokens: int,
    response_id: str,
    prompt_image_tokens: int = 0,
) -> Answer:
    """A candidate with ``content: {}`` and ``finishReason`` ``reason`` (NO_IMAGE, IMAGE_SAFETY)."""
    return Answer(
        {
            "candidates": [{"content": {}, "finishReason": reason, "index": 0}],
            "usageMetadata": _usage(spec, prompt_tokens, prompt_image_tokens=prompt_image_tokens),
            "modelVersion": spec.name,
            "responseId": response_id,
        },
        {},
    )


def blocked(
    *,
    spec: ModelSpec,
    reason: str,
    prompt_tokens: int,
    response_id: str,
    prompt_image_tokens: int = 0,
) -> Answer:
    """No candidates: the prompt itself was blocked with ``reason``."""
    return Answer(
        {
            "promptFeedback": {"blockReason": reason},
            "usageMetadata": _usage(spec, prompt_tokens, prompt_image_tokens=prompt_image_tokens),
            "modelVersion": spec.name,
            "responseId": response_id,
        },
        {},
    )
