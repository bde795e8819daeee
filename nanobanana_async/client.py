"""The HTTP client: one ``generateContent`` call in, one typed outcome out.

It knows URLs, headers and timeouts, and nothing about slides, files or retries. Every
failure leaves here already classified (:mod:`nanobanana_async.protocol` for answers, this
module for transport failures), so callers match on types.

The key travels only in the ``x-goog-api-key`` header. The service also accepts ``?key=``,
but URLs end up in logs, proxies and exception messages, so it is never used here.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import anyio.to_thread
import httpx2
import orjson

from . import __version__
from .errors import TransientError, redact
from .protocol import GeneratedImage, classify_error, parse_success

__all__ = ["DEFAULT_BASE_URL", "GeminiClient"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
# Bodies above this are parsed in a worker thread: a Gemini 3 answer carries megabytes of
# base64 (image and thoughtSignature) and decoding it on the loop would stall every worker.
_THREAD_PARSE_BYTES = 64 * 1024


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
                "user-agent": f"nanobanana-async/{__version__}",
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
            response = await self._http.post(url, content=orjson.dumps(body))
            raw = response.content
        except httpx2.TimeoutException as exc:
            raise TransientError(
                f"no answer within the timeout ({type(exc).__name__})", reason="TIMEOUT"
            ) from None
        except httpx2.TransportError as exc:
            detail = redact(str(exc) or type(exc).__name__, self._api_key)
            raise TransientError(f"connection failed: {detail}", reason="CONNECTION") from None
        if response.status_code != 200:
            error = classify_error(response.status_code, raw, model=model)
            error.message = redact(error.message, self._api_key)
            error.args = (error.message,)
            raise error
        if len(raw) > _THREAD_PARSE_BYTES:
            return await anyio.to_thread.run_sync(parse_success, raw)
        return parse_success(raw)

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
