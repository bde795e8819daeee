"""A succeeded batch's output: each request's response, or its error, in request order.

Each response is the ``GenerateContentResponse`` ``generateContent`` would have sent for
the request (:func:`~.generation.compose`, the same renderer and shapes); each error is a
google.rpc.Status (``{"code", "message"}``, the code a gRPC number, no status name), as a
batch reports one. Inline input gets ``inlinedResponses``: ``{"response", "metadata"}`` or
``{"error", "metadata"}``, the request's metadata echoed. File input gets a JSONL results
file, ``{"key", "response"}`` or ``{"key", "error"}`` a line, named ``files/batch-{id}``
as the service names it. Rendering is CPU work: :func:`render_output` runs in a worker
thread, once per batch (its lock keeps two readers from rendering it twice).
"""

from __future__ import annotations

from typing import Any

import orjson

from . import error_bodies
from .batches import Batch, BatchOutput, Planned
from .compression import plain_join
from .faults import BATCH_ERROR_KINDS
from .generation import compose
from .render import SlideRenderer
from .settings import EmulatorSettings

__all__ = ["JSONL", "render_output", "results_file_id"]

JSONL = "application/jsonl"


def results_file_id(batch: Batch) -> str:
    """The id of a file-input batch's results file."""
    return f"batch-{batch.id}"


def _error_for(kind: str) -> dict[str, Any]:
    """The google.rpc.Status of a scripted or drawn batch error kind."""
    bodies = {
        "400": error_bodies.invalid_argument("Request contains an invalid argument."),
        "429": error_bodies.overloaded(None),
        "500": error_bodies.internal(),
        "503": error_bodies.unavailable(0),
        "504": error_bodies.deadline_exceeded(),
    }
    return error_bodies.rpc_status(bodies[kind])


def render_output(batch: Batch, renderer: SlideRenderer, settings: EmulatorSettings) -> BatchOutput:
    """Render ``batch``'s output (blocking), once, and keep it on the batch."""
    with batch.rendering:
        if batch.output is not None:
            return batch.output
        entries: list[tuple[str, dict[str, Any] | None, str, Any]] = []
        failed = 0
        for item in batch.items:
            metadata = item.metadata if isinstance(item, Planned) else None
            if isinstance(item, Planned) and item.kind not in BATCH_ERROR_KINDS:
                answer = plain_join(compose(item, renderer, settings).parts(indent=False))
                entries.append((item.key, metadata, "response", orjson.Fragment(answer)))
                continue
            failed += 1
            error = _error_for(item.kind or "500") if isinstance(item, Planned) else item.error
            entries.append((item.key, metadata, "error", error))
        succeeded = len(entries) - failed
        if batch.input_file is None:
            inline = tuple(
                {field: value} | ({"metadata": metadata} if metadata is not None else {})
                for _, metadata, field, value in entries
            )
            batch.output = BatchOutput(succeeded, failed, inline=inline)
        else:
            results = b"".join(
                orjson.dumps({"key": key, field: value}) + b"\n" for key, _, field, value in entries
            )
            name = f"files/{results_file_id(batch)}"
            batch.output = BatchOutput(succeeded, failed, responses_file=name, results=results)
        return batch.output
