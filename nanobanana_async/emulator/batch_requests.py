"""Reading a ``batchGenerateContent`` body: its name, and each request with its key.

Inline requests (``batch.inputConfig.requests.requests[]`` of ``{request, metadata}``) are
checked when the batch is created, each exactly as ``generateContent`` checks a body, and
one bad request refuses the whole batch with that request's 400, its path naming where it
sits (``batch.input_config.requests.requests[2].request...``). A body over the service's
20 MB limit is refused before it is read. An input file (``inputConfig.fileName``, JSONL
lines of ``{"key", "request"}``) may be gigabytes, so the service cannot read it before it
answers: here as there, a line that does not parse or validate fails alone, as an error
in its place in the output, and the rest of the batch runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import error_bodies
from .catalog import ModelSpec
from .validation import ImageRequest, Rejected, decode_json, parse_fields

__all__ = [
    "INLINE_LIMIT",
    "BatchInput",
    "Line",
    "read_batch",
    "read_jsonl",
]

# The front end's limit on a request body, in bytes: 20 MB.
INLINE_LIMIT = 20 * 1024 * 1024
_REQUEST_FIELDS = {"batch": "batch"}
_BATCH_FIELDS = {
    "model": "model",
    "name": "name",
    "displayName": "display_name",
    "inputConfig": "input_config",
    "output": "output",
    "createTime": "create_time",
    "endTime": "end_time",
    "updateTime": "update_time",
    "batchStats": "batch_stats",
    "state": "state",
    "priority": "priority",
    "webhookConfig": "webhook_config",
}
_INPUT_FIELDS = {"fileName": "file_name", "requests": "requests"}
_INLINED_FIELDS = {"requests": "requests"}
_ENTRY_FIELDS = {"request": "request", "metadata": "metadata"}
_LINE_FIELDS = {"key": "key", "request": "request"}


@dataclass(frozen=True, slots=True)
class Line:
    """One request of a batch, as read.

    Attributes:
        key: the key its response is filed under (``metadata.key``, or the line's ``key``).
        metadata: the inline request's ``metadata``, echoed with its response.
        request: the validated request, or ``None`` when it could not be read.
        error: why it could not (a google.rpc.Status), for a line of an input file.
    """

    key: str
    metadata: dict[str, Any] | None = None
    request: ImageRequest | None = None
    error: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class BatchInput:
    """A batch to create: its display name, its requests, the input file they came from."""

    display_name: str
    lines: tuple[Line, ...]
    file_name: str | None = None


def _known(obj: Any, names: dict[str, str], at: str, root: str = "") -> dict[str, Any]:
    """``obj`` (a message) keyed by camelCase names; a 400 for a name it does not have."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        where = f"{root}.{at}" if root and at else root or at
        raise Rejected(
            error_bodies.invalid_argument(
                f"Invalid JSON payload received. Expected an object at '{where}'."
            )
        )
    by_snake = {snake: camel for camel, snake in names.items()}
    out: dict[str, Any] = {}
    for name, value in obj.items():
        camel = name if name in names else by_snake.get(name)
        if camel is None:
            raise Rejected(error_bodies.unknown_field(name, at, root=root))
        out[camel] = value
    return out


def _missing(path: str, name: str) -> Rejected:
    return Rejected(
        error_bodies.invalid_argument(
            f"* BatchGenerateContentRequest.{path}: {name} is not specified\n"
        )
    )


def _key_of(metadata: Any, index: int) -> str:
    if isinstance(metadata, dict) and metadata.get("key") is not None:
        return str(metadata["key"])
    return str(index)


def read_batch(raw: bytes, spec: ModelSpec, *, input_file: Callable[[str], bytes]) -> BatchInput:
    """The batch a create body asks for.

    Args:
        raw: the body.
        spec: the model of the path.
        input_file: the bytes of an uploaded file, by name (raising :class:`Rejected`
            for a file that is not there).

    Raises:
        Rejected: a body over the limit, an unknown field, a missing input, a bad inline
            request (naming where it sits), or a missing input file.
    """
    if len(raw) > INLINE_LIMIT:
        raise Rejected(error_bodies.payload_too_large(INLINE_LIMIT))
    body = _known(decode_json(raw), _REQUEST_FIELDS, "")
    batch = _known(body.get("batch"), _BATCH_FIELDS, "batch")
    if not batch:
        raise _missing("batch", "batch")
    source = _known(batch.get("inputConfig"), _INPUT_FIELDS, "input_config", "batch")
    display_name = str(batch.get("displayName") or "")
    file_name = source.get("fileName")
    if file_name:
        file_id = str(file_name).removeprefix("files/")
        return BatchInput(display_name, read_jsonl(input_file(file_id), spec), str(file_name))
    at = "batch.input_config.requests"
    entries = _known(source.get("requests"), _INLINED_FIELDS, "requests", "batch.input_config")
    requests = entries.get("requests")
    if not requests or not isinstance(requests, list):
        raise _missing("batch.input_config", "input_config")
    lines = []
    for index, entry in enumerate(requests):
        fields = _known(entry, _ENTRY_FIELDS, f"requests[{index}]", at)
        root = f"{at}.requests[{index}].request"
        request = parse_fields(fields.get("request") or {}, spec, root=root)
        metadata = fields.get("metadata")
        lines.append(
            Line(
                key=_key_of(metadata, index),
                metadata=metadata if isinstance(metadata, dict) else None,
                request=request,
            )
        )
    return BatchInput(display_name, tuple(lines))


def _line(text: bytes, index: int, spec: ModelSpec) -> Line:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        body = error_bodies.invalid_argument(
            f"Invalid JSON payload received at line {index + 1} of the input file."
        )
        return Line(key=str(index), error=error_bodies.rpc_status(body))
    key = _key_of(data, index)
    try:
        fields = _known(data, _LINE_FIELDS, "")
        return Line(key=key, request=parse_fields(fields.get("request") or {}, spec))
    except Rejected as rejected:
        return Line(key=key, error=error_bodies.rpc_status(rejected.body))


def read_jsonl(data: bytes, spec: ModelSpec) -> tuple[Line, ...]:
    """The requests of an input file, one a non-blank line; bad lines carry their error.

    Raises:
        Rejected: the file holds no request at all.
    """
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        raise Rejected(error_bodies.invalid_argument("The input file holds no requests."))
    return tuple(_line(text, index, spec) for index, text in enumerate(lines))
