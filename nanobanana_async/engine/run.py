"""The batch engine: a plan of jobs in, images, progress and results out.

Data flows one way::

    config -> plan_jobs -> one task per slide -> gate -> pacer -> client -> save_image
                                       |                                       |
                                       +--------- events ---> ProgressWriter <-+
                                                                 |
                                                     progress file / callback
    ... and when every slide task has ended: BatchResult -> results file (+ copy in output_dir)

Each slide is a task. It holds a gate slot only while its request is being paced and on
the wire; backoff, decoding and saving happen outside the gate, and saving runs in a worker
thread (Pillow), never on the event loop.

A received image is paid for, so it is staged on disk as received before the slow
conversion, which runs in a thread the run can walk away from (see
:func:`~nanobanana_async.files.images.save_received`): SIGINT in the middle of a seconds-long 4K
encode ends the run at once, and ``--resume`` converts the staged bytes without asking again.

A :class:`~nanobanana_async.errors.FatalApiError` (bad key, 403, unknown model, a quota that
will not clear) stops the run at once: no further request leaves, slides still waiting are
failed with that one cause, and requests already on the wire are left to finish, because
the service has accepted them and their images are paid for.
"""

from __future__ import annotations

import functools
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
from anyio.streams.memory import MemoryObjectSendStream

from ..config.loading import BatchConfig, load_config
from ..errors import (
    ApiError,
    ConfigError,
    FatalApiError,
    RateLimited,
    TransientError,
    redact,
)
from ..files.atomic import check_writable, cleanup_temp_files, write_atomic
from ..files.images import (
    ImageDecodeError,
    SavedImage,
    discard_staged,
    image_is_complete,
    read_staged,
    save_received,
    stage_received,
    staged_path,
)
from ..files.lock import RunLock
from ..results import BatchResult, RunState, SlideFailure, SlideOutput, utc_iso
from ..service.client import GeminiClient
from .events import (
    Event,
    RateLimitWait,
    RunFinished,
    SlideDone,
    SlideFailed,
    SlideRetrying,
    SlideReused,
    SlideStarted,
)
from .gate import ConcurrencyGate
from .ledger import QuotaLedger, entry_name
from .pacer import Pacer, StateStore
from .plan import Job, plan_jobs
from .progress import ProgressCallback, ProgressTracker, ProgressWriter
from .retry import RetryPolicy, slide_retrying

__all__ = ["EngineSettings", "generate_batch"]

RESULTS_COPY_NAME = "nano-banana-results.json"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How the engine runs; the config says *what* to generate.

    Attributes:
        concurrency: requests in flight at most; ``None`` sizes it by Little's law.
        rpm: the quota's requests per minute, if known (overrides the config's).
        timeout: read timeout per request in seconds (overrides the config's).
        time_scale: multiplies every engine-side duration (quota window, backoff, default
            pause, assumed latency), to match an emulator run with the same ``--time-scale``.
        retry: the retry policy.
        progress_interval: the least time between two progress-file writes, in seconds.
        seed: seeds backoff jitter, for reproducible runs.
        quota_ledger: the file through which runs on one machine share the quota's pacing
            state (:mod:`~nanobanana_async.engine.ledger`); ``None`` paces this run on its own.
            The CLI passes :func:`~nanobanana_async.engine.ledger.default_ledger_path`.
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
    quota_ledger: Path | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep


class _Run:
    """The state of one run, shared by its slide tasks."""

    def __init__(
        self,
        config: BatchConfig,
        settings: EngineSettings,
        client: GeminiClient,
        send: MemoryObjectSendStream[Event],
        *,
        resume: bool = False,
        store: StateStore | None = None,
    ) -> None:
        scale = settings.time_scale
        self.config = config
        self.settings = settings
        self.client = client
        self.send = send
        self.clock = settings.clock
        rpm = settings.rpm if settings.rpm is not None else config.rpm
        concurrency = (
            settings.concurrency if settings.concurrency is not None else config.concurrency
        )
        self.send = send
        self.grace = 1.0 * scale  # longer than a 429's round trip, shorter than any image
        self.pacer = Pacer(
            rpm=rpm,
            period=60.0 * scale,
            first_pause=2.0 * scale,
            probe_grace=self.grace,
            probe_first=store is not None,
            history=3600.0 * scale,
            store=store,
            on_wait=self._waiting_on_another_run,
            clock=settings.clock,
            sleep=settings.sleep,
        )
        self.rate_limited = 0
        # When each request now on the wire was sent; what is older than ``grace`` was
        # admitted (a 429 takes a round trip, a generation seconds).
        self.on_wire: dict[int, float] = {}
        self.capped_storm = False  # the gate's cap explains the running storm of 429s
        self.gate = ConcurrencyGate(fixed=concurrency, typical_latency=20.0 * scale)
        self.gate.retune(self.pacer.rate_per_second, self.pacer.burst)
        self.policy = settings.retry.scaled(scale) if scale != 1.0 else settings.retry
        self.rng = random.Random(settings.seed)
        self.stop_error: FatalApiError | None = None
        self.waiting: set[anyio.CancelScope] = set()
        self.outputs: dict[int, SlideOutput] = {}
        self.failures: dict[int, SlideFailure] = {}
        self.retries = 0
        self.resume = resume
        # Received and staged, not yet saved under the final name.
        self.staged: set[int] = set()
        # Pillow releases the GIL while it encodes, so one conversion per core keeps every
        # core busy; more only interleave the same work and hold more decoded images
        # (about 68 MB each at 4K) in memory at once.
        self.savers = anyio.CapacityLimiter(os.cpu_count() or 1)

    def emit(self, event: Event) -> None:
        self.send.send_nowait(event)

    def _generating(self, now: float) -> int:
        """Our requests on the wire long enough to be generating: a refusal comes back fast."""
        admitted_after = now - self.grace
        return sum(1 for sent in self.on_wire.values() if sent <= admitted_after)

    def _waiting_on_another_run(self, seconds: float) -> None:
        """Another run on this quota was told to wait: this run waits too, and says so."""
        self.emit(RateLimitWait(seconds, self.clock(), True, answered=False))

    def stop(self, error: FatalApiError) -> None:
        """Stop sending: wake everyone waiting for a slot or a token so they fail at once."""
        if self.stop_error is None:
            self.stop_error = error
            for scope in self.waiting:
                scope.cancel()
            self.gate.open_all()

    def fail(self, job: Job, error: ApiError | str, kind: str = "") -> None:
        if isinstance(error, ApiError):
            kind = kind or type(error).__name__
            message = error.message
        else:
            message = error
        message = redact(message, self.config.api_key)
        self.failures[job.slide] = SlideFailure(job.slide, message, utc_iso(), kind)
        self.emit(SlideFailed(job.slide, message, kind, self.clock()))

    def fail_unsent(self, job: Job) -> None:
        assert self.stop_error is not None
        error = self.stop_error
        # One cause for every slide the stop left unsent, word for word, so they group.
        self.fail(job, error.message, type(error).__name__)

    async def run_slide(self, job: Job) -> None:
        if self.stop_error is not None:
            self.fail_unsent(job)
            return
        retrying = slide_retrying(
            self.policy,
            on_retry=lambda e: self._on_retry(job, e),
            sleep=self.settings.sleep,
            rng=self.rng,
        )
        try:
            if self.resume and await self._save_staged(job):
                return
            async for attempt in retrying:
                with attempt:
                    await self._attempt(job)
        except FatalApiError as error:
            self.stop(error)
            if job.slide not in self.failures:
                self.fail(job, error)
        except _NotSent:
            self.fail_unsent(job)
        except ApiError as error:
            self.fail(job, error)
        except OSError as error:
            message = f"cannot write {job.dest}: {error.strerror or error}"
            if job.slide in self.staged:
                message += "; the image received is kept: --resume saves it without asking again"
            self.fail(job, message, "OSError")

    def _on_retry(self, job: Job, error: ApiError) -> None:
        self.retries += 1
        self.emit(
            SlideRetrying(job.slide, redact(error.message, self.config.api_key), self.clock())
        )

    async def _attempt(self, job: Job) -> None:
        async with self.gate:
            if self.stop_error is not None:
                raise _NotSent
            with anyio.CancelScope() as waiting:
                self.waiting.add(waiting)
                try:
                    sent_at = await self.pacer.acquire()
                finally:
                    self.waiting.discard(waiting)
            if self.stop_error is not None:
                raise _NotSent
            started = self.clock()
            self.emit(SlideStarted(job.slide, started))
            self.on_wire[job.slide] = started
            try:
                image = await self.client.generate(self.config.model, job.body)
            except RateLimited as error:
                now = self.clock()
                if not error.overload and self.pacer.paused_for() <= 0:  # a storm begins
                    capped = self.gate.cap is not None
                    self.capped_storm = self.gate.on_quota_refused(self._generating(now))
                    if self.gate.cap is not None and not capped:
                        self.pacer.forget_model()  # learned from the cap's refusals
                note = self.pacer.on_rate_limited(
                    error.retry_delay,
                    sent_at=sent_at,
                    overload=error.overload,
                    limit=error.limit,
                    learn=not self.capped_storm,
                )
                self.rate_limited += 1
                self.emit(RateLimitWait(note.pause, now, note.new_wait))
                self.gate.retune(self.pacer.rate_per_second, self.pacer.burst)
                raise
            finally:
                del self.on_wire[job.slide]
            self.gate.observe(
                self.clock() - started,
                rate_per_second=self.pacer.rate_per_second,
                burst=self.pacer.burst,
                success=True,
            )
        await anyio.to_thread.run_sync(stage_received, image.data, job.dest)
        self.staged.add(job.slide)
        try:
            saved = await self._save(job, image.data)
        except ImageDecodeError as error:
            await anyio.to_thread.run_sync(discard_staged, job.dest)
            self.staged.discard(job.slide)
            raise TransientError(f"the image did not decode: {error}", reason="BAD_IMAGE") from None
        self.staged.discard(job.slide)
        self.outputs[job.slide] = SlideOutput(job.slide, saved.path, saved.size_bytes // 1024)
        self.emit(SlideDone(job.slide, saved.path, saved.size_bytes, self.clock()))

    async def _save_staged(self, job: Job) -> bool:
        """Resume: save the image a previous run received but did not get to save."""
        data = await anyio.to_thread.run_sync(read_staged, job.dest)
        if data is None:
            return False
        try:
            saved = await self._save(job, data)
        except ImageDecodeError:  # read_staged decoded it; a hostile file could still fail
            await anyio.to_thread.run_sync(discard_staged, job.dest)
            return False
        self.outputs[job.slide] = SlideOutput(
            job.slide, saved.path, saved.size_bytes // 1024, reused=True
        )
        self.emit(SlideReused(job.slide, saved.path, saved.size_bytes, self.clock()))
        return True

    async def _save(self, job: Job, data: bytes) -> SavedImage:
        async with self.savers:
            return await save_received(
                data, job.dest, fmt=job.fmt, quality=job.quality, lossless=job.lossless
            )


async def _shielded(function: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run to the end even when the run is cancelled: the progress writer must record it."""
    with anyio.CancelScope(shield=True):
        await function(*args)


class _NotSent(Exception):
    """A slide reached the front of the queue after the run was stopped."""


async def generate_batch(
    config: str | os.PathLike[str] | Mapping[str, Any] | BatchConfig,
    *,
    progress: ProgressCallback | None = None,
    progress_file: Path | None = None,
    results_file: Path | None = None,
    resume: bool = False,
    settings: EngineSettings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    env: Mapping[str, str] | None = None,
) -> BatchResult:
    """Generate every slide of ``config`` and return what happened.

    Args:
        config: a path to a config JSON, a dict of one, or a :class:`BatchConfig`.
        progress: called with each progress snapshot the writer publishes.
        progress_file: where to keep the progress JSON (``None``: no file). The CLI passes
            the seed's default location.
        results_file: where to write the results JSON (``None``: only the copy in
            ``output_dir``).
        resume: keep slides whose image is already complete on disk; generate the rest.
        settings: engine settings (concurrency, rate, timeouts, time scale).
        transport: an httpx2 transport instead of the network (e.g. the emulator's ASGI app).
        env: the environment for fallbacks and ``${VAR}`` (default ``os.environ``).

    Raises:
        ConfigError: the config is invalid or nothing can be written; nothing was sent.
        RunLockedError: another live run owns ``progress_file``.
    """
    settings = settings or EngineSettings()
    cfg = load_config(config, env=env)
    if not cfg.api_key:
        raise ConfigError(
            "api_key",
            "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY), or put "
            '"api_key": "${YOUR_VAR}" in the config',
        )
    jobs = plan_jobs(cfg)
    _check_files(progress_file, results_file)
    lock = RunLock(progress_file) if progress_file is not None else None
    if lock is not None:
        lock.acquire()
    try:
        _check_output_dir(cfg.output_dir)  # after the lock: a refused run creates nothing
        return await _execute(
            cfg, jobs, settings, progress, progress_file, results_file, resume, transport
        )
    finally:
        if lock is not None:
            lock.release()


async def _execute(
    cfg: BatchConfig,
    jobs: list[Job],
    settings: EngineSettings,
    callback: ProgressCallback | None,
    progress_file: Path | None,
    results_file: Path | None,
    resume: bool,
    transport: httpx2.AsyncBaseTransport | None,
) -> BatchResult:
    clock = settings.clock
    started_at = utc_iso()
    started_mono = clock()
    _clean_leftovers(cfg.output_dir, jobs, resume=resume)
    tracker = ProgressTracker(
        total=len(jobs),
        output_dir=cfg.output_dir,
        started_at=started_at,
        started_mono=started_mono,
        pid=os.getpid(),
    )
    writer = ProgressWriter(
        tracker,
        progress_file,
        callback=callback,
        min_interval=settings.progress_interval,
        clock=clock,
        sleep=settings.sleep,
    )
    writer.write_initial()
    if writer.first_write_error is not None:
        # Checked writable a moment ago, yet the first snapshot did not fit (a full disk
        # takes an empty file, not a full one): a poller would be blind, so stop here.
        raise ConfigError("", writer.first_write_error)
    send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=math.inf)
    timeout = settings.timeout if settings.timeout is not None else cfg.timeout
    assert cfg.api_key is not None
    client = GeminiClient(
        api_key=cfg.api_key,
        base_url=cfg.base_url,
        timeout=timeout,
        transport=transport,
        max_connections=settings.concurrency or cfg.concurrency or 32,
    )
    store = None
    if settings.quota_ledger is not None:
        entry = entry_name(cfg.base_url, cfg.api_key, cfg.model)
        store = QuotaLedger(settings.quota_ledger, entry, clock=clock)
    run = _Run(cfg, settings, client, send, resume=resume, store=store)
    state: RunState = "done"
    reused: dict[int, SlideOutput] = {}
    try:
        async with client, anyio.create_task_group() as outer:
            outer.start_soon(_shielded, writer.run, receive)
            try:
                async with anyio.create_task_group() as slides:
                    for job in jobs:
                        if resume and await anyio.to_thread.run_sync(image_is_complete, job.dest):
                            size = job.dest.stat().st_size
                            reused[job.slide] = SlideOutput(
                                job.slide, job.dest, size // 1024, reused=True
                            )
                            run.emit(SlideReused(job.slide, job.dest, size, clock()))
                            await anyio.to_thread.run_sync(discard_staged, job.dest)
                            continue
                        slides.start_soon(run.run_slide, job)
            except BaseException:
                state = "cancelled"
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    if state != "cancelled" and run.stop_error is not None:
                        state = "failed"
                    run.emit(RunFinished(state, clock()))
                    await send.aclose()
                    writer.finish()  # the final snapshot now, not after the interval
    finally:
        with anyio.CancelScope(shield=True):
            result = _result(cfg, jobs, run, reused, state, started_at, started_mono, clock())
            await _write_results(result, cfg.output_dir, results_file)
    return result


def _check_files(progress_file: Path | None, results_file: Path | None) -> None:
    """Refuse a run that could not write its files, before anything is paid for.

    Without this, a results file that cannot be written would be found out only after
    every image had been generated (and billed), and a progress file that cannot be
    written would leave a poller blind for the whole run.
    """
    for name, path in (("progress_file", progress_file), ("results_file", results_file)):
        if path is not None:
            try:
                check_writable(path)
            except OSError as exc:
                raise ConfigError(name, f"cannot write {path}: {_reason(exc)}") from None


def _check_output_dir(output_dir: Path) -> None:
    """Create ``output_dir`` and make sure it takes new files, before anything is paid for."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("output_dir", f"cannot create {output_dir}: {_reason(exc)}") from None
    try:
        check_writable(output_dir / RESULTS_COPY_NAME)
    except OSError as exc:
        raise ConfigError("output_dir", f"cannot write in {output_dir}: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _clean_leftovers(output_dir: Path, jobs: list[Job], *, resume: bool) -> None:
    """Remove the temporary files an interrupted run left in ``output_dir``.

    A fresh run removes only stale ones (a minute old): another live run may share the
    folder and be mid-write, and the lock guards the progress file, not the folder. A
    resumed run says the run it finishes is over, so the temps named after this deck's own
    files are leftovers whatever their age (a run killed a second ago left them); temps of
    other names still get the age rule.
    """
    if resume:
        owned = {job.dest.name for job in jobs} | {RESULTS_COPY_NAME}
        owned |= {staged_path(job.dest).name for job in jobs}
        cleanup_temp_files(output_dir, tuple(f".{name}." for name in sorted(owned)))
    cleanup_temp_files(output_dir, min_age=60.0)


def _saved_as_cancelled(dest: Path) -> bool:
    """Whether a conversion the run walked away from had already saved ``dest``.

    The staged copy is removed only after the final file is renamed into place, so "final
    there, staged gone" means the image is whole; two ``stat`` calls, no decoding.
    """
    return dest.is_file() and not staged_path(dest).exists()


def _result(
    cfg: BatchConfig,
    jobs: list[Job],
    run: _Run,
    reused: dict[int, SlideOutput],
    state: RunState,
    started_at: str,
    started_mono: float,
    now_mono: float,
) -> BatchResult:
    outputs: list[SlideOutput] = []
    errors: list[SlideFailure] = []
    for job in jobs:
        done = run.outputs.get(job.slide) or reused.get(job.slide)
        if done is not None:
            outputs.append(done)
        elif job.slide in run.failures:
            errors.append(run.failures[job.slide])
        elif job.slide in run.staged and _saved_as_cancelled(job.dest):
            size = job.dest.stat().st_size
            outputs.append(SlideOutput(job.slide, job.dest, size // 1024))
        elif job.slide in run.staged:
            errors.append(
                SlideFailure(
                    job.slide,
                    "cancelled while saving: the image was received and kept; "
                    "--resume saves it without asking again",
                    utc_iso(),
                    "Cancelled",
                )
            )
        else:
            errors.append(
                SlideFailure(
                    job.slide, "not generated: the run was cancelled", utc_iso(), "Cancelled"
                )
            )
    return BatchResult(
        outputs=tuple(outputs),
        errors=tuple(errors),
        total=len(jobs),
        started_at=started_at,
        completed_at=utc_iso(),
        duration_seconds=max(0, round(now_mono - started_mono)),
        state=state,
        output_dir=cfg.output_dir,
        model=cfg.model,
        requests=run.client.requests_sent,
        retries=run.retries,
        rate_limit_waits=run.pacer.rate_limit_waits,
        rate_limited=run.rate_limited,
    )


async def _write_results(result: BatchResult, output_dir: Path, results_file: Path | None) -> None:
    data = result.to_json()
    failure: OSError | None = None
    for target in (results_file, output_dir / RESULTS_COPY_NAME):
        if target is None:
            continue
        try:
            await anyio.to_thread.run_sync(
                functools.partial(write_atomic, target, data, mode=0o600)
            )
        except OSError as exc:
            # The copy in output_dir is a convenience; the results file is the contract.
            if target == results_file:
                failure = OSError(exc.errno, f"cannot write {target}: {_reason(exc)}")
    if failure is not None:
        raise failure
