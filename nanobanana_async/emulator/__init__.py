"""A faithful stand-in for the Gemini image API, for tests, demos and benchmarks.

The official ``google-genai`` SDK pointed at it (``GOOGLE_GEMINI_BASE_URL``) should not
tell it from the real service on the calls this project makes: same paths, enums, pixel
sizes, MIME types, token counts, error bodies, quota answers and latencies (see
``shared/gemini-protocol.md``). On top, it injects failures on demand and reports what it
saw under ``/_emulator/``, a prefix the real API does not use.

Mount it in-process::

    emu = Emulator(EmulatorSettings(latency=False))
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emu), base_url="http://e")

or serve it on loopback::

    with serve_in_thread(EmulatorSettings(rpm=20, time_scale=0.01)) as base_url:
        ...

Modules: :mod:`.catalog` (models), :mod:`.validation` (requests), :mod:`.quotas`,
:mod:`.faults`, :mod:`.generation` (deciding and building answers), :mod:`.render`
(slide images), :mod:`.success_bodies` and :mod:`.error_bodies` (JSON shapes),
:mod:`.compression` (gzip), :mod:`.stats`, :mod:`.asgi`, :mod:`.app`, :mod:`.server`.
"""

from __future__ import annotations

from .app import Emulator, RequestLog
from .asgi import ConnectionDropped
from .catalog import MODELS, ModelSpec
from .faults import DEFAULT_FAIL_KINDS, FAULT_KINDS
from .server import serve_in_thread
from .settings import EmulatorSettings

__all__ = [
    "DEFAULT_FAIL_KINDS",
    "FAULT_KINDS",
    "MODELS",
    "ConnectionDropped",
    "Emulator",
    "EmulatorSettings",
    "ModelSpec",
    "RequestLog",
    "serve_in_thread",
]
