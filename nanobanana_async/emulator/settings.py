"""How one emulator behaves: quotas, latency, failures, answer shape, and its clock.

Every delay the emulator applies goes through the injected ``clock`` and ``sleep``, and is
multiplied by ``time_scale``: latency, the quota windows (60 s and 86400 s) and therefore
the retry delays they announce. A test sets ``latency=False`` and a fake clock and never
waits; a demo sets ``time_scale=0.01`` and plays a realistic run in seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from .faults import DEFAULT_FAIL_KINDS, parse_kinds

__all__ = ["EmulatorSettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorSettings:
    """Settings of one :class:`~nanobanana_async.emulator.Emulator`.

    Attributes:
        rpm: requests per minute allowed per key and model (``None``: no limit).
        rpd: requests per day allowed per key and model.
        max_concurrent: generations in progress allowed per key and model.
        keys: the only keys accepted; any other gets 400 ``API_KEY_INVALID``.
            ``None`` accepts any non-empty key.
        free_tier: answer every request with the free tier's ``limit: 0`` 429, which no
            amount of waiting clears.
        time_scale: multiplies every latency, quota window and retry delay.
        latency: ``False`` answers at once (the ``slow`` fault still hangs).
        fail_rate: probability that an admitted request gets a fault from ``fail_kinds``.
        fail_kinds: the fault kinds the rate picks from (see :mod:`.faults`).
        seed: seeds the one random generator behind jitter, faults and ids.
        thought_images: Gemini 3 answers start with one or two ``"thought": true`` images.
        text_part: add a short text part when the request allows TEXT.
        signature_bytes: base64 length of each ``thoughtSignature`` on Gemini 3 answers;
            ``None`` uses the model's realistic default, 0 sends none.
        clock: seconds, monotonic; read for arrival times and quota windows.
        sleep: awaited for every latency; a test can make it return at once.
    """

    rpm: int | None = None
    rpd: int | None = None
    max_concurrent: int | None = None
    keys: frozenset[str] | None = None
    free_tier: bool = False
    time_scale: float = 1.0
    latency: bool = True
    fail_rate: float = 0.0
    fail_kinds: tuple[str, ...] = DEFAULT_FAIL_KINDS
    seed: int = 0
    thought_images: bool = False
    text_part: bool = True
    signature_bytes: int | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def __post_init__(self) -> None:
        for name in ("rpm", "rpd", "max_concurrent"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, not {value!r}")
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be positive, not {self.time_scale!r}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, not {self.fail_rate!r}")
        if self.signature_bytes is not None and self.signature_bytes < 0:
            raise ValueError("signature_bytes must be 0 or more")
        object.__setattr__(self, "fail_kinds", parse_kinds(self.fail_kinds))
        if self.keys is not None:
            keys: Iterable[str] = self.keys
            object.__setattr__(self, "keys", frozenset(k for k in keys if k))
