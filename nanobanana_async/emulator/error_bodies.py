"""The service's error bodies, word for word where a real one was recorded.

Every error is ``{"error": {"code", "message", "status", "details"?}}``. Quoted from real
answers and public reports: no key (403), bad key (400 ``API_KEY_INVALID``), unknown model
(404, and ``models.get``'s own wording), unknown field, the aspect-ratio enum, multiple
candidates, quota and overload (429), 500, the three 503 messages, a missing file (403),
an unknown batch (404), a body over the size limit, and a batch's failed request (a
google.rpc.Status: a numeric code and a message). Worded by the emulator: the ``imageSize``
enum and "not supported" (modelled on the aspect-ratio one), an unparsable body, unknown
paths, the 504, bad page tokens, upload protocol errors, cancelling a finished batch.
The client never matches on message text, so these only need to read like the real thing.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GRPC_CODES",
    "QUOTA_HELP_URL",
    "UNAVAILABLE_MESSAGES",
    "api_key_invalid",
    "deadline_exceeded",
    "entity_not_found",
    "error",
    "failed_precondition",
    "file_not_found",
    "format_delay",
    "internal",
    "invalid_argument",
    "method_not_found",
    "model_missing",
    "model_not_found",
    "overloaded",
    "payload_too_large",
    "permission_denied",
    "quota_exceeded",
    "rpc_status",
    "unavailable",
    "unknown_field",
]

QUOTA_HELP_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
_TYPE = "type.googleapis.com/google.rpc."
# The protocol notes quote the unknown-field path with this prefix; see unknown_field().
_FIELD_ROOT = "request"

UNAVAILABLE_MESSAGES = (
    "The model is overloaded. Please try again later.",
    "This model is currently experiencing high demand. Spikes in demand are usually "
    "temporary. Please try again later.",
    "Deadline expired before operation could complete.",
)


def error(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    """The one error envelope every non-200 answer uses."""
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = list(details)
    return {"error": body}


def invalid_argument(message: str, *details: dict[str, Any]) -> dict[str, Any]:
    """A 400 about a field or value of the request."""
    return error(400, "INVALID_ARGUMENT", message, *details)


def unknown_field(name: str, at: str, *, root: str = _FIELD_ROOT) -> dict[str, Any]:
    """The proto-JSON parser's answer to a field it does not know.

    Args:
        name: the key as sent.
        at: the snake_case path of the message holding it (``""`` for the request itself).
        root: the path of the request message (a batch's requests sit deeper).
    """
    path = f"{root}.{at}" if at else root
    message = (
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."
    )
    violation: dict[str, str] = {"field": path, "description": message}
    return invalid_argument(
        message, {"@type": _TYPE + "BadRequest", "fieldViolations": [violation]}
    )


def api_key_invalid() -> dict[str, Any]:
    """400 for a key the service does not know: the run must stop, not retry."""
    message = "API key not valid. Please pass a valid API key."
    return invalid_argument(
        message,
        {
            "@type": _TYPE + "ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": message},
    )


def permission_denied() -> dict[str, Any]:
    """403 for a request that carries no key at all."""
    return error(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def model_not_found(model: str, version: str, method: str = "generateContent") -> dict[str, Any]:
    """404 for an unknown or retired model id, naming the API version and method called."""
    return error(
        404,
        "NOT_FOUND",
        f"models/{model} is not found for API version {version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


def model_missing(model: str, version: str) -> dict[str, Any]:
    """404 of ``models.get`` for a model it does not have (its own, shorter wording)."""
    return error(404, "NOT_FOUND", f"Model is not found: models/{model} for api version {version}")


def entity_not_found() -> dict[str, Any]:
    """404 for a batch (or any other resource by id) that does not exist."""
    return error(404, "NOT_FOUND", "Requested entity was not found.")


def file_not_found(file_id: str) -> dict[str, Any]:
    """403, as the Files API answers for a file that does not exist (or is not the key's)."""
    return error(
        403,
        "PERMISSION_DENIED",
        f"You do not have permission to access the File {file_id} or it may not exist.",
    )


def failed_precondition(message: str) -> dict[str, Any]:
    """400 for a method the resource's state does not allow (cancelling a finished batch)."""
    return error(400, "FAILED_PRECONDITION", message)


def payload_too_large(limit: int) -> dict[str, Any]:
    """400 of the front end for a body over ``limit`` bytes."""
    return invalid_argument(f"Request payload size exceeds the limit: {limit} bytes.")


# google.rpc.Code, by the status names HTTP errors carry: a batch reports each failed
# request as a google.rpc.Status, whose ``code`` is this number and which has no status name.
GRPC_CODES = {
    "CANCELLED": 1,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}


def rpc_status(body: dict[str, Any]) -> dict[str, Any]:
    """An HTTP error body as the google.rpc.Status a batch carries per failed request."""
    error_ = body["error"]
    return {"code": GRPC_CODES.get(error_["status"], 2), "message": error_["message"]}


def method_not_found() -> dict[str, Any]:
    """404 for any path or HTTP method the emulated API does not serve."""
    return error(404, "NOT_FOUND", "Method not found.")


def internal() -> dict[str, Any]:
    """500: worth retrying."""
    return error(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    )


def unavailable(variant: int = 0) -> dict[str, Any]:
    """503 with one of the real messages (``variant`` indexes them, wrapping around)."""
    return error(503, "UNAVAILABLE", UNAVAILABLE_MESSAGES[variant % len(UNAVAILABLE_MESSAGES)])


def deadline_exceeded() -> dict[str, Any]:
    """504: the generation ran out of time on the server's side."""
    return error(504, "DEADLINE_EXCEEDED", "The request timed out. Please try again.")


def format_delay(seconds: float) -> str:
    """A protobuf ``Duration`` as JSON writes it, rounded *up* to the microsecond.

    Rounding up keeps the announced delay honest: a request sent once it has passed finds
    the quota free. Proto JSON allows 0, 3, 6 or 9 fractional digits; this uses 0 or 6.
    """
    micros = max(0, -(-round(seconds * 1e7) // 10) + 1)  # ceil, then one more microsecond
    whole, frac = divmod(micros, 1_000_000)
    return f"{whole}s" if frac == 0 else f"{whole}.{frac:06d}s"


def quota_exceeded(
    *,
    model: str,
    violations: list[tuple[str, str, int]],
    delay: float | None,
    show_limit: bool = True,
) -> dict[str, Any]:
    """429 ``RESOURCE_EXHAUSTED`` in the paid- or free-tier shape.

    Args:
        model: the model id, as in the message and in ``quotaDimensions``.
        violations: (quota metric, quota id, limit) per quota breached, first one first.
        delay: seconds until the quota frees; sent in ``RetryInfo`` and in the message,
            never as a ``Retry-After`` header (the real service sends none). ``None``
            sends neither, as nothing promises the real service always does.
        show_limit: state each limit (``quotaValue`` and ``limit: N`` in the message).
    """
    lines = "".join(
        f"\n* Quota exceeded for metric: {metric}, "
        + (f"limit: {limit}, " if show_limit else "")
        + f"model: {model}"
        for metric, _, limit in violations
    )
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        f"For more information on this error, head to: {QUOTA_HELP_URL}. "
        "To monitor your current usage, head to: https://ai.dev/rate-limit. "
        f"{lines}"
    )
    details: list[dict[str, Any]] = [
        {
            "@type": _TYPE + "Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": QUOTA_HELP_URL}],
        },
        {
            "@type": _TYPE + "QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                }
                | ({"quotaValue": str(limit)} if show_limit else {})
                for metric, quota_id, limit in violations
            ],
        },
    ]
    if delay is not None:
        duration = format_delay(delay)
        message += f"\nPlease retry in {duration}."
        details.append({"@type": _TYPE + "RetryInfo", "retryDelay": duration})
    return error(429, "RESOURCE_EXHAUSTED", message, *details)


def overloaded(delay: float | None) -> dict[str, Any]:
    """429 ``RESOURCE_EXHAUSTED`` about no quota: the service is short of capacity.

    The message is the one users report from overloaded Google endpoints; there is no
    ``QuotaFailure``, so nothing in it tells a rate to learn. ``delay`` (if any) goes
    in a ``RetryInfo``.
    """
    message = "Resource has been exhausted (e.g. check quota)."
    if delay is None:
        return error(429, "RESOURCE_EXHAUSTED", message)
    retry = {"@type": _TYPE + "RetryInfo", "retryDelay": format_delay(delay)}
    return error(429, "RESOURCE_EXHAUSTED", message, retry)
