"""How the engine runs, as opposed to what it generates (the config)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from ..ledger.address import RedisAddress
from .retry import RetryPolicy

__all__ = ["EngineSettings"]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How the engine runs; the config says *what* to generate.

    Attributes:
        concurrency: requests in flight at most; ``None`` sizes it by Little's law.
        rpm: the quota's requests per minute, if known (overrides the config's).
        timeout: the deadline of one whole request in seconds, connecting, sending and
            receiving the answer to its last byte (overrides the config's); a request past
            it is a timeout, retried. Connecting alone gives up after 15 s.
        time_scale: multiplies every engine-side duration (quota window, backoff, default
            pause, assumed latency), to match an emulator run with the same ``--time-scale``.
        retry: the retry policy.
        progress_interval: the least time between two progress-file writes, in seconds.
        seed: seeds backoff jitter, for reproducible runs.
        quota_ledger: where the runs that share the quota keep its pacing state: a file
            for the runs of one machine (:mod:`~nanobanana_async.ledger.file`), or a Redis
            server for those of many (:mod:`~nanobanana_async.ledger.redis_store`);
            ``None``: as the config's ``ledger`` says (``NANO_BANANA_LEDGER``), else this
            run paces on its own.
        dry_run: the service is an emulator (placeholder images): the results say so.
        max_cost: the run's budget in USD (overrides the config's).
        contact_sheet: redraw ``output_dir/contact-sheet.png`` after the run.
        batch_api: send the slides to generate as one Batch API job (overrides the
            config's ``mode`` when true).
        service_tier: the service tier every slide asks for (``--tier``), over the
            config's; ``None``: as the config says.
        batch_poll: (first, longest) seconds between two looks at a batch's state, scaled
            by ``time_scale``: the wait grows from the first to the longest (a batch takes
            minutes to hours; each look is one request).
        stop_grace: how long a stop asked from outside waits for the requests on the wire
            to finish before it cuts them, in seconds; ``None``: the request timeout,
            capped at two minutes (:mod:`~nanobanana_async.engine.stopping`).
        fix_text: fix rounds for every checked slide whose text missed (overrides each
            slide's ``fix_text``); ``None``: the config's.
        text_read: called with the slide's number each time its image is read back (the
            OCR): instrumentation, so a test or a host can count reads.
        clock: monotonic time in seconds.
        sleep: awaitable sleep.
    """

    concurrency: int | None = None
    rpm: float | None = None
    timeout: float | None = None
    time_scale: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    progress_interval: float = 0.25
    seed: int | None = None
    quota_ledger: Path | RedisAddress | None = None
    dry_run: bool = False
    max_cost: float | None = None
    contact_sheet: bool = True
    batch_api: bool = False
    service_tier: str | None = None
    batch_poll: tuple[float, float] = (5.0, 60.0)
    stop_grace: float | None = None
    fix_text: int | None = None
    text_read: Callable[[int], None] | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
