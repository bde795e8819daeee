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

Quotas come in the shapes a real project may meet (sliding and fixed windows, token
buckets, of any length), optionally shared with another client, with 429s that state
less than they could, and overload 429s that are about no quota::

    EmulatorSettings(
        quotas=(RateQuota("fixed", 20, 60.0, phase=15.0), RateQuota("bucket", 20, burst=5)),
        other_client=OtherClient(8, 60.0),
        quota_value=False,
        overload_rate=0.05,
    )

:func:`ideal_starts` gives the fastest schedule those quotas allow, for benchmarks.

Modules: :mod:`.catalog` (models), :mod:`.validation` (requests), :mod:`.rates` (quota
specs), :mod:`.windows` (how each shape counts), :mod:`.other_client`, :mod:`.quotas`,
:mod:`.schedule`, :mod:`.faults`, :mod:`.generation` (deciding and building answers),
:mod:`.render` (slide images), :mod:`.success_bodies` and :mod:`.error_bodies` (JSON
shapes), :mod:`.compression` (gzip), :mod:`.stats`, :mod:`.asgi`, :mod:`.app`,
:mod:`.server`.
"""

from __future__ import annotations

from .app import Emulator, RequestLog
from .asgi import ConnectionDropped
from .catalog import MODELS, ModelSpec
from .faults import DEFAULT_FAIL_KINDS, FAULT_KINDS
from .other_client import OtherClient
from .rates import RateQuota
from .schedule import ideal_starts
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
    "OtherClient",
    "RateQuota",
    "RequestLog",
    "ideal_starts",
    "serve_in_thread",
]
