"""The Batch API's wire format: a batch's create body out, its operation and results in.

The one place that knows the Batch API's JSON shapes, as :mod:`..service.protocol` is for
``generateContent``: each response of a batch is read by that module's own
:func:`~..service.protocol.parse_success` and :func:`~..service.protocol.classify_error`,
so a slide made in a batch is judged exactly as one made alone. Counts are int64 on the
wire, sent as strings; states are ``BATCH_STATE_*`` (older answers say ``JOB_STATE_*``),
read from the operation's ``metadata`` (or the batch itself, as ``batches.list`` and some
SDKs give it).

A name the service gives goes into URLs and onto disk, so it is held to its documented
shape here, where it enters (:func:`checked_name`), after the caller's key is scrubbed from
it: a name with a newline, a path or an echo of the key is refused, never used or stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import ApiError, BatchNameRefused, TransientError
from ..service.protocol import GeneratedImage, classify_error, int64, parse_success, sendable

__all__ = [
    "INLINE_LIMIT_BYTES",
    "TERMINAL_STATES",
    "Operation",
    "checked_name",
    "create_body",
    "display_name",
    "jsonl",
    "name_problem",
    "outcome",
    "slide_key",
    "slide_of",
]

# The service takes inline requests up to 20 MB in all; past it, a JSONL file.
INLINE_LIMIT_BYTES = 20 * 1000 * 1000
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_KEY_PREFIX = "slide-"
# The names' documented shapes (ai.google.dev/api/batch-api, /api/files): ``batches/{id}``
# and ``files/{id}``, a file's id "up to 40 characters that are lowercase alphanumeric or
# dashes", neither first nor last a dash. A batch id's characters are not documented (the
# service's are 36 lowercase letters and digits), and a batch's results file is named by
# the service past 40 (``files/batch-`` and the batch's id, 42), so both ids are held to
# that alphabet, up to 64 characters.
_NAMES = {
    kind: re.compile(rf"{kind}/[a-z0-9](?:[a-z0-9-]{{0,62}}[a-z0-9])?")
    for kind in ("batches", "files")
}
_SHAPES = {kind: f"{kind}/{{id}}, id a-z 0-9 -" for kind in _NAMES}
_SINGULAR = {"batches": "batch", "files": "file"}
_STATE = re.compile(r"[A-Z_]{1,64}")
# A batch's per-request errors carry the gRPC code (google.rpc.Code), not the HTTP status
# the same error has alone: read as that status, each is classified as it would be alone.
_GRPC_TO_HTTP = {
    1: 499,  # CANCELLED
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    16: 401,  # UNAUTHENTICATED
}


def slide_key(slide: int) -> str:
    """The key a slide's request carries in the batch, and its response with it."""
    return f"{_KEY_PREFIX}{slide}"


def slide_of(key: object) -> int | None:
    """The slide a response's key names; ``None`` for a key that is none of ours."""
    if not isinstance(key, str) or not key.startswith(_KEY_PREFIX):
        return None
    number = key[len(_KEY_PREFIX) :]
    return int(number) if number.isdigit() and len(number) < 10 else None


def create_body(
    display_name: str,
    requests: Iterable[tuple[int, dict[str, Any]]] | None = None,
    *,
    file_name: str | None = None,
) -> dict[str, Any]:
    """The ``batchGenerateContent`` body: inline ``requests`` or an uploaded ``file_name``."""
    if file_name is not None:
        source: dict[str, Any] = {"fileName": file_name}
    else:
        assert requests is not None
        source = {
            "requests": {
                "requests": [
                    {"request": sendable(body), "metadata": {"key": slide_key(slide)}}
                    for slide, body in requests
                ]
            }
        }
    return {"batch": {"displayName": display_name, "inputConfig": source}}


def jsonl(requests: Iterable[tuple[int, dict[str, Any]]]) -> Iterator[bytes]:
    """The lines of a batch's input file: ``{"key": ..., "request": ...}`` each."""
    for slide, body in requests:
        yield orjson.dumps({"key": slide_key(slide), "request": sendable(body)}) + b"\n"


def checked_name(value: str, kind: str, scrub: Callable[[str], str]) -> str:
    """``value``, a name of ``kind`` (``batches`` or ``files``) the service gave, if it has
    the documented shape and holds no echo of the key (``scrub`` scrubs the caller's key).

    Raises:
        BatchNameRefused: any other name; the message shows it scrubbed and escaped.
    """
    problem = name_problem(value, kind, scrub)
    if problem is None:
        return value
    raise BatchNameRefused(
        f"{_SINGULAR[kind]} name {problem}, refused; a rerun sends its slides anew",
        reason="BAD_NAME",
    )


def name_problem(value: str, kind: str, scrub: Callable[[str], str]) -> str | None:
    """What is wrong with ``value`` as a name of ``kind``, in words; ``None``: nothing."""
    scrubbed = scrub(value)
    if scrubbed == value and _NAMES[kind].fullmatch(value):
        return None
    shown = scrubbed[:40].encode("unicode_escape").decode("ascii")
    more = "..." if len(scrubbed) > 40 else ""
    return f"'{shown}{more}' is not {_SHAPES[kind]}"


def _state(value: object) -> str:
    """A state without its prefix; ``UNSPECIFIED`` for none, or one of no enum's shape."""
    text = str(value or "")
    for prefix in ("BATCH_STATE_", "JOB_STATE_"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text if _STATE.fullmatch(text) else "UNSPECIFIED"


@dataclass(frozen=True, slots=True)
class Operation:
    """What the service says of a batch: its name, state, counts and where its results are.

    ``inlined`` holds the inline responses (their raw JSON); ``responses_file`` names the
    results file otherwise; ``error`` is the batch's own error (a FAILED batch).
    """

    name: str
    state: str
    display_name: str = ""
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    create_time: str = ""
    inlined: tuple[dict[str, Any], ...] = ()
    responses_file: str = ""
    error: str = ""

    @property
    def over(self) -> bool:
        return self.state in TERMINAL_STATES

    @classmethod
    def parse(cls, data: object, scrub: Callable[[str], str]) -> Operation:
        """The operation (or batch) in ``data``; ``scrub`` scrubs the caller's key from text.

        Raises:
            TransientError: not a batch's JSON (no name): a proxy's page, a cut body.
            BatchNameRefused: its name, or its results file's, is not of the documented
                shape (:func:`checked_name`).
        """
        if not isinstance(data, dict):
            raise TransientError("malformed batch answer (not a JSON object)", reason="BAD_BODY")
        meta = _meta(data)
        name = data.get("name") or meta.get("name")
        if not isinstance(name, str) or not name:
            raise TransientError("malformed batch answer (no batch name)", reason="BAD_BODY")
        name = checked_name(name, "batches", scrub)
        stats = meta.get("batchStats") if isinstance(meta.get("batchStats"), dict) else {}
        assert isinstance(stats, dict)
        response = data.get("response") if isinstance(data.get("response"), dict) else {}
        if not response and isinstance(meta.get("output"), dict):
            response = meta["output"]
        assert isinstance(response, dict)
        inlined_box = response.get("inlinedResponses")
        inlined: list[Any] = []
        if isinstance(inlined_box, dict):
            inlined = inlined_box.get("inlinedResponses") or []
        elif isinstance(inlined_box, list):
            inlined = inlined_box
        error = data.get("error") if isinstance(data.get("error"), dict) else None
        responses_file = str(response.get("responsesFile") or "")
        if responses_file:
            responses_file = checked_name(responses_file, "files", scrub)
        state = _state(meta.get("state"))
        if state == "UNSPECIFIED" and data.get("done") is True:
            state = "FAILED" if error else "SUCCEEDED"
        return cls(
            name=name,
            state=state,
            display_name=display_name(data),
            requests=int64(stats.get("requestCount")),
            succeeded=int64(stats.get("successfulRequestCount")),
            failed=int64(stats.get("failedRequestCount")),
            pending=int64(stats.get("pendingRequestCount")),
            create_time=scrub(str(meta.get("createTime") or "")),
            inlined=tuple(entry for entry in inlined if isinstance(entry, dict)),
            responses_file=responses_file,
            error=scrub(str((error or {}).get("message") or "")),
        )


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    """Where a batch's fields are: its operation's ``metadata``, or the batch itself."""
    meta = data.get("metadata")
    return meta if isinstance(meta, dict) else data


def display_name(data: dict[str, Any]) -> str:
    """The display name in a batch's JSON (as given: compared, never kept)."""
    return str(_meta(data).get("displayName") or "")


def outcome(entry: dict[str, Any], model: str) -> tuple[int | None, GeneratedImage | ApiError]:
    """One response of a batch (an inline entry or a line of its results file).

    The slide its key names (``None`` when it names none of ours), and the image, or the
    typed error the same answer would be alone.
    """
    meta = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    slide = slide_of(entry.get("key", meta.get("key")))
    error = entry.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 100 <= code < 600:
            status = code  # an HTTP status, as some proxies and older answers give it
        else:
            status = _GRPC_TO_HTTP.get(code, 500) if isinstance(code, int) else 500
        return slide, classify_error(status, {"error": error}, model=model)
    response = entry.get("response")
    if not isinstance(response, dict):
        return slide, TransientError("batch response without a response", reason="BAD_BODY")
    try:
        return slide, parse_success(response)
    except ApiError as refused:
        return slide, refused
