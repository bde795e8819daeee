"""A hostile Batch API on loopback: a small HTTP server of the tests' own, not the emulator.

It answers what a run of ``--batch-api`` asks (the create, a look at the batch, the list,
the results file; a standard run's ``generateContent`` gets an image) the way a hostile
or broken endpoint might: a batch or file name of any shape (a newline, a path, the
caller's key), per-request errors that echo the key however a test spells it, and a
results file sent at once, far too big, or a byte at a time for as long as the client
listens. Everything else about the answers is well formed, so what a test sees is the
client's handling of that one thing.

The slow drip is the server's own pace (it waits between bytes, in its thread); the test
never waits on a clock: it sets the engine's deadline tiny, through ``time_scale``, and
asserts on what the run says, never on how long it took.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from PIL import Image

# The results file's name when a test does not choose one: the documented shape.
RESULTS_FILE = "files/results-0001"


def png() -> str:
    """A tiny image, base64, as an answer carries it."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 40, 40)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Hostility:
    """What the service answers.

    Attributes:
        name: the batch's name, as the create, a look and the list give it.
        results_file: the results file the finished batch names; ``""``: answers inline.
        errors: per request key (``slide-2``), the error object its response carries.
        results: how the results file is sent: ``lines`` (its JSONL, at once), ``flood``
            (``flood_bytes`` of one endless line, as fast as it goes), ``drip`` (one byte
            every ``drip_interval`` seconds until the client hangs up, or ``drip_bytes``
            are sent: a client with no deadline then reads them whole, and says so).
    """

    name: str = "batches/hostile0001"
    results_file: str = ""
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: str = "lines"
    flood_bytes: int = 0
    drip_interval: float = 0.01
    drip_bytes: int = 500


class HostileService:
    """The server's state: what it was asked, and what it answers (:class:`Hostility`)."""

    def __init__(self, hostility: Hostility) -> None:
        self.hostility = hostility
        self.keys: list[str] = []
        self.display_name = ""
        self.calls: list[str] = []
        self.hung_up = threading.Event()  # the client closed the results download
        self._lock = threading.Lock()

    def operation(self, *, done: bool) -> dict[str, Any]:
        h = self.hostility
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": "models/gemini-3-pro-image",
            "displayName": self.display_name,
            "name": h.name,
            "state": "BATCH_STATE_SUCCEEDED" if done else "BATCH_STATE_PENDING",
            "batchStats": {"requestCount": str(len(self.keys))},
        }
        op: dict[str, Any] = {"name": h.name, "metadata": meta, "done": done}
        if done:
            if h.results_file:
                output: dict[str, Any] = {"responsesFile": h.results_file}
            else:
                inlined = [{**self.response(k), "metadata": {"key": k}} for k in self.keys]
                output = {"inlinedResponses": {"inlinedResponses": inlined}}
            meta["output"] = output
            op["response"] = {"@type": meta["@type"], **output}
        return op

    def response(self, key: str) -> dict[str, Any]:
        if key in self.hostility.errors:
            return {"error": self.hostility.errors[key]}
        part = {"inlineData": {"mimeType": "image/png", "data": png()}}
        return {
            "response": {
                "candidates": [{"content": {"parts": [part]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 1120},
            }
        }

    def lines(self) -> bytes:
        return b"".join(orjson.dumps({"key": k, **self.response(k)}) + b"\n" for k in self.keys)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        with self._lock:
            self.calls.append(f"{handler.command} {path}")
        if handler.command == "POST" and path.endswith(":batchGenerateContent"):
            length = int(handler.headers.get("content-length") or 0)
            body = orjson.loads(handler.rfile.read(length))["batch"]
            self.display_name = body["displayName"]
            requests = body["inputConfig"]["requests"]["requests"]
            self.keys = [r["metadata"]["key"] for r in requests]
            _json(handler, self.operation(done=False))
        elif handler.command == "POST" and path.endswith(":generateContent"):
            handler.rfile.read(int(handler.headers.get("content-length") or 0))
            _json(handler, self.response("")["response"])  # a standard run's slide: an image
        elif handler.command == "GET" and path in ("/v1beta/batches", "/v1/batches"):
            _json(handler, {"batches": [self.operation(done=True)["metadata"]]})
        elif handler.command == "GET" and path.startswith("/download/"):
            self._results(handler)
        elif handler.command == "GET" and "/batches/" in path:
            _json(handler, self.operation(done=True))
        else:
            _json(
                handler, {"error": {"code": 404, "message": "not here", "status": "NOT_FOUND"}}, 404
            )

    def _results(self, handler: BaseHTTPRequestHandler) -> None:
        h = self.hostility
        handler.send_response(200)
        handler.send_header("content-type", "application/octet-stream")
        handler.send_header("connection", "close")
        data = self.lines() if h.results == "lines" else b""
        if h.results == "lines":
            handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        try:
            if h.results == "lines":
                handler.wfile.write(data)
            elif h.results == "flood":
                chunk = b"x" * 2**16
                for _ in range(0, h.flood_bytes, len(chunk)):
                    handler.wfile.write(chunk)
            else:  # drip: a byte at a time, for as long as the client listens
                for _ in range(h.drip_bytes):
                    if self.hung_up.wait(h.drip_interval):
                        break
                    handler.wfile.write(b"{")
                    handler.wfile.flush()
        except OSError:
            self.hung_up.set()  # the client hung up: what a deadline or a cap does


def _json(handler: BaseHTTPRequestHandler, data: dict[str, Any], status: int = 200) -> None:
    body = orjson.dumps(data)
    handler.send_response(status)
    handler.send_header("content-type", "application/json; charset=UTF-8")
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serving(hostility: Hostility) -> Iterator[tuple[HostileService, str]]:
    """Serve a :class:`HostileService` on a free loopback port; its state and base URL."""
    service = HostileService(hostility)
    handle: Callable[[BaseHTTPRequestHandler], None] = service.handle

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            handle(self)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads what it needs from the service's state

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hostile-service", daemon=True)
    thread.start()
    try:
        yield service, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        service.hung_up.set()  # a drip still going ends
        server.shutdown()
        server.server_close()
