"""A faithful stand-in for the Gemini image API, for tests, the demo and benchmarks.

The official SDKs pointed at it (``GOOGLE_GEMINI_BASE_URL``) should not tell it from the
real service on the calls an image client makes: ``generateContent`` and its stream,
``countTokens``, ``models.list``/``get``, the Batch API and the Files API; same paths,
enums, pixel sizes, MIME types, token counts, error bodies, quota answers and latencies.
A batch's states follow the emulator's clock (:mod:`.batches`). On top, it injects failures,
plays the quota shapes a project may meet (:class:`EmulatorSettings`) and reports what it
saw under ``/_emulator/``, a prefix the real API does not use. Mount :class:`Emulator`
in-process (``httpx2.ASGITransport(app=emu)``) or serve it on loopback
(:func:`serve_in_thread`, ``nanobanana emulate``); :func:`ideal_starts` gives the fastest
schedule those quotas allow; :class:`VirtualTime` runs it and a client on one clock that
jumps, so nothing waits for real. Its modules, and why they are built so: docs/design.md,
"The emulator".
"""

from __future__ import annotations

from .app import Emulator, RequestLog
from .asgi import ConnectionDropped
from .catalog import MODELS, ModelSpec
from .faults import BATCH_FAULT_KINDS, BATCH_OUTCOMES, DEFAULT_FAIL_KINDS, FAULT_KINDS
from .other_client import OtherClient
from .rates import RateQuota
from .schedule import ideal_starts
from .server import serve_in_thread
from .settings import EmulatorSettings
from .virtual_time import VirtualTime

__all__ = [
    "BATCH_FAULT_KINDS",
    "BATCH_OUTCOMES",
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
    "VirtualTime",
    "ideal_starts",
    "serve_in_thread",
]
