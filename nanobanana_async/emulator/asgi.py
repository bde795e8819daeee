"""ASGI plumbing: reading a request, sending an answer with the service's headers.

Kept apart from the emulator's logic so that :mod:`.app` reads as "what the service does"
and this module as "how bytes move". Answers carry the real service's headers
(``content-type: application/json; charset=UTF-8``, ``server-timing: gfet4t7; dur=N``,
``vary``, the security headers), are gzip-encoded when the client accepts it, and have no
``content-length``, so a real server sends them chunked, as the service does. No
``Retry-After`` header is ever sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx2

__all__ = [
    "ConnectionDropped",
    "Receive",
    "Scope",
    "Send",
    "header",
    "read_body",
    "send_answer",
    "until_disconnect",
]

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


def _headers(duration_ms: int, gzip: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", b"application/json; charset=UTF-8"),
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
    return headers


async def send_answer(
    send: Send,
    status: int,
    body: bytes,
    *,
    gzip: bool,
    duration_ms: int,
    cut_after: int | None = None,
) -> None:
    """Send a complete answer, or with ``cut_after`` only that many bytes, then drop.

    Raises:
        ConnectionDropped: when ``cut_after`` is given, after sending the partial body.
    """
    await send(
        {"type": "http.response.start", "status": status, "headers": _headers(duration_ms, gzip)}
    )
    if cut_after is not None:
        await send({"type": "http.response.body", "body": body[:cut_after], "more_body": True})
        raise ConnectionDropped()
    await send({"type": "http.response.body", "body": body, "more_body": False})
