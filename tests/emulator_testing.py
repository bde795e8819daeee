"""Helpers shared by the emulator's tests: a fake clock, a gated sleep, a client, requests.

Tests talk to the emulator over HTTP (in-process through ``httpx2.ASGITransport``, or over
loopback with ``serve_in_thread``) and read its answers with the client's own parser,
:mod:`nanobanana_async.service.protocol`, so the emulator cannot drift from what the client reads.

The conformance tests read answers on file from two sources, through :func:`wire_cases`: our
own fixtures (``tests/fixtures/wire``, written from the documented format, always there), and
the real recordings other projects made (``shared/fixtures/gemini-recorded`` beside the repo,
or ``$NANOBANANA_RECORDED_FIXTURES``), which a clone does not have. The recorded cases are an
extra cross-check, collected only when the folder is there; when it is not, the one test
``test_recorded_fixtures_cross_check`` says so, instead of every recorded case skipping.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import selectors
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from PIL import Image

from nanobanana_async.emulator import Emulator
from nanobanana_async.service import protocol

OWN_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "wire"
RECORDED_FIXTURES = Path(
    os.environ.get("NANOBANANA_RECORDED_FIXTURES")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "gemini-recorded"
)
RECORDED_MISSING = (
    f"recorded fixtures not found at {RECORDED_FIXTURES}: the cross-check against real "
    "recordings is skipped (our own fixtures ran)"
)
KEY = "AIzaTEST-key-for-the-emulator-000000000"
PRO = "gemini-3-pro-image"
FLASH31 = "gemini-3.1-flash-image"
FLASH25 = "gemini-2.5-flash-image"


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class GatedSleep:
    """An injectable ``sleep`` that records each wait and returns only when opened."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._gate: asyncio.Event | None = None
        self._arrived: asyncio.Event | None = None

    def _events(self) -> tuple[asyncio.Event, asyncio.Event]:
        if self._gate is None or self._arrived is None:
            self._gate, self._arrived = asyncio.Event(), asyncio.Event()
        return self._gate, self._arrived

    async def __call__(self, seconds: float) -> None:
        gate, arrived = self._events()
        self.waits.append(seconds)
        arrived.set()
        await gate.wait()

    async def sleepers(self, count: int) -> list[float]:
        """Wait until ``count`` sleeps have started; their durations."""
        _, arrived = self._events()
        while len(self.waits) < count:
            arrived.clear()
            await arrived.wait()
        return self.waits

    def open(self) -> None:
        self._events()[0].set()


async def no_sleep(seconds: float) -> None:
    """An injectable ``sleep`` that only yields to the loop."""
    await asyncio.sleep(0)


def first_line(process: subprocess.Popen[str], seconds: float = 30.0) -> str:
    """The first line a started ``nanobanana emulate`` prints (its URL), waiting at most
    ``seconds`` for it."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            raise AssertionError("the emulator printed nothing")
    return process.stdout.readline()


def client_for(emulator: Emulator) -> httpx2.AsyncClient:
    """An HTTP client talking to ``emulator`` in-process."""
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emulator), base_url="http://emulator", timeout=None
    )


def request_body(
    prompt: str = "Slide 1: The plan. Three steps to ship the product.",
    *,
    model: str = PRO,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
) -> dict[str, Any]:
    """A request body as the client builds it."""
    return protocol.build_request(
        prompt, model=model, aspect_ratio=aspect_ratio, image_size=image_size
    )


def png(colour: tuple[int, int, int] = (200, 40, 30), size: int = 8) -> bytes:
    """A small PNG of one colour, to send as a reference image."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


def with_images(body: dict[str, Any], *images: bytes) -> dict[str, Any]:
    """``body`` with each PNG of ``images`` appended to its first content as ``inlineData``."""
    for data in images:
        inline = {"mimeType": "image/png", "data": base64.b64encode(data).decode()}
        body["contents"][0]["parts"].append({"inlineData": inline})
    return body


async def call(
    client: httpx2.AsyncClient,
    verb: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = KEY,
    **options: Any,
) -> httpx2.Response:
    """Any API method, with the key in its header as the SDKs send it."""
    headers = dict(options.pop("headers", {}))
    if key is not None:
        headers["x-goog-api-key"] = key
    content = orjson.dumps(body) if body is not None else None
    return await client.request(verb, path, content=content, headers=headers, **options)


def batch_body(
    prompts: Iterable[str], *, display_name: str = "deck", model: str = PRO
) -> dict[str, Any]:
    """A ``batchGenerateContent`` body of inline requests keyed ``slide-1``, ``slide-2``..."""
    requests = [
        {"request": request_body(prompt, model=model), "metadata": {"key": f"slide-{n}"}}
        for n, prompt in enumerate(prompts, 1)
    ]
    return {
        "batch": {"displayName": display_name, "inputConfig": {"requests": {"requests": requests}}}
    }


async def create_batch(
    client: httpx2.AsyncClient,
    body: dict[str, Any] | None = None,
    *,
    model: str = PRO,
    key: str | None = KEY,
) -> httpx2.Response:
    """POST one ``batchGenerateContent`` (three slides, when no body is given)."""
    if body is None:
        body = batch_body(["Slide 1: Plan.", "Slide 2: Team.", "Slide 3: Roadmap."], model=model)
    return await call(client, "POST", f"/v1beta/models/{model}:batchGenerateContent", body, key=key)


async def generate(
    client: httpx2.AsyncClient,
    body: dict[str, Any] | bytes | None = None,
    *,
    model: str = PRO,
    key: str | None = KEY,
    version: str = "v1beta",
    **request: Any,
) -> httpx2.Response:
    """POST one ``generateContent`` request (``request`` feeds :func:`request_body`)."""
    if body is None:
        body = request_body(model=model, **request)
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["x-goog-api-key"] = key
    return await client.post(
        f"/{version}/models/{model}:generateContent", content=content, headers=headers
    )


@dataclass(frozen=True, slots=True)
class Wire:
    """One answer on file: one of our own fixtures, or a real recording.

    Both are ``{"request"?: {..., "body"}, "response": {"status", "headers"?, "body"}}``.
    """

    name: str
    recorded: bool = False

    @property
    def path(self) -> Path:
        folder = RECORDED_FIXTURES if self.recorded else OWN_FIXTURES
        return folder / f"{self.name}.json"

    def load(self) -> dict[str, Any]:
        """The whole file (read afresh, so a test may change what it gets)."""
        loaded: dict[str, Any] = orjson.loads(self.path.read_bytes())
        return loaded

    def response(self) -> dict[str, Any]:
        response: dict[str, Any] = self.load()["response"]
        return response


RECORDED_NAMES: set[str] = set()
"""Every recording a collected test reads (``test_recorded_fixtures_cross_check`` checks them)."""


def wire_cases(
    own: Iterable[tuple[Any, ...]], recorded: Iterable[tuple[Any, ...]] = ()
) -> list[Any]:
    """Parameters for a conformance test: our fixtures, then the recordings when present.

    Each case is ``(file name without .json, *expectations)``; the test receives a
    :class:`Wire`, then the expectations. Ids read ``own-<name>`` and ``recorded-<name>``.
    """
    cases = [pytest.param(Wire(name), *rest, id=f"own-{name}") for name, *rest in own]
    recorded = list(recorded)
    RECORDED_NAMES.update(name for name, *_ in recorded)
    if RECORDED_FIXTURES.is_dir():
        cases += [
            pytest.param(Wire(name, recorded=True), *rest, id=f"recorded-{name}")
            for name, *rest in recorded
        ]
    return cases


def error_of(response: httpx2.Response) -> dict[str, Any]:
    """The ``error`` object of an error answer."""
    error: dict[str, Any] = response.json()["error"]
    return error
