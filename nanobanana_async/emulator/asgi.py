"""ASGI plumbing: reading a request, sending an answer with the service's headers.

Kept apart from the emulator's logic so that :mod:`.app` reads as "what the service does"
and this module as "how bytes move". Answers carry the real service's headers
(``content-type: application/json; charset=UTF-8``, ``server-timing: gfet4t7; dur=N``,
``vary``, the security headers), are gzip-encoded when the client accepts it, and have no
``content-length``, so a real server sends them chunked, as the service does. No
``Retry-After`` header is ever sent. A stream goes out frame by frame
(:func:`send_frames`), each frame its own chunk, as a server-sent event stream must.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx2
import orjson

from .compression import gzip_join

__all__ = [
    "JSON",
    "ConnectionDropped",
    "Headers",
    "Receive",
    "Reply",
    "Scope",
    "Send",
    "base_url",
    "header",
    "query",
    "read_body",
    "send_answer",
    "send_frames",
    "send_reply",
    "until_disconnect",
]

JSON = "application/json; charset=UTF-8"

Headers = Iterable[tuple[bytes, bytes]]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ConnectionDropped(httpx2.RemoteProtocolError):
    """Raised by the app to abort a connection mid-answer (the ``drop`` fault).

    A real server (uvicorn) closes the socket when an app raises after the answer started,
    so a network client sees a truncated chunked body: a protocol error. Mounted in-process
    through ``httpx2.ASGITransport``, the exception reaches the client as is, and being an
    ``httpx2.RemoteProtocolError`` it is caught exactly where the network error would be.
    """

    def __init__(self) -> None:
        super().__init__("server disconnected without sending a complete response")


@dataclass(frozen=True, slots=True)
class Reply:
    """What a method other than a generation answers: a status, a body, headers.

    Attributes:
        body: JSON to serialise (indented, as the service writes it), or raw bytes.
        status: the HTTP status.
        content_type: for raw bytes (JSON bodies are always ``JSON``).
        headers: extra headers, e.g. the resumable upload's.
    """

    body: dict[str, Any] | bytes
    status: int = 200
    content_type: str = "application/json; charset=UTF-8"
    headers: tuple[tuple[bytes, bytes], ...] = ()


def query(scope: Scope) -> dict[str, list[str]]:
    """The query string's parameters (values in order, last one wins where one is read)."""
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


def base_url(scope: Scope) -> str:
    """The scheme and host the client called, for URLs that point back at this emulator."""
    host = header(scope, b"host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def header(scope: Scope, name: bytes) -> str | None:
    """The last value of header ``name`` (lower-case), decoded as Latin-1."""
    value: str | None = None
    for key, raw in scope.get("headers") or ():
        if key == name:
            value = raw.decode("latin-1")
    return value


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def until_disconnect(receive: Receive) -> None:
    """Return when the client goes away (after the body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _headers(
    duration_ms: int, gzip: bool, content_type: str = JSON, extra: Headers = ()
) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", content_type.encode()),
        (b"vary", b"Origin"),
        (b"vary", b"X-Origin"),
        (b"vary", b"Referer"),
        (b"server", b"scaffolding on HTTPServer2"),
        (b"x-xss-protection", b"0"),
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"x-content-type-options", b"nosniff"),
        (b"server-timing", f"gfet4t7; dur={duration_ms}".encode()),
    ]
    if gzip:
        headers.append((b"content-encoding", b"gzip"))
    headers.extend(extra)
    return headers


async def send_answer(
    send: Send,
    status: int,
    body: bytes,
    *,
    gzip: bool,
    duration_ms: int,
    cut_after: int | None = None,
    content_type: str = JSON,
    headers: Headers = (),
) -> None:
    """Send a complete answer, or with ``cut_after`` only that many bytes, then drop.

    Raises:
        ConnectionDropped: when ``cut_after`` is given, after sending the partial body.
    """
    start = _headers(duration_ms, gzip, content_type, headers)
    await send({"type": "http.response.start", "status": status, "headers": start})
    if cut_after is not None:
        await send({"type": "http.response.body", "body": body[:cut_after], "more_body": True})
        raise ConnectionDropped()
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_frames(
    send: Send,
    frames: Sequence[bytes],
    *,
    content_type: str,
    duration_ms: int,
    drop_after: int | None = None,
) -> None:
    """Send a 200 whose body is ``frames``, one chunk each; with ``drop_after``, only that
    many frames, then drop the connection.

    Raises:
        ConnectionDropped: when ``drop_after`` is given, after sending those frames.
    """
    start = _headers(duration_ms, False, content_type)
    await send({"type": "http.response.start", "status": 200, "headers": start})
    count = len(frames) if drop_after is None else drop_after
    for frame in frames[:count]:
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    if drop_after is not None:
        raise ConnectionDropped()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def send_reply(send: Send, reply: Reply, *, gzip: bool, duration_ms: int) -> None:
    """Send a :class:`Reply`: JSON indented as the service writes it, gzipped when asked."""
    raw, content_type = reply.body, reply.content_type
    if isinstance(raw, dict):
        raw, content_type = orjson.dumps(raw, option=orjson.OPT_INDENT_2), JSON
    gzip = gzip and content_type == JSON
    await send_answer(
        send,
        reply.status,
        gzip_join([raw]) if gzip else raw,
        gzip=gzip,
        duration_ms=duration_ms,
        content_type=content_type,
        headers=reply.headers,
    )
