"""How one emulator behaves: quotas, latency, failures, answer shape, batches, its clock.

Every delay it applies goes through the injected ``clock`` and ``sleep`` and is multiplied
by ``time_scale`` (latency, quota windows, the other client's pace, and so the delays 429s
announce, and a batch's time in each state): a test sets ``latency=False`` and a fake
clock and never waits; a demo shrinks
time and plays a realistic run in seconds. The quota knobs exist because the real service
documents neither how it counts a window nor that every 429 states its limit and delay, so
a client should be tried against each shape and each silence (docs/design.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from .faults import BATCH_FAULT_KINDS, BATCH_OUTCOMES, DEFAULT_FAIL_KINDS, parse_kinds
from .other_client import OtherClient
from .rates import DAY, RateQuota

__all__ = ["EmulatorSettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorSettings:
    """Settings of one :class:`~nanobanana_async.emulator.Emulator`.

    Attributes:
        rpm: requests per minute allowed per key and model (``None``: no limit); short
            for ``RateQuota("sliding", rpm, 60.0)``.
        rpd: requests per day allowed per key and model; short for a sliding quota of
            86400 s, which a 429 names ``PerDay``.
        quotas: more rate quotas per key and model, of any shape and window; each is
            checked, and the first breached names itself in the 429.
        max_concurrent: generations in progress allowed per key and model.
        other_client: another client on every key, taking its share of every quota.
        quota_value: quota 429s state their limit (``quotaValue``, ``limit: N``).
        retry_info: quota and overload 429s state their delay (``RetryInfo``, "Please
            retry in ..."). Neither switch touches ``free_tier``, whose ``limit: 0`` is
            what tells a client it has no quota at all.
        overload_rate: probability that a request which passed the key, model and body
            checks gets an overload 429 instead: ``RESOURCE_EXHAUSTED`` without any
            ``QuotaFailure``, consuming no quota.
        overload_delay: (low, high) seconds, unscaled, of the ``RetryInfo`` an overload
            429 carries (drawn uniformly; sent only with ``retry_info``).
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
            ``None`` uses the model's realistic default. Every signature holds at least
            the 64-character header the emulator checks (:mod:`.signatures`), so a value
            below 68 (0 included) sends that header alone.
        check_signatures: refuse, as the Developer API does, a Gemini 3 model turn sent
            back with a ``thoughtSignature`` missing or not issued by the emulator for
            that part and model (Vertex does not refuse: turn this off to play it).
        vary_repeats: the k-th identical request (same body, k > 1) is answered with
            ``#k`` on its image, as the real service never draws the same image twice;
            off, identical requests get identical images (a benchmark's cache stays warm).
        batch_latency: seconds (scaled) a batch spends PENDING; it then spends as long again
            RUNNING, plus its generation time when ``latency`` is on (see :mod:`.batches`).
            Batch requests never count against the per-minute or per-day quotas.
        batch_create_hold: seconds (scaled) the answer to a batch create is held once its
            batch is made: a create on the wire, for a test to kill its client then (the
            batch exists; its name reached nobody). The wait ends early if the client leaves.
        batch_outcome: how every batch ends unless the batch script says otherwise:
            ``succeeded``, ``failed`` or ``expired``.
        batch_fail_rate: probability that one request of a batch gets a kind from
            ``batch_fail_kinds`` instead of its image.
        batch_fail_kinds: the kinds that rate picks from (see :data:`.faults.BATCH_FAULT_KINDS`).
        misspell_rate: fraction of the slides whose prompt quotes text that are drawn with
            one typo in it (two letters of a word swapped), picked by a CRC of the seed and
            the prompt, not by a draw (:mod:`.misspelling`); an edit asking for the
            correction (``it must read '...'``) gets the slide spelt right.
        flex_shed_rate: probability that a Flex request (``serviceTier: flex``) which passed
            the key, model, body and quota checks is shed: a 503 ``UNAVAILABLE`` at once
            (Google documents no shed body; see :mod:`.tiers`). Tiers share the quota here.
        flex_queue: (low, high) seconds, unscaled, a Flex request waits in the queue before
            its generation starts (drawn uniformly; only with ``latency``): Google's target
            is 1 to 15 minutes.
        flex_standard_rate: probability that an admitted Flex request is served at standard
            (its usage says ``serviceTier: standard``, its price is standard's).
        priority_latency: a Priority request's latency as a share of the usual one.
        echo_key_upper: every error message ends with the caller's key, upper-cased, as a
            careless service or proxy might say it back; only a redaction blind to case
            hides it (tests of the key never leaving the process).
        token_lifetime: seconds (before time scale) a token of ``POST /token`` is good
            for on the Vertex paths; Google's last an hour.
        vertex_projects: the projects the Vertex paths know (``None``: any); another
            gets 403 ``PERMISSION_DENIED``.
        vertex_disabled: projects whose Vertex AI API is not enabled (403
            ``SERVICE_DISABLED``).
        vertex_quota: the 429 a Vertex caller gets: ``"dsq"`` (dynamic shared quota:
            "Resource exhausted", nothing else) or ``"legacy"`` (a per-minute quota named).
        clock: seconds, monotonic; read for arrival times, quota windows and batch states.
        sleep: awaited for every latency; a test can make it return at once.
    """

    rpm: int | None = None
    rpd: int | None = None
    quotas: tuple[RateQuota, ...] = ()
    max_concurrent: int | None = None
    other_client: OtherClient | None = None
    quota_value: bool = True
    retry_info: bool = True
    overload_rate: float = 0.0
    flex_shed_rate: float = 0.1
    flex_queue: tuple[float, float] = (60.0, 600.0)
    flex_standard_rate: float = 0.0
    priority_latency: float = 0.5
    overload_delay: tuple[float, float] = (1.0, 3.0)
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
    check_signatures: bool = True
    vary_repeats: bool = True
    batch_latency: float = 2.0
    batch_create_hold: float = 0.0
    batch_outcome: str = "succeeded"
    batch_fail_rate: float = 0.0
    batch_fail_kinds: tuple[str, ...] = ("500",)
    misspell_rate: float = 0.0
    echo_key_upper: bool = False
    token_lifetime: float = 3600.0
    vertex_projects: frozenset[str] | None = None
    vertex_disabled: frozenset[str] = frozenset()
    vertex_quota: str = "dsq"
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def __post_init__(self) -> None:
        for name in ("rpm", "rpd", "max_concurrent"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, not {value!r}")
        if self.vertex_quota not in ("dsq", "legacy"):
            raise ValueError(f"vertex_quota must be dsq or legacy, not {self.vertex_quota!r}")
        if not self.token_lifetime > 0:
            raise ValueError(f"token_lifetime must be positive, not {self.token_lifetime!r}")
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be positive, not {self.time_scale!r}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, not {self.fail_rate!r}")
        if not 0.0 <= self.misspell_rate <= 1.0:
            raise ValueError(f"misspell_rate must be between 0 and 1, not {self.misspell_rate!r}")
        for name in ("flex_shed_rate", "flex_standard_rate", "priority_latency"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {getattr(self, name)!r}")
        if not 0.0 <= self.flex_queue[0] <= self.flex_queue[1] < float("inf"):
            raise ValueError(f"flex_queue must be 0 <= low <= high, not {self.flex_queue!r}")
        if not 0.0 <= self.overload_rate <= 1.0:
            raise ValueError(f"overload_rate must be between 0 and 1, not {self.overload_rate!r}")
        low, high = self.overload_delay
        if not 0.0 <= low <= high < float("inf"):
            raise ValueError(f"overload_delay must be 0 <= low <= high, not {(low, high)!r}")
        object.__setattr__(self, "overload_delay", (float(low), float(high)))
        quotas: Iterable[RateQuota] = self.quotas
        object.__setattr__(self, "quotas", tuple(quotas))
        if not all(isinstance(q, RateQuota) for q in self.quotas):
            raise ValueError("quotas must be RateQuota values")
        if self.signature_bytes is not None and self.signature_bytes < 0:
            raise ValueError("signature_bytes must be 0 or more")
        object.__setattr__(self, "fail_kinds", parse_kinds(self.fail_kinds))
        if not 0.0 <= self.batch_latency < float("inf"):
            raise ValueError(f"batch_latency must be 0 or more seconds, not {self.batch_latency!r}")
        if not 0.0 <= self.batch_create_hold < float("inf"):
            raise ValueError(
                f"batch_create_hold must be 0 or more seconds, not {self.batch_create_hold!r}"
            )
        if self.batch_outcome not in BATCH_OUTCOMES:
            raise ValueError(
                f"batch_outcome must be one of {', '.join(BATCH_OUTCOMES)}, "
                f"not {self.batch_outcome!r}"
            )
        if not 0.0 <= self.batch_fail_rate <= 1.0:
            raise ValueError(
                f"batch_fail_rate must be between 0 and 1, not {self.batch_fail_rate!r}"
            )
        try:
            batch_kinds = parse_kinds(self.batch_fail_kinds, BATCH_FAULT_KINDS)
        except ValueError as exc:
            raise ValueError(f"batch_fail_kinds: {exc}") from None
        object.__setattr__(self, "batch_fail_kinds", batch_kinds)
        if self.keys is not None:
            keys: Iterable[str] = self.keys
            object.__setattr__(self, "keys", frozenset(k for k in keys if k))

    @property
    def rate_quotas(self) -> tuple[RateQuota, ...]:
        """Every rate quota per key and model: ``rpd``, ``rpm``, then ``quotas``."""
        shortcuts = []
        if self.rpd is not None:
            shortcuts.append(RateQuota("sliding", self.rpd, DAY))
        if self.rpm is not None:
            shortcuts.append(RateQuota("sliding", self.rpm, 60.0))
        return (*shortcuts, *self.quotas)
