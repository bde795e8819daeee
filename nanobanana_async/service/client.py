"""The HTTP client: one ``generateContent`` call in, one typed outcome out.

It knows URLs, headers and timeouts, nothing of slides, files or retries; every failure
leaves here already classified (:mod:`.protocol` for answers, this module for transport
failures and undecodable bodies). The key travels only in the ``x-goog-api-key`` header,
never in a URL. Answers are read raw and inflated in a worker thread, not by httpx2 on the
event loop; a body that cannot be decoded is a :class:`~nanobanana_async.errors.TransientError`,
retried. Why: docs/design.md, "The client".
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import anyio.to_thread
import httpx2
import orjson

from .._version import version
from ..errors import TransientError, redact
from .endpoint import DEFAULT_BASE_URL
from .protocol import GeneratedImage, classify_error, parse_success

__all__ = ["ACCEPT_ENCODING", "DEFAULT_BASE_URL", "GeminiClient"]

# The content codings _decode understands; sent as Accept-Encoding on every request. Not
# "identity": that would spare the CPU of inflating, but a real answer is much bigger
# unzipped, which on a real network costs more time than the CPU it saves (figures:
# benchmarks/README.md).
ACCEPT_ENCODING = "gzip, deflate"
# Bodies above this (as received) are decoded and parsed in a worker thread: a Gemini 3
# answer carries megabytes of base64 (image and thoughtSignature) and inflating or decoding
# it on the loop would stall every worker.
_THREAD_PARSE_BYTES = 64 * 1024
_GZIP_WBITS = zlib.MAX_WBITS | 16
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class GeminiClient:
    """A shared connection pool to one Gemini endpoint.

    Args:
        api_key: the key, sent as ``x-goog-api-key``.
        base_url: the service root, e.g. ``https://generativelanguage.googleapis.com``.
        timeout: read timeout per request, in seconds. Image generation is slow (a pro 4K
            image can take minutes), so this is generous by default; connect and write
            timeouts stay short because those stalls mean the network is the problem.
        max_connections: the pool size; the engine's concurrency gate stays below it.
        transport: an httpx2 transport to use instead of the network (the emulator's ASGI
            app in tests).
        api_version: ``v1beta`` (the REST docs' path) or ``v1``.
    """

    __slots__ = ("_api_key", "_base", "_http", "requests_sent")

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 300.0,
        max_connections: int = 64,
        transport: httpx2.AsyncBaseTransport | None = None,
        api_version: str = "v1beta",
    ) -> None:
        self._api_key = api_key
        self._base = f"{base_url.rstrip('/')}/{api_version}"
        self.requests_sent = 0
        self._http = httpx2.AsyncClient(
            headers={
                "x-goog-api-key": api_key,
                "content-type": "application/json",
                "accept-encoding": ACCEPT_ENCODING,
                "user-agent": f"nanobanana-async/{version()}",
            },
            timeout=httpx2.Timeout(connect=15.0, read=timeout, write=60.0, pool=None),
            limits=httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"<GeminiClient {self._base} sent={self.requests_sent}>"

    async def generate(self, model: str, body: dict[str, Any]) -> GeneratedImage:
        """Send one ``generateContent`` request and return the image to keep.

        Raises:
            ApiError: a subclass saying what the answer (or its absence) means.
        """
        url = f"{self._base}/models/{model}:generateContent"
        self.requests_sent += 1
        try:
            async with self._http.stream("POST", url, content=orjson.dumps(body)) as response:
                # Raw: the body is inflated below, off the loop when it is big.
                chunks = [chunk async for chunk in response.aiter_raw()]
        except httpx2.TimeoutException as exc:
            raise TransientError(
                f"no answer within the timeout ({type(exc).__name__})", reason="TIMEOUT"
            ) from None
        except httpx2.TransportError as exc:
            detail = redact(str(exc) or type(exc).__name__, self._api_key)
            raise TransientError(f"connection failed: {detail}", reason="CONNECTION") from None
        codings = response.headers.get_list("content-encoding", split_commas=True)
        if response.status_code != 200:
            try:
                raw = _decode(chunks, codings)
            except TransientError:
                raw = b""  # the status alone still says what happened
            error = classify_error(response.status_code, raw, model=model)
            error.message = redact(error.message, self._api_key)
            error.args = (error.message,)
            raise error
        if sum(map(len, chunks)) > _THREAD_PARSE_BYTES:
            return await anyio.to_thread.run_sync(_decode_and_parse, chunks, codings)
        return _decode_and_parse(chunks, codings)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _decode_and_parse(chunks: Sequence[bytes], codings: Sequence[str]) -> GeneratedImage:
    return parse_success(_decode(chunks, codings))


def _decode(chunks: Sequence[bytes], codings: Sequence[str]) -> bytes:
    """The body as sent, with its ``Content-Encoding`` codings undone (last applied first).

    Raises:
        TransientError: a coding we did not ask for, or a stream that is cut short,
            corrupt, or followed by bytes that are not another gzip member.
    """
    data = b"".join(chunks)
    for coding in reversed([c.strip().lower() for c in codings]):
        if coding in ("", "identity"):
            continue
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, _GZIP_WBITS, coding)
        elif coding == "deflate":
            # RFC 9110 says zlib-wrapped; some servers send raw deflate (as httpx2 allows).
            wbits = _ZLIB_WBITS if _has_zlib_header(data) else _RAW_DEFLATE_WBITS
            data = _inflate(data, wbits, coding)
        else:
            raise TransientError(
                f"malformed response body (content-encoding {coding!r} not asked for)",
                reason="BAD_BODY",
            )
    return data


def _has_zlib_header(data: bytes) -> bool:
    """RFC 1950: method 8 (deflate) in the low nibble, and the two bytes a multiple of 31."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, wbits: int, coding: str) -> bytes:
    """Inflate a whole body in one call (zlib releases the GIL meanwhile).

    gzip may hold several members back to back (RFC 1952); each is inflated in turn.
    """
    out: list[bytes] = []
    rest = data
    try:
        while True:
            inflater = zlib.decompressobj(wbits)
            out.append(inflater.decompress(rest))
            if not inflater.eof:
                raise TransientError(
                    f"malformed response body ({coding} stream cut short, "
                    f"{len(data)} bytes received)",
                    reason="BAD_BODY",
                )
            rest = inflater.unused_data
            if not rest or wbits != _GZIP_WBITS:
                break
    except zlib.error as exc:
        raise TransientError(
            f"malformed response body (corrupt {coding} stream: {exc})", reason="BAD_BODY"
        ) from None
    if rest:
        raise TransientError(
            f"malformed response body ({len(rest)} bytes after the {coding} stream)",
            reason="BAD_BODY",
        )
    return b"".join(out) if len(out) > 1 else out[0]
