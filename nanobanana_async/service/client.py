"""The HTTP client: one ``generateContent`` call in, one typed outcome out.

It knows URLs, headers, the deadline and the size cap, nothing of slides, files or
retries; every failure leaves here already classified (:mod:`.protocol` for answers, this
module for transport failures and bodies it cannot use). The key travels only in the
``x-goog-api-key`` header, never in a URL. Bodies are streamed and inflated as they arrive,
counted both as sent and as inflated, and reading stops at the cap (a gzip bomb costs the
cap, not its size); big ones are inflated in worker threads, not on the event loop. A
body that cannot be decoded is a :class:`~nanobanana_async.errors.TransientError`, one
over the cap an :class:`~nanobanana_async.errors.UnusableAnswer`. Why: docs/design.md,
"The client".
"""

from __future__ import annotations

import ssl
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpcore2
import httpx2
import orjson

from .._version import version
from ..errors import ApiError, EndpointRefused, TransientError, UnusableAnswer, redact
from .auth import Auth, KeyAuth
from .endpoint import DEFAULT_BASE_URL, reaches_this_machine, refused_listener
from .protocol import GeneratedImage, classify_error, parse_success, sendable
from .tiers import asked_tier, deadline_for

# How often a port of this machine is looked at again for its listener (seconds).
_LISTENER_RECHECK_S = 1.0

__all__ = ["ACCEPT_ENCODING", "DEFAULT_BASE_URL", "DEFAULT_MAX_ANSWER_BYTES", "GeminiClient"]

# The content codings _decode understands; sent as Accept-Encoding on every request. Not
# "identity": that would spare the CPU of inflating, but a real answer is much bigger
# unzipped, which on a real network costs more time than the CPU it saves (figures:
# benchmarks/README.md).
ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The most bytes one answer may take, as sent and as inflated, before reading stops.

The largest real answer is a 4K image (5504x3072): a JPEG of a few MB, up to about 6 for
a busy slide, 8 MB once base64; Gemini 3 may add two interim thought images of the same
kind, and each part's ``thoughtSignature`` reaches 0.6 to 3 MB (docs: gemini-protocol.md).
That is 10 to 25 MB of JSON for a real 4K answer, about 40 MB if everything were at its
largest at once; 64 MiB leaves room above that, and an answer past it is not an image
anyone asked for (a proxy's error page looping, a misconfigured endpoint, a bomb).
Reading one costs about three times its size (the body, the parsed JSON, the image).
"""

_T = TypeVar("_T")
# Connecting gives up on its own after this: a host that does not accept a connection
# within it is down or unreachable, whatever the deadline left for the whole request.
_CONNECT_TIMEOUT = 15.0
# Raw bytes gathered before they are inflated in a worker thread: a Gemini 3 answer carries
# megabytes of base64 (image and thoughtSignature), and inflating or parsing it on the loop
# would stall every worker. A body smaller than this as sent, and than _LOOP_DECODED_BYTES
# inflated, is decoded and parsed on the loop (a thread hop would cost more).
_THREAD_PARSE_BYTES = 64 * 1024
_LOOP_DECODED_BYTES = 1024 * 1024
# Each later batch is twice the last, up to this: a 20 MB answer takes about 25 thread
# hops (of a few hundred microseconds each) instead of 300, while a bomb is caught in its
# first 64 KiB. How much is inflated never depends on it: every inflate stops at the cap.
_INFLATE_BATCH_MAX_BYTES = 1024 * 1024
# httpcore2 reads a body 64 KiB at a time, and each read is a trip through anyio, h11 and
# httpcore2 of a few hundred microseconds of Python on the loop: a 3.5 MB answer took 55 of
# them. Asked for up to 1 MiB, a read takes what the connection already holds (the same
# bytes, fewer trips): a quarter of the reads in the CPU-bound bench, about a tenth of the
# engine's CPU beyond the images' own work (benchmarks/README.md, "Where the CPU goes").
# It is a class attribute of httpcore2's HTTP/1.1 connection, set once, at import.
_READ_BYTES = 1024 * 1024
httpcore2.AsyncHTTP11Connection.READ_NUM_BYTES = max(
    httpcore2.AsyncHTTP11Connection.READ_NUM_BYTES, _READ_BYTES
)
_GZIP_WBITS = zlib.MAX_WBITS | 16
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class GeminiClient:
    """A shared connection pool to one Gemini endpoint.

    Args:
        api_key: the key, sent as ``x-goog-api-key``.
        base_url: the service root, e.g. ``https://generativelanguage.googleapis.com``.
        timeout: the deadline of one whole request, in seconds: connecting, sending and
            receiving the answer to its last byte, however steadily it trickles in (a
            read timeout would restart at every byte). Image generation is slow (a pro 4K
            image can take minutes), so this is generous by default. Connecting alone
            gives up after 15 s, whatever is left of the deadline.
        max_answer_bytes: the most bytes one answer may take, as sent and as inflated;
            reading stops there (:data:`DEFAULT_MAX_ANSWER_BYTES` says why 64 MiB).
        max_connections: the pool size; the engine's concurrency gate stays below it.
        transport: an httpx2 transport to use instead of the network (the emulator's ASGI
            app in tests).
        api_version: ``v1beta`` (the REST docs' path) or ``v1``; for Vertex AI, the
            path up to ``/models`` (:attr:`~.vertex.VertexTarget.api_path`).
        auth: how requests authenticate (:mod:`.auth`); ``None``: ``api_key`` in
            ``x-goog-api-key``. A bearer token is asked for before each request and
            refreshed once on a 401.
    """

    __slots__ = (
        "_api_key",
        "_auth",
        "_base",
        "_http",
        "_listener_checked",
        "_local",
        "_max_answer_bytes",
        "_root",
        "_timeout",
        "requests_sent",
    )

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 300.0,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        max_connections: int = 64,
        transport: httpx2.AsyncBaseTransport | None = None,
        api_version: str = "v1beta",
        auth: Auth | None = None,
    ) -> None:
        if max_answer_bytes < 1:
            raise ValueError(f"max_answer_bytes must be positive, not {max_answer_bytes!r}")
        self._api_key = api_key
        self._auth: Auth = auth if auth is not None else KeyAuth(api_key)
        self._root = base_url.rstrip("/")
        self._base = f"{self._root}/{api_version}"
        self._timeout = timeout
        self._max_answer_bytes = max_answer_bytes
        # A port of this machine is looked at before each request: it may be another user's.
        self._local = transport is None and reaches_this_machine(urlsplit(self._root).hostname)
        self._listener_checked: float | None = None  # the loop's time of the last look
        self.requests_sent = 0
        self._http = httpx2.AsyncClient(
            verify=_tls_context(self._root),
            headers={
                "content-type": "application/json",
                "accept-encoding": ACCEPT_ENCODING,
                "user-agent": f"nanobanana-async/{version()}",
            },
            # Reads and writes have no timeout of their own: the deadline covers them.
            timeout=httpx2.Timeout(connect=_CONNECT_TIMEOUT, read=None, write=None, pool=None),
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

        A body asking for Flex (:mod:`.tiers`) gets Flex's queue on top of the deadline, and
        its refusals for want of capacity are classified as a shed
        (:class:`~nanobanana_async.errors.FlexShed`).

        Raises:
            ApiError: a subclass saying what the answer (or its absence) means.
        """
        url = f"{self._base}/models/{model}:generateContent"
        tier = asked_tier(body)
        _, received = await self._send(
            "POST",
            url,
            orjson.dumps(sendable(body)),
            model=model,
            tier=tier,
            deadline=deadline_for(tier, self._timeout),
        )
        return await received.finish(parse_success)

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model: str = "",
    ) -> tuple[httpx2.Headers, bytes]:
        """Any other call of the API (the Batch and Files APIs): its headers and body.

        ``path`` is under the API's version (``batches/123``), or from the service's root
        when it starts with ``/`` (``/upload/v1beta/files``), or a whole URL the service
        gave (an upload URL) on the same host. The answer is read as ``generate`` reads
        one (capped, inflated off the loop); a non-2xx answer raises its classified error.

        Raises:
            ApiError: the answer's error, or a transport failure (TransientError).
        """
        if path.startswith(("http://", "https://")):
            url = path
        elif path.startswith("/"):
            url = f"{self._root}{path}"
        else:
            url = f"{self._base}/{path}"
        if body is not None:
            content = orjson.dumps(body)
        answer, received = await self._send(
            method, url, content, model=model, headers=headers, params=params
        )
        return answer, await received.finish(_as_is)

    async def download(
        self, path: str, write: Callable[[bytes], object], *, limit: int, deadline: float
    ) -> int:
        """Stream a file of the service's (``/download/...``) into ``write``; its size.

        A batch's results file holds every image it made: gigabytes for hundreds of 4K
        slides, so it is never held whole. Asked for as is (``identity``), capped at
        ``limit`` bytes and ``deadline`` seconds for the whole (a server dripping a byte at
        a time resets no read timeout it does not have), with ``timeout`` on each wait for
        the next bytes; ``write`` is called from a worker thread, a chunk at a time.

        Raises:
            ApiError: the answer's error; UnusableAnswer past ``limit`` or ``deadline``.
        """
        url = f"{self._root}{path}"
        self._check_listener()
        sent = await self._auth.headers()
        self.requests_sent += 1
        size = 0
        try:
            with anyio.fail_after(deadline):
                async with self._http.stream(
                    "GET",
                    url,
                    headers={"accept-encoding": "identity", **sent},
                    timeout=httpx2.Timeout(
                        connect=_CONNECT_TIMEOUT, read=self._timeout, write=None, pool=None
                    ),
                ) as response:
                    if response.status_code != 200:
                        raw = await response.aread()
                        raise self._classified(response.status_code, raw[: 2**20], model="")
                    async for chunk in response.aiter_raw(2**20):
                        size += len(chunk)
                        if size > limit:
                            raise _too_large(limit, "as sent", "what its images can weigh")
                        await anyio.to_thread.run_sync(write, chunk)
        except TimeoutError:
            raise UnusableAnswer(
                f"the download was not whole within its {deadline:g} s deadline "
                f"({size:,} bytes in); not read further",
                status=200,
                reason="TOO_SLOW",
            ) from None
        except httpx2.TransportError as exc:
            raise self._transport_failure(exc) from None
        return size

    async def _send(
        self,
        method: str,
        url: str,
        content: bytes | None,
        *,
        model: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        tier: str = "standard",
        deadline: float | None = None,
        resent: bool = False,
    ) -> tuple[httpx2.Headers, _Received]:
        """One request to its whole answer; a 2xx answer's headers and body, else raises.

        ``deadline``: this request's, when not the client's (a Flex request's is longer).
        """
        self._check_listener()
        sent = await self._auth.headers()
        headers = {**(headers or {}), **sent}
        self.requests_sent += 1
        received: _Received | None = None
        deadline = self._timeout if deadline is None else deadline
        try:
            with anyio.fail_after(deadline):
                async with self._http.stream(
                    method, url, content=content, headers=headers, params=params
                ) as response:
                    status = response.status_code
                    answer_headers = response.headers
                    try:
                        received = await _read(response, self._max_answer_bytes)
                    except (TransientError, UnusableAnswer):
                        if 200 <= status < 300:
                            raise
                        # Leaving the block unread closes the connection; the status
                        # alone still says what happened.
        except TimeoutError:
            raise TransientError(
                f"no whole answer within the {deadline:g} s deadline", reason="TIMEOUT"
            ) from None
        except httpx2.TransportError as exc:
            raise self._transport_failure(exc) from None
        # The whole body is in hand: what is left to inflate and parse is outside the
        # deadline, so a paid answer is never lost to a slow CPU.
        if status == 401 and not resent and await self._auth.rejected(sent):
            # A token refused as stale (revoked, or clocks that disagree): one fresh one.
            return await self._send(
                method,
                url,
                content,
                model=model,
                headers=headers,
                params=params,
                tier=tier,
                deadline=deadline,
                resent=True,
            )
        if not 200 <= status < 300:
            try:
                raw = await received.finish(_as_is) if received else b""
            except (TransientError, UnusableAnswer):
                raw = b""
            raise self._classified(status, raw, model=model, tier=tier)
        assert received is not None
        return answer_headers, received

    def _check_listener(self) -> None:
        """Refuse to send to a port of this machine that another user listens on.

        Looked at before the first request and then at most once every
        :data:`_LISTENER_RECHECK_S`, never with an ``await`` between the pacer's admission
        and the send (a request held there can leave inside a delay a 429 announced
        meanwhile). Read before every request, the kernel's socket table (hundreds of lines
        on a busy machine) held decks back: the shared-quota benchmark lost a third of its
        pace. Another user can take the port only once the user's own server lets it go,
        and a connection kept alive still reaches the socket it was opened to.

        Raises:
            EndpointRefused: before anything is sent; the run stops.
        """
        if not self._local:
            return
        now = anyio.current_time()
        last = self._listener_checked
        if last is not None and now - last < _LISTENER_RECHECK_S:
            return
        if (problem := refused_listener(self._root)) is not None:
            raise EndpointRefused(problem, reason="FOREIGN_LISTENER")
        self._listener_checked = now

    def scrub(self, text: str) -> str:
        """``text`` the service sent, with this client's key (however spelt) redacted."""
        return redact(text, self._api_key, *self._auth.secrets())

    def _classified(
        self, status: int, raw: bytes, *, model: str, tier: str = "standard"
    ) -> ApiError:
        """A non-2xx answer as its one typed error, in words that never hold the key."""
        error = classify_error(status, raw, model=model, tier=tier)
        error.message = self.scrub(error.message)
        error.args = (error.message,)
        return error

    def _transport_failure(self, exc: httpx2.TransportError) -> TransientError:
        """A timeout or a failed connection, in words that never hold the key."""
        if isinstance(exc, httpx2.TimeoutException):
            return TransientError(
                f"no answer within the timeout ({type(exc).__name__})", reason="TIMEOUT"
            )
        detail = self.scrub(str(exc) or type(exc).__name__)
        return TransientError(f"connection failed: {detail}", reason="CONNECTION")

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


def _tls_context(root: str) -> ssl.SSLContext | bool:
    """The TLS settings for requests under ``root``: the default (verified against the
    system's CAs) for ``https``. Under ``http`` (the emulator) TLS is not used: requests go
    to that root, and redirects are not followed. Building the default context reads the
    whole CA bundle, about 0.1 s of CPU a process, so ``http`` gets a context with no CA
    instead: should an ``https`` URL ever come through it (an upload URL the service
    gives), no certificate is trusted and the handshake fails before a header is sent."""
    if urlsplit(root).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


async def _read(response: httpx2.Response, limit: int) -> _Received:
    """Read ``response``'s body to its end, inflating it as it comes, in worker threads.

    Raises:
        UnusableAnswer: past ``limit`` bytes as sent (or declared) or inflated; reading
            stops at once.
        TransientError: a coding not asked for, or a corrupt stream.
    """
    body = _Body(response.headers.get_list("content-encoding", split_commas=True), limit)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, f"by its content-length ({int(declared):,} bytes)")
    pending: list[bytes] = []
    pending_bytes = received = 0
    batch = _THREAD_PARSE_BYTES
    threaded = False
    # Raw: inflated here, a batch at a time, off the loop (httpx2 would do it on the loop).
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit, "as sent")
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= batch:
            await anyio.to_thread.run_sync(body.feed, b"".join(pending))
            pending.clear()
            pending_bytes = 0
            batch = min(2 * batch, _INFLATE_BATCH_MAX_BYTES)
            threaded = True
    return _Received(body, b"".join(pending), small=not threaded)


def _as_is(data: bytes) -> bytes:
    return data


@dataclass(frozen=True, slots=True)
class _Received:
    """A body read to its end: ``body`` has been fed everything but ``tail``.

    ``small``: nothing was fed yet and the tail is under ``_THREAD_PARSE_BYTES``, so it may
    be finished on the loop if it also inflates to little.
    """

    body: _Body
    tail: bytes
    small: bool

    async def finish(self, then: Callable[[bytes], _T]) -> _T:
        """``then`` of the decoded body, on the loop when that is cheap, else in a thread."""
        if self.small:
            on_loop = self.body.fresh(min(self.body.limit, _LOOP_DECODED_BYTES))
            try:
                data = on_loop.complete(self.tail)
            except UnusableAnswer:
                if on_loop.limit == self.body.limit:
                    raise
            else:
                return then(data)
        return await anyio.to_thread.run_sync(lambda: then(self.body.complete(self.tail)))


def _too_large(limit: int, how: str, cap_name: str = "max_answer_bytes") -> UnusableAnswer:
    cap = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit:,} bytes"
    return UnusableAnswer(
        f"the answer is over the {cap} allowed {how} ({cap_name}); not read further",
        status=200,
        reason="TOO_LARGE",
    )


class _Body:
    """One body, its ``Content-Encoding`` codings undone (last applied first) as it arrives.

    Every stage's output is held to ``limit`` bytes as it is made (zlib's ``max_length``):
    a gzip bomb inflates to the cap and no further, whatever it would have become.

    Raises (from any method):
        UnusableAnswer: more than ``limit`` bytes inflated.
        TransientError: a coding we did not ask for, or a stream that is cut short,
            corrupt, or followed by bytes that are not another gzip member.
    """

    __slots__ = ("_chunks", "_codings", "_decoded", "_stages", "limit")

    def __init__(self, codings: Sequence[str], limit: int) -> None:
        self._codings = [c.strip().lower() for c in codings]
        self.limit = limit
        self._stages = [
            _Inflater(coding, limit)
            for coding in reversed(self._codings)
            if coding not in ("", "identity")
        ]
        self._chunks: list[bytes] = []
        self._decoded = 0

    def fresh(self, limit: int) -> _Body:
        """A body of the same codings, fed nothing yet."""
        return _Body(self._codings, limit)

    def feed(self, data: bytes) -> None:
        for stage in self._stages:
            data = stage.push(data)
        self._decoded += len(data)
        if self._decoded > self.limit:
            raise _too_large(self.limit, "once inflated")
        if data:
            self._chunks.append(data)

    def complete(self, tail: bytes) -> bytes:
        """Feed the last bytes and return the whole decoded body."""
        self.feed(tail)
        for stage in self._stages:
            stage.finish()
        return b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]


class _Inflater:
    """One coding (gzip, possibly several members back to back as RFC 1952 allows, or
    deflate) undone a piece at a time; zlib releases the GIL while it works."""

    __slots__ = ("_coding", "_head", "_limit", "_made", "_received", "_wbits", "_zlib")

    def __init__(self, coding: str, limit: int) -> None:
        if coding in ("gzip", "x-gzip"):
            wbits: int | None = _GZIP_WBITS
        elif coding == "deflate":
            wbits = None  # zlib-wrapped or raw: told by its first two bytes
        else:
            raise TransientError(
                f"malformed response body (content-encoding {coding!r} not asked for)",
                reason="BAD_BODY",
            )
        self._coding = coding
        self._wbits = wbits
        self._zlib: Any = None  # a zlib decompressor, once the stream has begun
        self._head = b""
        self._limit = limit
        self._made = 0
        self._received = 0

    def push(self, data: bytes) -> bytes:
        """Inflate ``data``; what it makes, never past the limit."""
        self._received += len(data)
        if self._zlib is None:
            data = self._head + data
            if self._wbits is None:
                if len(data) < 2:
                    self._head = data
                    return b""
                # RFC 9110 says zlib-wrapped; some servers send raw deflate (as httpx2 allows).
                self._wbits = _ZLIB_WBITS if _has_zlib_header(data) else _RAW_DEFLATE_WBITS
            self._head = b""
            self._zlib = zlib.decompressobj(self._wbits)
        made: list[bytes] = []
        try:
            while data:
                if self._zlib.eof:
                    if self._wbits != _GZIP_WBITS:
                        raise TransientError(
                            f"malformed response body (bytes after the {self._coding} stream)",
                            reason="BAD_BODY",
                        )
                    self._zlib = zlib.decompressobj(_GZIP_WBITS)  # the next member
                piece = self._zlib.decompress(data, self._limit - self._made + 1)
                self._made += len(piece)
                if self._made > self._limit:
                    raise _too_large(self._limit, "once inflated")
                made.append(piece)
                # Past the end: the rest; stopped at max_length: never (that raised above).
                data = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise TransientError(
                f"malformed response body (corrupt {self._coding} stream: {exc})",
                reason="BAD_BODY",
            ) from None
        return b"".join(made)

    def finish(self) -> None:
        if self._zlib is None or not self._zlib.eof:
            raise TransientError(
                f"malformed response body ({self._coding} stream cut short, "
                f"{self._received} bytes received)",
                reason="BAD_BODY",
            )


def _has_zlib_header(data: bytes) -> bool:
    """RFC 1950: method 8 (deflate) in the low nibble, and the two bytes a multiple of 31."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
