"""``streamGenerateContent``: one answer, sent as the chunks the service streams.

The generation is the one ``generateContent`` would make (same checks, quota, faults and
latency: :mod:`.app` runs both through one path); only the answer is cut into pieces, in
the order of its parts: any interim thought image, then the text, a word group a chunk,
and last the final image, with ``finishReason`` and the whole ``usageMetadata``; every
earlier chunk reports the prompt's tokens only, as the service's do. An answer without an
image part (``NO_IMAGE``, a blocked prompt) is one chunk.

With ``?alt=sse`` each chunk is a server-sent event, ``data: {json}`` on one line and a
blank line (``\\r\\n\\r\\n``), which is what the SDKs ask for; without it, the body is a
JSON array of the chunks, written as the service writes it (``[{...}\\n,\\r\\n{...}]``).
Stream bodies are not gzip-encoded here (the real service's are when asked): chunked
transfer already delivers each event as it is sent.
"""

from __future__ import annotations

import copy
from typing import Any

from .compression import plain_join
from .generation import Plan, compose
from .render import SlideRenderer
from .settings import EmulatorSettings
from .success_bodies import Answer

__all__ = ["SSE", "chunk_answers", "stream_body"]

SSE = "text/event-stream"
_WORDS_PER_CHUNK = 4


def _text_pieces(part: dict[str, Any]) -> list[dict[str, Any]]:
    """A text part as word groups; its signature (if any) stays with the last piece."""
    words = part["text"].split(" ")
    groups = [
        " ".join(words[i : i + _WORDS_PER_CHUNK]) for i in range(0, len(words), _WORDS_PER_CHUNK)
    ]
    pieces = [{"text": g + (" " if i < len(groups) - 1 else "")} for i, g in enumerate(groups)]
    if "thoughtSignature" in part:
        pieces[-1]["thoughtSignature"] = part["thoughtSignature"]
    return pieces


def chunk_answers(answer: Answer) -> list[Answer]:
    """The chunks of ``answer``, each a whole ``GenerateContentResponse`` of its own."""
    data = answer.data
    candidates = data.get("candidates") or []
    parts = candidates[0].get("content", {}).get("parts", []) if candidates else []
    if not any("inlineData" in part for part in parts):
        return [answer]
    groups: list[list[dict[str, Any]]] = []
    for part in parts:
        pieces = _text_pieces(part) if "text" in part else [part]
        groups += [[piece] for piece in pieces]
    usage = data["usageMetadata"]
    early_usage = {
        "promptTokenCount": usage["promptTokenCount"],
        "totalTokenCount": usage["promptTokenCount"],
        "promptTokensDetails": usage["promptTokensDetails"],
    }
    chunks: list[Answer] = []
    for number, group in enumerate(groups):
        last = number == len(groups) - 1
        candidate: dict[str, Any] = {"content": {"parts": group, "role": "model"}}
        if last:
            candidate["finishReason"] = candidates[0]["finishReason"]
        candidate["index"] = 0
        chunk = {
            "candidates": [candidate],
            "usageMetadata": usage if last else copy.deepcopy(early_usage),
            "modelVersion": data["modelVersion"],
            "responseId": data["responseId"],
        }
        chunks.append(Answer(chunk, answer.segments))
    return chunks


def _frames(bodies: list[bytes], *, sse: bool) -> list[bytes]:
    if sse:
        return [b"data: " + body + b"\r\n\r\n" for body in bodies]
    last = len(bodies) - 1
    return [
        (b"[" if i == 0 else b"") + body + (b"]" if i == last else b"\n,\r\n")
        for i, body in enumerate(bodies)
    ]


def stream_body(
    plan: Plan, renderer: SlideRenderer, settings: EmulatorSettings, *, sse: bool
) -> list[bytes]:
    """The frames to send, in order (blocking: run it in a worker thread).

    A ``truncated`` plan cuts its last frame short, as the body of a ``generateContent``
    answer is cut.
    """
    chunks = chunk_answers(compose(plan, renderer, settings))
    frames = _frames([plain_join(c.parts(indent=not sse)) for c in chunks], sse=sse)
    if plan.kind == "truncated":
        frames[-1] = frames[-1][: max(1, int(len(frames[-1]) * plan.cut_at))]
    return frames
