"""``models.list``, ``models.get`` and ``countTokens``, as the service answers them.

The listing facts (version, display name, description, token limits, sampling defaults)
are copied from a real ``GET /v1beta/models`` recorded in 2026-06; the methods listed are
the ones the service lists for its image models: ``generateContent``, ``countTokens`` and
``batchGenerateContent``. It does not list ``streamGenerateContent`` for any model, yet
answers it, and so does the emulator. ``countTokens`` counts a request exactly as the
emulator's ``usageMetadata.promptTokenCount`` does for the same request (text at about four
characters a token, each inline image at the model's ``input_image_tokens``), so a client
that checks one against the other finds them equal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import error_bodies
from .asgi import Reply, Scope, query
from .catalog import MODELS, ModelSpec
from .generation import Refusal, find_model
from .paging import page
from .success_bodies import prompt_details
from .validation import Rejected, decode_json, parse_fields

__all__ = [
    "HANDLERS",
    "METHODS",
    "count_tokens",
    "get_model",
    "list_models",
    "model_resource",
]

METHODS: tuple[str, ...] = ("generateContent", "countTokens", "batchGenerateContent")
_COUNT_TOKENS_FIELDS = {
    "contents": "contents",
    "generateContentRequest": "generate_content_request",
}


@dataclass(frozen=True, slots=True)
class _Listing:
    version: str
    display_name: str
    description: str
    input_token_limit: int
    output_token_limit: int
    thinking: bool


_LISTINGS: Mapping[str, _Listing] = {
    "gemini-3-pro-image": _Listing(
        "3.0", "Nano Banana Pro", "Gemini 3 Pro Image", 131072, 32768, True
    ),
    "gemini-3.1-flash-image": _Listing(
        "3.0", "Nano Banana 2", "Gemini 3.1 Flash Image.", 65536, 65536, True
    ),
    # Emulator default: no listing of it was recorded; 3.1 flash's, without thinking.
    "gemini-3.1-flash-lite-image": _Listing(
        "3.0", "Nano Banana 2 Lite", "Gemini 3.1 Flash Lite Image.", 65536, 65536, False
    ),
    "gemini-2.5-flash-image": _Listing(
        "2.0", "Nano Banana", "Gemini 2.5 Flash Preview Image", 32768, 32768, False
    ),
}


def model_resource(spec: ModelSpec) -> dict[str, Any]:
    """One ``Model`` resource, in the service's key order."""
    listing = _LISTINGS[spec.name]
    resource: dict[str, Any] = {
        "name": f"models/{spec.name}",
        "version": listing.version,
        "displayName": listing.display_name,
        "description": listing.description,
        "inputTokenLimit": listing.input_token_limit,
        "outputTokenLimit": listing.output_token_limit,
        "supportedGenerationMethods": list(METHODS),
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 1,
    }
    if listing.thinking:
        resource["thinking"] = True
    return resource


def list_models(query: Mapping[str, list[str]]) -> dict[str, Any]:
    """``GET /v1beta/models``: the catalogue, 50 a page by default, 1000 at most.

    Raises:
        Rejected: a bad ``pageSize`` or ``pageToken``.
    """
    specs, token = page(list(MODELS.values()), query, default=50, maximum=1000)
    body: dict[str, Any] = {"models": [model_resource(spec) for spec in specs]}
    if token is not None:
        body["nextPageToken"] = token
    return body


def get_model(model: str, version: str) -> dict[str, Any]:
    """``GET /v1beta/models/{model}``.

    Raises:
        Rejected: 404 for a model the emulator does not serve.
    """
    spec = MODELS.get(model)
    if spec is None:
        raise Rejected(error_bodies.model_missing(model, version))
    return model_resource(spec)


def count_tokens(spec: ModelSpec, raw: bytes) -> dict[str, Any]:
    """``POST /v1beta/models/{model}:countTokens``: ``contents`` or a whole request.

    Raises:
        Rejected: 400 for a body ``generateContent`` would refuse, or an unknown field.
    """
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise Rejected(
            error_bodies.invalid_argument(
                "Invalid JSON payload received. Root element must be a message."
            )
        )
    for name in data:
        if name not in _COUNT_TOKENS_FIELDS and name not in _COUNT_TOKENS_FIELDS.values():
            raise Rejected(error_bodies.unknown_field(name, ""))
    whole = data.get("generateContentRequest", data.get("generate_content_request"))
    if whole is not None:
        request = parse_fields(whole, spec, root="request.generate_content_request")
    else:
        request = parse_fields({"contents": data.get("contents")}, spec)
    return {
        "totalTokens": request.prompt_tokens,
        "promptTokensDetails": prompt_details(request.prompt_tokens, request.image_tokens),
    }


async def _count_tokens_handler(scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
    version, model = params
    spec = find_model(model, version, "countTokens")
    if isinstance(spec, Refusal):
        raise Rejected(spec.body)
    return Reply(count_tokens(spec, body))


async def _list_handler(scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
    return Reply(list_models(query(scope)))


async def _get_handler(scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
    version, model = params
    return Reply(get_model(model, version))


# API method name -> handler, for the routes of :mod:`.app`.
HANDLERS: Mapping[str, Callable[[Scope, tuple[str, ...], bytes], Awaitable[Reply]]] = {
    "countTokens": _count_tokens_handler,
    "models.list": _list_handler,
    "models.get": _get_handler,
}
