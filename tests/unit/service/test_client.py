"""The HTTP client against the emulator: what a request carries, and every way an answer arrives.

The emulator gzips its answers when asked, as the real service does. The codings it never
sends (deflate, several gzip members, stacked codings) and the broken streams (cut short,
corrupt, with bytes after the end) come from :class:`RecodingEmulator`: the real emulator
whose answer is un-gzipped on its way out and re-encoded by a test's function. Tests mount it
in-process through ``httpx2.ASGITransport``, or serve it on loopback where the transport
itself matters (a timeout, a dropped connection, a chunked body cut short).
"""

from __future__ import annotations

import contextlib
import gzip
import re
import socket
import threading
import zlib
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import ExitStack
from typing import Any

import httpx2
import orjson
import pytest

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.errors import (
    InvalidApiKey,
    NoImageReturned,
    RateLimited,
    TransientError,
    UnusableAnswer,
)
from nanobanana_async.service.client import ACCEPT_ENCODING, GeminiClient
from nanobanana_async.service.protocol import GeneratedImage, build_request, parse_success

KEY = "plain-secret-for-client-tests-7c1d"
MODEL = "gemini-3-pro-image"
BODY = build_request("Slide 1: The plan. Three steps to ship.", model=MODEL, image_size="1K")

Scope = MutableMapping[str, Any]
# (status, plain body) -> (body as sent, Content-Encoding header values)
Recode = Callable[[int, bytes], tuple[bytes, list[str]]]


class RecodingEmulator(Emulator):
    """The emulator, with its answers re-encoded by ``recode`` (``None``: sent untouched).

    Attributes:
        request_headers: the headers of every request, lower-cased names.
        request_targets: the path and query string of every request.
        sent_codings: the ``Content-Encoding`` the emulator itself chose for every answer.
        plain: every answer's body as the emulator meant it, un-gzipped.
    """

    def __init__(self, recode: Recode | None = None, **settings: Any) -> None:
        settings.setdefault("latency", False)
        settings.setdefault("signature_bytes", 0)
        super().__init__(EmulatorSettings(**settings))
        self.recode = recode
        self.request_headers: list[dict[str, str]] = []
        self.request_targets: list[str] = []
        self.sent_codings: list[str] = []
        self.plain: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        self.request_headers.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        self.request_targets.append(f"{scope['path']}?{scope['query_string'].decode()}")
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def recoding_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                codings = [v.decode() for k, v in message["headers"] if k == b"content-encoding"]
                self.sent_codings.append(", ".join(codings) or "identity")
                if self.recode is None:
                    await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                gzipped = self.sent_codings[-1] == "gzip"
                self.plain.append(gzip.decompress(body) if gzipped else body)
            if self.recode is None:
                await send(message)  # after recording: the client may look at once
                return
            if message.get("more_body", False):
                return
            wire, codings = self.recode(start["status"], self.plain[-1])
            headers = [(k, v) for k, v in start["headers"] if k != b"content-encoding"]
            headers += [(b"content-encoding", c.encode()) for c in codings]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": wire, "more_body": False})

        await super().__call__(scope, receive, recoding_send)


def _client(emulator: Emulator, **options: Any) -> GeminiClient:
    transport = httpx2.ASGITransport(app=emulator)
    return GeminiClient(api_key=KEY, base_url="http://emulator", transport=transport, **options)


async def _generate(emulator: Emulator) -> GeneratedImage:
    async with _client(emulator) as client:
        return await client.generate(MODEL, BODY)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


async def test_a_request_asks_for_gzip_or_deflate_and_sends_the_key_in_a_header() -> None:
    emulator = RecodingEmulator()
    async with _client(emulator) as client:
        await client.generate(MODEL, BODY)
        assert client.requests_sent == 1
    (headers,) = emulator.request_headers
    assert headers["accept-encoding"] == ACCEPT_ENCODING == "gzip, deflate"
    assert headers["x-goog-api-key"] == KEY
    assert KEY not in emulator.request_targets[0]
    assert emulator.sent_codings == ["gzip"]


async def test_the_gzipped_answer_of_the_emulator_gives_exactly_the_image_it_meant() -> None:
    emulator = RecodingEmulator(signature_bytes=300_000)  # a Gemini 3 answer, in miniature
    image = await _generate(emulator)
    assert emulator.sent_codings == ["gzip"]
    (plain,) = emulator.plain
    assert len(plain) > 300_000
    assert image == parse_success(plain)
    assert image.data[:3] == b"\xff\xd8\xff"  # a JPEG


@pytest.mark.parametrize(
    "recode",
    [
        pytest.param(lambda _, plain: (plain, []), id="no content-encoding"),
        pytest.param(lambda _, plain: (plain, ["identity"]), id="identity"),
        pytest.param(lambda _, plain: (_gzip(plain), ["GZIP"]), id="gzip upper-case"),
        pytest.param(lambda _, plain: (_gzip(plain), ["x-gzip"]), id="x-gzip"),
        pytest.param(lambda _, plain: (zlib.compress(plain), ["deflate"]), id="deflate zlib"),
        pytest.param(lambda _, plain: (_raw_deflate(plain), ["deflate"]), id="deflate raw"),
        pytest.param(
            lambda _, plain: (_gzip(plain[:1000]) + _gzip(plain[1000:]), ["gzip"]),
            id="gzip in two members",
        ),
        pytest.param(
            lambda _, plain: (_gzip(zlib.compress(plain)), ["deflate, gzip"]),
            id="deflate then gzip",
        ),
        pytest.param(
            lambda _, plain: (_gzip(zlib.compress(plain)), ["deflate", "gzip"]),
            id="deflate then gzip in two headers",
        ),
        pytest.param(lambda _, plain: (_gzip(plain), ["gzip", "identity"]), id="gzip, identity"),
    ],
)
async def test_every_coding_asked_for_decodes_to_the_same_image(recode: Recode) -> None:
    emulator = RecodingEmulator(recode)
    image = await _generate(emulator)
    assert image == parse_success(emulator.plain[0])


@pytest.mark.parametrize(
    ("recode", "says"),
    [
        pytest.param(
            lambda _, p: (_gzip(p)[: len(_gzip(p)) // 2], ["gzip"]), "cut short", id="cut"
        ),
        pytest.param(lambda _, p: (_gzip(p)[:-8], ["gzip"]), "cut short", id="no gzip trailer"),
        pytest.param(lambda _, p: (_flip_middle_byte(_gzip(p)), ["gzip"]), "corrupt", id="corrupt"),
        pytest.param(lambda _, p: (_gzip(p) + b"junk", ["gzip"]), "corrupt", id="bytes after"),
        pytest.param(lambda _, p: (b"", ["gzip"]), "cut short", id="empty gzip"),
        pytest.param(lambda _, p: (b"not gzip at all", ["gzip"]), "corrupt", id="not gzip"),
        pytest.param(
            lambda _, p: (zlib.compress(p)[:-100], ["deflate"]), "cut short", id="deflate cut"
        ),
        pytest.param(lambda _, p: (p, ["br"]), "'br' not asked for", id="br"),
    ],
)
async def test_a_body_that_cannot_be_decoded_is_a_transient_error(
    recode: Recode, says: str
) -> None:
    emulator = RecodingEmulator(recode)
    with pytest.raises(TransientError) as caught:
        await _generate(emulator)
    assert caught.value.reason == "BAD_BODY"
    assert says in caught.value.message


async def test_a_small_gzipped_answer_without_an_image_is_classified() -> None:
    emulator = RecodingEmulator()
    emulator.script({1: "no-image"})
    with pytest.raises(NoImageReturned):
        await _generate(emulator)
    assert emulator.sent_codings == ["gzip"]
    assert len(emulator.plain[0]) < 64 * 1024  # decoded on the loop, not in a thread


@pytest.mark.parametrize(
    ("fault", "error_type"), [("429", RateLimited), ("invalid-key", InvalidApiKey)]
)
async def test_a_gzipped_error_answer_is_classified(
    fault: str, error_type: type[Exception]
) -> None:
    emulator = RecodingEmulator()
    emulator.script({1: fault})
    with pytest.raises(error_type) as caught:
        await _generate(emulator)
    assert emulator.sent_codings == ["gzip"]
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_delay is not None  # read from the gzipped body


async def test_an_error_body_that_cannot_be_decoded_is_classified_by_its_status() -> None:
    emulator = RecodingEmulator(lambda _, plain: (_gzip(plain)[:20], ["gzip"]))
    emulator.script({1: "503"})
    with pytest.raises(TransientError) as caught:
        await _generate(emulator)
    assert caught.value.status == 503


async def test_the_key_is_scrubbed_from_a_gzipped_error_message() -> None:
    echo = {"error": {"code": 400, "message": f"API key not valid: {KEY}", "status": "X"}}
    emulator = RecodingEmulator(lambda _, plain: (_gzip(orjson.dumps(echo)), ["gzip"]))
    emulator.script({1: "invalid-key"})
    with pytest.raises(InvalidApiKey) as caught:
        await _generate(emulator)
    assert "API key not valid: ***" in caught.value.message
    assert KEY not in str(caught.value)


@pytest.fixture
def serve() -> Iterator[Callable[[RecodingEmulator], str]]:
    """Serve emulators on loopback for the test: ``serve(emulator)`` returns its base URL."""
    with ExitStack() as stack:
        yield lambda emulator: stack.enter_context(serve_in_thread(emulator))


async def test_over_http_a_big_gzipped_answer_gives_exactly_the_image_it_meant(
    serve: Callable[[RecodingEmulator], str],
) -> None:
    emulator = RecodingEmulator(signature_bytes=1_000_000)
    async with GeminiClient(api_key=KEY, base_url=serve(emulator)) as client:
        image = await client.generate(MODEL, BODY)
    assert emulator.sent_codings == ["gzip"]
    assert image == parse_success(emulator.plain[0])


async def test_over_http_a_gzip_stream_cut_short_is_a_transient_error(
    serve: Callable[[RecodingEmulator], str],
) -> None:
    # The HTTP framing is whole (a complete chunked body): only the gzip stream is cut.
    emulator = RecodingEmulator(lambda _, plain: (_gzip(plain)[:-1000], ["gzip"]))
    async with GeminiClient(api_key=KEY, base_url=serve(emulator)) as client:
        with pytest.raises(TransientError) as caught:
            await client.generate(MODEL, BODY)
    assert caught.value.reason == "BAD_BODY"


# The silent answer stalls 600 s; the deadline also bounds the recovery's request, which
# under a loaded suite once took more than 0.2 s to draw and send (a flaky failure).
@pytest.mark.parametrize(
    ("fault", "reason", "read_timeout"), [("drop", "CONNECTION", 10.0), ("slow", "TIMEOUT", 2.0)]
)
async def test_over_http_a_dropped_or_silent_connection_is_a_transient_error(
    serve: Callable[[RecodingEmulator], str], fault: str, reason: str, read_timeout: float
) -> None:
    emulator = RecodingEmulator()
    emulator.script({1: fault})
    async with GeminiClient(api_key=KEY, base_url=serve(emulator), timeout=read_timeout) as client:
        with pytest.raises(TransientError) as caught:
            await client.generate(MODEL, BODY)
        image = await client.generate(MODEL, BODY)  # the pool recovers
        assert client.requests_sent == 2
    assert caught.value.reason == reason
    assert KEY not in str(caught.value)
    assert image == parse_success(emulator.plain[-1])


# What the emulator never sends: a body trickled a byte at a time, answers over the cap,
# a gzip bomb. A raw loopback server writes them, and counts what it wrote.

_SMALL_BUFFER = 16 * 1024  # socket buffers: what the kernel holds for a client that stopped
_MIB = 1024 * 1024


class _RawServer:
    """A loopback HTTP/1.1 server that answers one request with ``head`` and ``pieces``.

    Attributes:
        url: its base URL.
        sent: once the answer is over, the body bytes written before it ended.
        hung_up: once the answer is over, whether the client closed the connection first.
    """

    def __init__(self, head: bytes, pieces: Iterator[bytes], *, interval: float = 0.0) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SMALL_BUFFER)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._head, self._pieces, self._interval = head, pieces, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.sent = 0
        self.hung_up: bool | None = None

    def __enter__(self) -> _RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a waiting accept()
        self._listener.close()
        self._thread.join(timeout=5)

    def finished(self) -> bool:
        """Wait (a little) for the answer to end: a client that keeps the line open fails."""
        self._thread.join(timeout=5)
        return not self._thread.is_alive()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            declared = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            length = int(declared[1]) if declared else 0
            while len(body) < length:
                body += connection.recv(65536)
            try:
                connection.sendall(self._head)
                for piece in self._pieces:
                    connection.sendall(piece)
                    self.sent += len(piece)
                    if self._interval and self._stop.wait(self._interval):
                        break
            except OSError:
                self.hung_up = True
            else:
                self.hung_up = False


def _head(*headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "content-type: application/json; charset=UTF-8", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)


def _small_buffer_client(url: str, **options: Any) -> GeminiClient:
    """A client whose socket holds little unread, so what the server wrote shows what was read."""
    option = (socket.SOL_SOCKET, socket.SO_RCVBUF, _SMALL_BUFFER)
    transport = httpx2.AsyncHTTPTransport(socket_options=[option])
    return GeminiClient(api_key=KEY, base_url=url, transport=transport, **options)


async def test_an_answer_trickled_past_the_deadline_is_a_timeout() -> None:
    # One byte every 0.05 s: never silent for a read timeout's length, whole only after 3 s.
    body = b'{"candidates": []}'.ljust(60)
    head = _head(f"content-length: {len(body)}")
    trickle = (body[i : i + 1] for i in range(len(body)))
    with _RawServer(head, trickle, interval=0.05) as server:
        async with GeminiClient(api_key=KEY, base_url=server.url, timeout=0.3) as client:
            with pytest.raises(TransientError) as caught:
                await client.generate(MODEL, BODY)
    assert caught.value.reason == "TIMEOUT"
    assert "0.3" in caught.value.message
    assert server.sent < len(body)


async def test_a_plain_answer_over_the_cap_stops_the_read_and_the_connection() -> None:
    total = 32 * _MIB
    pieces = _chunked(b" " * 65536 for _ in range(total // 65536))
    with _RawServer(_head("transfer-encoding: chunked"), pieces) as server:
        async with _small_buffer_client(server.url, max_answer_bytes=_MIB) as client:
            with pytest.raises(UnusableAnswer) as caught:
                await client.generate(MODEL, BODY)
        assert server.finished()
    assert caught.value.reason == "TOO_LARGE"
    assert "1 MiB" in caught.value.message
    assert server.hung_up
    assert server.sent < 4 * _MIB  # the cap, plus what the two socket buffers held


def _gzip_bomb(blocks: int) -> Iterator[bytes]:
    """A gzip stream of ``blocks`` MiB of zeros, about 1 KiB each on the wire, never ended.

    A full flush empties the compressor's history, so the second block, repeated, is valid.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(_MIB)
    yield compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    for _ in range(blocks - 1):
        yield block


async def test_a_gzip_bomb_stops_at_the_decoded_cap_without_reading_it_all() -> None:
    bomb = list(_gzip_bomb(1024))  # 1 GiB inflated, 1 MiB on the wire
    total = sum(map(len, bomb))
    head = _head("content-encoding: gzip", "transfer-encoding: chunked")
    with _RawServer(head, _chunked(iter(bomb))) as server:
        async with _small_buffer_client(server.url, max_answer_bytes=4 * _MIB) as client:
            with pytest.raises(UnusableAnswer) as caught:
                await client.generate(MODEL, BODY)
        assert server.finished()
    assert caught.value.reason == "TOO_LARGE"
    assert "4 MiB" in caught.value.message
    assert server.hung_up
    assert server.sent < total // 4


@pytest.mark.parametrize("coding", ["identity", "gzip"])
async def test_an_answer_exactly_at_the_cap_is_read_and_one_byte_more_is_not(coding: str) -> None:
    answer = b""  # the first answer, sent again every time

    def recode(_: int, plain: bytes) -> tuple[bytes, list[str]]:
        nonlocal answer
        answer = answer or plain
        return (_gzip(answer), ["gzip"]) if coding == "gzip" else (answer, [])

    emulator = RecodingEmulator(recode, signature_bytes=200_000)
    image = await _generate(emulator)
    size = len(answer)
    async with _client(emulator, max_answer_bytes=size) as client:
        assert await client.generate(MODEL, BODY) == image
    async with _client(emulator, max_answer_bytes=size - 1) as client:
        with pytest.raises(UnusableAnswer) as caught:
            await client.generate(MODEL, BODY)
    assert caught.value.reason == "TOO_LARGE"
    assert caught.value.status == 200


async def test_an_error_answer_over_the_cap_is_classified_by_its_status() -> None:
    emulator = RecodingEmulator(lambda _, plain: (plain + b" " * (2 * _MIB), []))
    emulator.script({1: "503"})
    async with _client(emulator, max_answer_bytes=_MIB) as client:
        with pytest.raises(TransientError) as caught:
            await client.generate(MODEL, BODY)
    assert caught.value.status == 503


async def test_an_answer_declaring_a_length_over_the_cap_is_not_read() -> None:
    async def declared(scope: Scope, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % (2 * _MIB))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    transport = httpx2.ASGITransport(app=declared)
    options: dict[str, Any] = {"transport": transport, "max_answer_bytes": _MIB}
    async with GeminiClient(api_key=KEY, base_url="http://emulator", **options) as client:
        with pytest.raises(UnusableAnswer) as caught:
            await client.generate(MODEL, BODY)
    assert caught.value.reason == "TOO_LARGE"


@pytest.mark.parametrize("cap", [0, -1])
def test_the_cap_must_be_positive(cap: int) -> None:
    with pytest.raises(ValueError, match="max_answer_bytes"):
        GeminiClient(api_key=KEY, max_answer_bytes=cap)


async def test_nothing_is_sent_to_another_users_port_of_this_machine() -> None:
    from other_user import NOBODY, listening_as_nobody

    from nanobanana_async.errors import EndpointRefused

    with listening_as_nobody() as listener:
        async with GeminiClient(api_key=KEY, base_url=listener.url, timeout=30) as client:
            with pytest.raises(EndpointRefused) as refused:
                await client.generate(MODEL, BODY)
            with pytest.raises(EndpointRefused):
                await client.download("/download/v1beta/files/x", print, limit=1, deadline=30)
            assert client.requests_sent == 0
    assert f"(uid {NOBODY})" in str(refused.value)
    assert KEY not in str(refused.value)
    assert listener.received == []  # not a connection, let alone the key
