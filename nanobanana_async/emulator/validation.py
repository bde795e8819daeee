"""Reading a ``generateContent`` body the way the real service does, or refusing it.

The real front end parses proto JSON: each field under its camelCase JSON name or its
snake_case proto name, and a 400 for any name it does not know. Only ``generationConfig``,
``imageConfig`` and the top level are checked for unknown names, where a Vertex-only option
(``outputMimeType``, ``personGeneration``) or a typo lands: strictness about messages the
client never fills would only risk refusing what the service accepts. Then the values:
``aspectRatio`` and ``imageSize`` (case-sensitive) against the model's enums, and
``candidateCount`` above 1. Inline images must be base64, as proto JSON's ``bytes`` are
(standard or URL-safe alphabet); they are kept decoded, named by a digest
(:func:`~.stats.image_digest`), so the stats can say which images a request carried and
the slide can show them. The Batch API and ``countTokens`` read the same message, so
:func:`parse_fields` takes it already decoded and names unknown fields from its own root.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from . import error_bodies
from .catalog import ModelSpec
from .stats import image_digest
from .tiers import parse_tier, unknown_tier
from .turns import Edit, InlineImage, Part, Turn, find_edit

__all__ = [
    "ImageRequest",
    "InlineImage",
    "Rejected",
    "decode_bytes",
    "decode_json",
    "parse_fields",
    "parse_request",
    "text_tokens",
]

_TOP_LEVEL = {
    "model": "model",
    "contents": "contents",
    "tools": "tools",
    "toolConfig": "tool_config",
    "safetySettings": "safety_settings",
    "systemInstruction": "system_instruction",
    "generationConfig": "generation_config",
    "cachedContent": "cached_content",
    "serviceTier": "service_tier",
}
_GENERATION_CONFIG = {
    "stopSequences": "stop_sequences",
    "responseMimeType": "response_mime_type",
    "responseSchema": "response_schema",
    "responseJsonSchema": "response_json_schema",
    "responseModalities": "response_modalities",
    "candidateCount": "candidate_count",
    "maxOutputTokens": "max_output_tokens",
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "seed": "seed",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "responseLogprobs": "response_logprobs",
    "logprobs": "logprobs",
    "enableEnhancedCivicAnswers": "enable_enhanced_civic_answers",
    "speechConfig": "speech_config",
    "thinkingConfig": "thinking_config",
    "imageConfig": "image_config",
    "mediaResolution": "media_resolution",
}
_IMAGE_CONFIG = {"aspectRatio": "aspect_ratio", "imageSize": "image_size"}
_MODALITIES = frozenset({"TEXT", "IMAGE", "AUDIO", "MODALITY_UNSPECIFIED"})
_ENUM_PREFIX = "* GenerateContentRequest.generation_config.image_config."


class Rejected(Exception):
    """The request is refused; ``body`` is the error body to send (its code, the status).

    ``reason`` names a refusal the stats count apart (``"signature"``).
    """

    def __init__(self, body: dict[str, Any], reason: str = "") -> None:
        super().__init__(body["error"]["message"])
        self.body = body
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What the emulator needs from a valid request.

    Attributes:
        prompt: the text parts of the contents, joined by newlines.
        aspect_ratio: as asked, or ``None``.
        image_size: as asked, or ``None`` (the model's default applies).
        wants_text: whether the answer may hold a text part.
        wants_image: whether the answer may hold an image.
        prompt_tokens: a plausible ``promptTokenCount``: :func:`text_tokens` of the prompt
            plus the model's ``input_image_tokens`` per inline image.
        images: the inline images of the contents, in order.
        image_tokens: the share of ``prompt_tokens`` the images count for.
        turns: the contents, as turns and parts (what signatures are checked on).
        edit: the edit the request asks for, if it is one (:func:`~.turns.find_edit`).
        repeat: how many times this very body came, this one included (set by the app).
        tier: the service tier asked (``serviceTier``; standard when absent).
    """

    prompt: str
    aspect_ratio: str | None
    image_size: str | None
    wants_text: bool
    wants_image: bool
    prompt_tokens: int
    images: tuple[InlineImage, ...] = ()
    image_tokens: int = 0
    turns: tuple[Turn, ...] = ()
    edit: Edit | None = None
    repeat: int = 1
    tier: str = "standard"


def _bad(message: str, *details: dict[str, Any]) -> Rejected:
    return Rejected(error_bodies.invalid_argument(message, *details))


def text_tokens(text: str) -> int:
    """Prompt tokens of ``text``: about four characters a token, at least one."""
    return max(1, round(len(text) / 4))


def _fields(
    obj: dict[str, Any], known: dict[str, str], at: str, root: str = "request"
) -> dict[str, Any]:
    """``obj`` keyed by camelCase names, refusing any name the message does not have."""
    snake_to_camel = {snake: camel for camel, snake in known.items()}
    out: dict[str, Any] = {}
    for name, value in obj.items():
        camel = name if name in known else snake_to_camel.get(name)
        if camel is None:
            raise Rejected(error_bodies.unknown_field(name, at, root=root))
        out[camel] = value
    return out


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(
            f"Invalid value at '{path}' (type.googleapis.com/google.protobuf.Struct), "
            f"{orjson.dumps(value).decode()}"
        )
    return value


def _enum_message(field: str, allowed: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in allowed]
    listed = ", ".join(quoted[:-1]) + f", or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    return f"{_ENUM_PREFIX}{field}: {field} must be one of {listed}.\n"


def _prompt(contents: Any) -> tuple[str, list[InlineImage], list[Turn]]:
    """The joined text of all parts, the inline images (thought images too), the turns."""
    if not contents:
        raise _bad("* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        contents = [contents]
    texts: list[str] = []
    images: list[InlineImage] = []
    turns: list[Turn] = []
    for index, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not parts or not isinstance(parts, list):
            raise _bad(
                f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not "
                "be empty.\n"
            )
        read: list[Part] = []
        for number, part in enumerate(parts):
            if not isinstance(part, dict):
                read.append(Part("other"))
                continue
            thought = part.get("thought") is True
            sent = part.get("thoughtSignature", part.get("thought_signature"))
            signature = sent if isinstance(sent, str) else None
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
                read.append(Part("text", thought, text=part["text"], signature=signature))
            elif inline:
                at = f"contents[{index}].parts[{number}].inline_data"
                image = _inline_image(inline, at)
                images.append(image)
                read.append(Part("image", thought, image=image, signature=signature))
            else:
                read.append(Part("other", thought, signature=signature))
        role = content.get("role")
        turns.append(Turn(role if isinstance(role, str) and role else "user", tuple(read)))
    return "\n".join(texts), images, turns


def _inline_image(inline: Any, at: str) -> InlineImage:
    """An inline image part's blob, decoded; a 400 for data that is not base64."""
    blob = _object(inline, at)
    mime_type = blob.get("mimeType", blob.get("mime_type"))
    data = blob.get("data")
    if not isinstance(data, str):
        raise _bad(f"Invalid value at '{at}.data' (TYPE_BYTES), {orjson.dumps(data).decode()}")
    raw = decode_bytes(data)
    if raw is None:
        shown = data if len(data) <= 40 else data[:40] + "..."
        raise _bad(
            f"Invalid value at '{at}.data' (TYPE_BYTES), Base64 decoding failed for \"{shown}\""
        ) from None
    return InlineImage(str(mime_type or ""), image_digest(raw), raw)


def decode_bytes(data: str) -> bytes | None:
    """A proto JSON ``bytes`` value (standard or URL-safe base64) decoded, or ``None``."""
    altchars = b"-_" if "-" in data or "_" in data else None
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), altchars, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_json(raw: bytes) -> Any:
    """A request body as JSON (an empty body is ``{}``), or the service's 400."""
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        message = "Invalid JSON payload received. Unexpected token."
        raise _bad(
            message,
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"description": message}],
            },
        ) from None


def parse_request(raw: bytes, spec: ModelSpec) -> ImageRequest:
    """Validate a ``generateContent`` body for ``spec``, or raise :class:`Rejected`."""
    return parse_fields(decode_json(raw), spec)


def parse_fields(data: Any, spec: ModelSpec, *, root: str = "request") -> ImageRequest:
    """Validate a decoded ``GenerateContentRequest`` for ``spec``, or raise :class:`Rejected`.

    Args:
        data: the request as decoded JSON.
        spec: the model it is for.
        root: the path unknown-field errors name the request by (a batch's inlined
            requests sit deeper than a ``generateContent`` body).
    """
    if not isinstance(data, dict):
        raise _bad("Invalid JSON payload received. Root element must be a message.")
    request = _fields(data, _TOP_LEVEL, "", root)
    config = _fields(
        _object(request.get("generationConfig"), "generation_config"),
        _GENERATION_CONFIG,
        "generation_config",
        root,
    )
    image_config = _fields(
        _object(config.get("imageConfig"), "generation_config.image_config"),
        _IMAGE_CONFIG,
        "generation_config.image_config",
        root,
    )
    prompt, images, turns = _prompt(request.get("contents"))

    candidates = config.get("candidateCount")
    if isinstance(candidates, int) and candidates > 1:
        raise _bad(f"Multiple candidates is not enabled for models/{spec.name}")
    modalities = config.get("responseModalities") or []
    if not isinstance(modalities, list):
        modalities = [modalities]
    # The service reads this enum in any case: Google's early samples sent ["Text", "Image"].
    for index, modality in enumerate(modalities):
        if not isinstance(modality, str) or modality.upper() not in _MODALITIES:
            raise _bad(
                f"Invalid value at 'generation_config.response_modalities[{index}]' "
                "(type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig"
                f".Modality), {orjson.dumps(modality).decode()}"
            )

    aspect = image_config.get("aspectRatio")
    if aspect is not None and aspect not in spec.aspect_ratios:
        raise _bad(_enum_message("aspect_ratio", spec.aspect_ratios))
    size = image_config.get("imageSize")
    if size is not None and not spec.image_sizes:
        raise _bad(
            f"{_ENUM_PREFIX}image_size: image_size is not supported for models/{spec.name}.\n"
        )
    if size is not None and size not in spec.image_sizes:
        raise _bad(_enum_message("image_size", spec.image_sizes))

    tier = parse_tier(request.get("serviceTier"))
    if tier is None:
        raise _bad(unknown_tier(request.get("serviceTier")))
    wanted = {m.upper() for m in modalities} - {"MODALITY_UNSPECIFIED"}
    return ImageRequest(
        prompt=prompt,
        aspect_ratio=aspect or None,
        image_size=size or None,
        wants_text=not wanted or "TEXT" in wanted,
        wants_image=not wanted or "IMAGE" in wanted,
        prompt_tokens=text_tokens(prompt) + spec.input_image_tokens * len(images),
        images=tuple(images),
        image_tokens=spec.input_image_tokens * len(images),
        turns=tuple(turns),
        edit=find_edit(tuple(turns)),
        tier=tier,
    )
