"""The batch engine: a plan of jobs in, images, progress and results out.

:func:`generate_deck` loads the config and has the run prepared (:mod:`.prepared`: every
decision made, checked and set up on disk before the first request); :func:`carry_out`
then runs one task per slide through admission and client as the plan says, sends events
to the one progress writer on the way, and writes the results once every task has ended
(the picture: docs/design.md). Each slide's attempts, and the state the slides share, are
:mod:`.attempt`'s; a stop asked from outside is :mod:`.stopping`'s; the results written at
the end are :mod:`.outputs`'; how the engine runs is :mod:`.settings`'.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx2

from ..config.loading import DeckConfig, load_config
from ..errors import (
    ConfigError,
)
from ..files.images import (
    discard_staged,
)
from ..ledger.address import RedisAddress
from ..ledger.file import QuotaLedger, default_ledger_path, entry_name
from ..results import DeckResult, RunState, SlideFailure, SlideOutput, StopReport, utc_iso
from ..service.auth import BearerAuth
from ..service.client import GeminiClient
from ..service.endpoint import refused_listener
from ..service.vertex import VertexTarget, bearer_auth
from .attempt import FirstSlide, Run
from .chained import carry_chain, fresh_notice
from .events import (
    Event,
    RunFinished,
    SlideReused,
)
from .manifest import Decision
from .outputs import (
    deck_spend,
    refresh_contact_sheet,
    saved_as_cancelled,
    write_manifest,
    write_results,
)
from .plan import Job
from .prepared import PreparedRun, prepare_run
from .progress import ProgressCallback, ProgressTracker
from .settings import EngineSettings
from .stopping import Stopper, stop_grace
from .text_fixes import FixOutcome, TextFixes, kept_origin
from .writer import ProgressWriter

if TYPE_CHECKING:
    from ..ledger.redis_store import RedisLedger
    from .batched import BatchSender

__all__ = ["EngineSettings", "carry_out", "generate_deck"]


async def _shielded(function: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run to the end even when the run is cancelled: the progress writer must record it."""
    with anyio.CancelScope(shield=True):
        await function(*args)


async def generate_deck(
    config: str | os.PathLike[str] | Mapping[str, Any] | DeckConfig,
    *,
    progress: ProgressCallback | None = None,
    progress_file: str | os.PathLike[str] | None = None,
    results_file: str | os.PathLike[str] | None = None,
    resume: bool = False,
    settings: EngineSettings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    env: Mapping[str, str] | None = None,
    regenerate: frozenset[int] = frozenset(),
    force: bool = False,
    stop: anyio.Event | None = None,
    only: frozenset[int] | None = None,
    send: bool = True,
) -> DeckResult:
    """Generate every slide of ``config`` and return what happened.

    Args:
        config: a path to a config JSON, a dict of one, or a :class:`DeckConfig`.
        progress: called with each progress snapshot the writer publishes.
        progress_file: where to keep the progress JSON, a path as a ``str`` or any
            path-like (``None``: no file). The CLI passes the default location
            (``exits.DEFAULT_PROGRESS_FILE``).
        results_file: where to write the results JSON, likewise (``None``: only the copy
            in ``output_dir``).
        resume: finish what the last run of the deck set out to do and did not (its
            ``--force`` or ``--regenerate`` too), and keep every other slide whose image is
            complete on disk, whatever the config says of it now. Without it a run follows
            the deck's manifest: unchanged slides are kept, changed output settings re-encoded from
            the kept original, the rest generated (:mod:`.rerun`).
        settings: engine settings (concurrency, rate, timeouts, time scale).
        transport: an httpx2 transport instead of the network (e.g. the emulator's ASGI app).
        env: the environment for fallbacks and ``${VAR}`` (default ``os.environ``).
        regenerate: slides to generate again whatever the manifest says.
        force: generate every slide again.
        stop: once set, the run stops: nothing new is sent, the requests on the wire
            finish and are saved (for ``settings.stop_grace`` seconds at most, then they
            are cut), and the run ends ``cancelled``. Cancelling the task instead cuts
            them at once.
        only: act on these slides alone; every other slide is left exactly as it is
            (kept, whatever its config says now; one without an image fails ``NotAsked``).
        send: ``False``: send nothing; a slide that needs a request fails (``NotSent``),
            what needs none (a unit kept put back: a pick, an undo; a re-encode) is done.

    Raises:
        ConfigError: the config is invalid, nothing can be written, or the plan costs more
            than the budget (``max_cost``); nothing was sent.
        RunLockedError: another live run owns ``progress_file`` or ``output_dir``.
    """
    settings = settings or EngineSettings()
    cfg = load_config(config, env=env)
    if settings.quota_ledger is None and cfg.ledger is not None:
        # The config's (or NANO_BANANA_LEDGER's) choice, when the caller made none.
        shared = default_ledger_path(env) if cfg.ledger == "file" else cfg.ledger
        if shared != "off":
            settings = dataclasses.replace(settings, quota_ledger=shared)
    # Before anything is written or locked: a run without a key stops here, saying why.
    cfg.require_key("; for a dry run that needs no key, use nanobanana run --emulator")
    if transport is None and (problem := refused_listener(cfg.base_url)) is not None:
        raise ConfigError("base_url", problem)  # said again by the client, request by request
    auth = None
    if cfg.backend == "vertex":  # its credentials read before anything is written
        auth, project = bearer_auth(cfg.project)
        cfg = dataclasses.replace(cfg, project=project)
    with prepare_run(
        cfg,
        settings,
        regenerate=regenerate,
        force=force,
        resume=resume,
        progress_file=_as_path(progress_file),
        results_file=_as_path(results_file),
        only=only,
    ) as prepared:
        return await carry_out(
            prepared, progress=progress, transport=transport, stop=stop, send=send, auth=auth
        )


def _as_path(path: str | os.PathLike[str] | None) -> Path | None:
    """A caller's ``str`` or path-like as the :class:`Path` everything downstream takes."""
    return None if path is None else Path(os.fspath(path))


async def carry_out(
    prepared: PreparedRun,
    *,
    progress: ProgressCallback | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    stop: anyio.Event | None = None,
    send: bool = True,
    auth: BearerAuth | None = None,
) -> DeckResult:
    """Carry out a prepared run (:func:`~.prepared.prepare_run`) and record what happened.

    Everything was decided before: this sends what the plan says to send, saves, keeps
    and re-encodes what it says, and writes the results and the manifest at the end.
    ``progress``, ``transport``, ``stop`` and ``send`` are :func:`generate_deck`'s;
    ``auth`` is a Vertex run's bearer token (read here when not given).
    """
    cfg, settings, options = prepared.config, prepared.settings, prepared.options
    plan, manifest, jobs = prepared.plan, prepared.manifest, list(prepared.jobs)
    clock = settings.clock
    started_at = utc_iso()
    started_mono = clock()
    tracker = ProgressTracker(
        total=len(jobs),
        output_dir=cfg.output_dir,
        started_at=started_at,
        started_mono=started_mono,
        pid=os.getpid(),
        time_scale=settings.time_scale,
    )
    writer = ProgressWriter(
        tracker,
        prepared.progress_file,
        callback=progress,
        min_interval=settings.progress_interval,
        clock=clock,
        sleep=settings.sleep,
    )
    writer.write_initial()
    if writer.first_write_error is not None:
        # Checked writable a moment ago, yet the first snapshot did not fit (a full disk
        # takes an empty file, not a full one): a poller would be blind, so stop here.
        raise ConfigError("", writer.first_write_error)
    events, receive = anyio.create_memory_object_stream[Event](max_buffer_size=math.inf)
    api_key = cfg.require_key()  # checked in generate_deck, before anything was written
    api_version = "v1beta"
    if cfg.backend == "vertex":
        if auth is None:
            auth, project = bearer_auth(cfg.project)
            cfg = dataclasses.replace(cfg, project=project)
        api_version = VertexTarget(cfg.project or "", cfg.location).api_path
    client = GeminiClient(
        api_key=api_key,
        base_url=cfg.base_url,
        timeout=options.timeout,
        transport=transport,
        max_connections=options.max_connections,
        api_version=api_version,
        auth=auth,
    )
    store: QuotaLedger | RedisLedger | None = None
    if (ledger := settings.quota_ledger) is not None:
        # A Vertex project's quota is the project's, whoever's token asks.
        entry = entry_name(cfg.base_url, api_key or f"vertex:{cfg.project}", cfg.model)
        if isinstance(ledger, RedisAddress):
            # Imported here: the redis extra is loaded only by a run that shares through it.
            from ..ledger.redis_store import RedisLedger

            store = RedisLedger(ledger, entry, clock=clock, time_scale=settings.time_scale)
        else:
            store = QuotaLedger(ledger, entry, clock=clock)
    run = Run(
        cfg,
        settings,
        client,
        events,
        rpm=options.rpm,
        concurrency=options.concurrency,
        max_cost=options.max_cost,
        store=store,
        fix_text=options.fix_text,
        service_tier=options.service_tier,
    )
    fixes = TextFixes(run, manifest.slides)
    if send:
        run.text.fixer = fixes
    run.estimates = dict(plan.costs)
    run.unit_estimates = dict(plan.unit_costs)
    run.retired = dict(plan.retired)
    batcher: BatchSender | None = None
    # The slides a batch still out will deliver (the plan's): not bought again.
    held = frozenset(plan.in_batch)
    if options.batch_api or manifest.batch is not None:
        # Imported here: a run that uses no batch (most) does not pay for loading the
        # Batch API's modules, a share of every CLI process's start-up.
        from ..batch.api import BatchApi
        from .batched import BatchSender

        batcher = BatchSender(run, manifest, BatchApi(client, cfg.model, cfg.base_url), settings)
    stopper = Stopper(run, stop_grace(settings.stop_grace, options.timeout), settings.sleep)
    batched: list[Job] = []
    state: RunState = "done"
    ended: float | None = None
    report: StopReport | None = None
    reused: dict[int, SlideOutput] = {}
    first = FirstSlide.of(run, jobs, prepared.first_kept)  # None unless the slides follow it
    try:
        async with client, anyio.create_task_group() as outer:
            outer.start_soon(_shielded, writer.run, receive)
            try:
                # The checks outlive the slides: the run waits for those still out.
                async with anyio.create_task_group() as checks:
                    run.text.group = checks
                    async with anyio.create_task_group() as slides:
                        if stop is not None:
                            if stop.is_set():  # asked before anything was sent
                                stopper.begin()
                            outer.start_soon(stopper.watch, stop, slides.cancel_scope)
                        for job in jobs:
                            decision = plan.decision(job.slide)
                            chain = plan.chains.get(job.slide)
                            if chain is not None and decision in _CHAINED:
                                record = manifest.slides.get(job.slide)
                                carry = functools.partial(carry_chain, send=send)
                                slides.start_soon(carry, run, job, chain, record)
                                continue
                            if decision is Decision.KEEP and not job.dest.is_file():
                                run.fail(job, "not made: not among the slides asked", "NotAsked")
                                continue
                            if not send and decision is Decision.GENERATE:
                                run.fail(
                                    job,
                                    "not sent: it needs a request, and this run sends none",
                                    "NotSent",
                                )
                                continue
                            if decision is Decision.REENCODE:
                                original = prepared.reencode_from[job.slide]
                                slides.start_soon(run.reencode_slide, job, original)
                                continue
                            if decision is Decision.KEEP:
                                size = job.dest.stat().st_size
                                reused[job.slide] = SlideOutput(
                                    job.slide, job.dest, size // 1024, reused=True
                                )
                                run.emit(SlideReused(job.slide, job.dest, size, clock()))
                                await anyio.to_thread.run_sync(discard_staged, job.dest)
                                record = manifest.slides.get(job.slide)
                                kept = None if record is None else record.text_check
                                asked = plan.only is None or job.slide in plan.only
                                if not run.text.carry(job.slide, kept) and asked:
                                    # Never checked as it must read now (the check turned
                                    # on, a run killed before its manifest): read once.
                                    origin = kept_origin(cfg.model, job, record)
                                    run.text.start(job.slide, origin.original or job.dest, origin)
                                continue
                            if decision is Decision.RECOVER:
                                if first is None or not first.defer(job, recover=True):
                                    slides.start_soon(run.recover_slide, job)
                                continue
                            if first is not None and first.defer(job):
                                continue
                            if options.batch_api or job.slide in held:
                                batched.append(job)
                                continue
                            slides.start_soon(run.run_slide, job)
                        if first is not None:
                            slides.start_soon(first.run)
                        if batcher is not None and batched:
                            sending = batcher.send if options.batch_api else batcher.adopt
                            slides.start_soon(stopper.guard, sending, batched)
                if stopper.asked:
                    state = "cancelled"
            except BaseException:
                state = "cancelled"
                raise
            finally:
                stopper.close()
                with anyio.CancelScope(shield=True):
                    if state != "cancelled" and run.stop_error is not None:
                        state = "failed"
                    elif batcher is not None and batcher.cancelled:
                        state = "cancelled"  # its batch was, while it waited (cancel)
                    ended = clock()
                    report = stopper.report(state)
                    run.emit(RunFinished(state, ended, report))
                    await events.aclose()
                    writer.finish()  # the final snapshot now, not after the interval
    finally:
        if store is not None and not isinstance(store, QuotaLedger):
            store.close()  # the Redis ledger's connection
        with anyio.CancelScope(shield=True):
            if ended is None:
                ended = clock()
            result = _result(
                cfg,
                jobs,
                run,
                reused,
                state,
                started_at,
                tracker.duration(ended),
                (*prepared.notices, *filter(None, [fixes.notice()])),
                report,
                fixes.outcomes,
            )
            # What the interrupted run made (or received) and never recorded, at the plan's
            # estimate: the slides of the plan's adopted this run kept or saved.
            done = reused.keys() | run.recovered
            adopted = {n: cost for n, cost in plan.adopted.items() if n in done}
            spend = deck_spend(manifest.spend, result, adopted)
            if not result.dry_run:
                # What the chains of failed slides paid for, kept; what an interrupted
                # run's chains made and never recorded, at the plan's estimate.
                failed = {error.slide for error in result.errors}
                spend = spend.plus(
                    unit.cost_usd
                    for slide, chain in run.chains.items()
                    if slide in failed
                    for unit in chain.paid
                ).plus(cost for chain in run.chains.values() for cost in chain.adopted)
                # Fix rounds: those of kept slides (their outputs count as reused), and
                # those an interrupted run made and never recorded, at their estimate.
                spend = spend.plus(
                    outcome.cost for slide, outcome in fixes.outcomes.items() if slide in reused
                ).plus(cost for outcome in fixes.outcomes.values() for cost in outcome.adopted)
            deck_cost = None if settings.dry_run else spend.total_usd
            result = dataclasses.replace(result, deck_cost_usd=deck_cost)
            await write_results(result, cfg.output_dir, prepared.results_file)
            # The batch still to collect: the one found, or this run's; none once collected.
            pending = batcher.pending if batcher is not None else manifest.batch
            await anyio.to_thread.run_sync(
                functools.partial(
                    write_manifest,
                    cfg.output_dir,
                    manifest,
                    jobs,
                    cfg.model,
                    result,
                    run.originals,
                    pending,
                    spend=spend,
                    adopted=adopted,
                    turns=run.turns,
                    chains=run.chains,
                    fixes=fixes.outcomes,
                    checks={n: c for n in run.text.reports if (c := run.text.kept(n))},
                )
            )
            if settings.contact_sheet and result.outputs:
                await anyio.to_thread.run_sync(refresh_contact_sheet, cfg.output_dir)
    return result


def _with_fixes(done: SlideOutput, fixed: FixOutcome) -> SlideOutput:
    """A slide's output once its fix rounds are counted: their cost, the round placed."""
    paid = None if done.cost_usd is None or fixed.cost is None else done.cost_usd + fixed.cost
    if fixed.size_bytes is None:
        return dataclasses.replace(done, cost_usd=paid)
    return dataclasses.replace(
        done,
        cost_usd=paid,
        size_kb=fixed.size_bytes // 1024,
        previous=fixed.previous or done.previous,
    )


# What a slide's chain carries out (:mod:`.chained`): its units made, or one put back.
_CHAINED = frozenset({Decision.GENERATE, Decision.RESTORE})


def _result(
    cfg: DeckConfig,
    jobs: list[Job],
    run: Run,
    reused: dict[int, SlideOutput],
    state: RunState,
    started_at: str,
    duration_seconds: int,
    notices: tuple[str, ...],
    stop: StopReport | None,
    fixes: Mapping[int, FixOutcome],
) -> DeckResult:
    outputs: list[SlideOutput] = []
    errors: list[SlideFailure] = []
    for job in jobs:
        done = run.outputs.get(job.slide) or reused.get(job.slide)
        checked = run.text.reports.get(job.slide)
        if done is not None and checked is not None:
            done = dataclasses.replace(done, text_check=checked)
        fixed = fixes.get(job.slide)
        if done is not None and fixed is not None:
            done = _with_fixes(done, fixed)
        if done is not None:
            outputs.append(done)
        elif job.slide in run.failures:
            errors.append(run.failures[job.slide])
        elif job.slide in run.staged and saved_as_cancelled(job.dest):
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
    return DeckResult(
        outputs=tuple(outputs),
        errors=tuple(errors),
        total=len(jobs),
        started_at=started_at,
        completed_at=utc_iso(),
        duration_seconds=duration_seconds,
        state=state,
        output_dir=cfg.output_dir,
        model=cfg.model,
        requests=run.client.requests_sent,
        retries=run.retries,
        rate_limit_waits=run.admission.rate_limit_waits,
        rate_limited=run.rate_limited,
        dry_run=run.settings.dry_run,
        notices=(*notices, *filter(None, [fresh_notice(run.fresh_edits), run.tiers.notice()])),
        stop=stop,
    )
