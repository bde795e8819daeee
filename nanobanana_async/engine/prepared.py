"""A run prepared: everything decided, checked and set up before the first request.

:func:`prepare_run` is the one place a run is prepared. It merges the options, plans the
jobs, takes the run's locks, reads the deck's manifest once, decides every slide
(:func:`~.rerun.plan_run`), refuses a plan over the budget, and sets the folder up
(:mod:`.preflight`: leftovers cleaned, foreign files kept aside, what the run sets out to
make recorded). What comes out, :class:`PreparedRun`, is all the run reads: it carries
the plan out and records what happened, and never goes back to the config, the settings
or the manifest on disk to decide anything. So the manifest the run writes at its end is
the one it planned from, and what ``plan`` shows is what the run does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config.loading import DeckConfig, slide_where
from ..errors import ConfigError
from ..files.lock import DeckLock, RunLock
from .manifest import Decision, Manifest
from .options import RunOptions, run_options
from .plan import Job, check_regenerate, plan_jobs
from .preflight import (
    check_files,
    check_output_dir,
    clean_leftovers,
    keep_foreign_files,
    record_pending,
    replaced_notice,
)
from .rerun import RunPlan, check_budget, plan_run
from .settings import EngineSettings

__all__ = ["PreparedRun", "prepare_run"]


@dataclass(frozen=True, slots=True)
class PreparedRun:
    """What a run carries out: made by :func:`prepare_run`, read by the run alone.

    Attributes:
        config: the deck's config, as loaded.
        settings: how the engine runs (clock, sleep, retries, progress interval...).
        options: the settings merged over the config, once (:mod:`.options`).
        jobs: one per slide, in config order.
        plan: what the run does with each slide, why, and what it costs.
        manifest: the deck's manifest as read (once) before planning, with what the run
            sets out to make recorded: the record the run's own is written over.
        notices: what the run says beside its results (the config's, a manifest not
            read, images to be replaced, foreign files kept aside).
        first_kept: under ``"consistency": "first-slide"``, where an earlier run kept the
            first slide's original, if it did.
        reencode_from: slide to re-encode -> its kept original.
        progress_file: where the progress JSON goes (checked and locked), if anywhere.
        results_file: where the results JSON goes (checked), besides ``output_dir``.
    """

    config: DeckConfig
    settings: EngineSettings
    options: RunOptions
    jobs: tuple[Job, ...]
    plan: RunPlan
    manifest: Manifest
    notices: tuple[str, ...]
    first_kept: Path | None
    reencode_from: Mapping[int, Path]
    progress_file: Path | None
    results_file: Path | None


@contextlib.contextmanager
def prepare_run(
    config: DeckConfig,
    settings: EngineSettings,
    *,
    regenerate: frozenset[int] = frozenset(),
    force: bool = False,
    resume: bool = False,
    progress_file: Path | None = None,
    results_file: Path | None = None,
    only: frozenset[int] | None = None,
) -> Iterator[PreparedRun]:
    """Prepare a run of ``config`` and hold its locks until the block ends.

    ``only``: the run acts on those slides alone (:func:`~.rerun.plan_run`).

    Raises:
        ConfigError: a slide to regenerate is not in the deck, a file cannot be written,
            the plan costs more than the budget, or a slide's variants or edits go through
            the Batch API; nothing was sent.
        RunLockedError: another live run owns ``progress_file`` or ``output_dir``.
    """
    options = run_options(config, settings)  # the one merge of settings over config
    jobs = plan_jobs(config)
    check_regenerate(jobs, regenerate)  # before anything is created or locked
    if only is not None:
        check_regenerate(jobs, only)
    if options.batch_api:
        if config.backend == "vertex":
            raise ConfigError(
                "mode",
                "the Batch API is not supported on Vertex AI yet (its batches read and write "
                "Cloud Storage); run without --batch-api",
            )
        _check_batched(jobs)
    check_files(progress_file, results_file)
    with RunLock(progress_file) if progress_file is not None else contextlib.nullcontext():
        check_output_dir(config.output_dir)  # after the lock: a refused run creates nothing
        with DeckLock(config.output_dir):  # one run per deck, whatever its progress file
            # Read under the deck's lock, once: the plan and the run's record start from it.
            read = Manifest.read(config.output_dir, config.api_key)
            plan = plan_run(
                config,
                jobs,
                read,
                regenerate=regenerate,
                force=force,
                resume=resume,
                only=only,
                service_tier=options.service_tier,
            )
            check_budget(plan, options.max_cost, batch=options.batch_api)
            clean_leftovers(config.output_dir, jobs)
            kept = keep_foreign_files(config.output_dir)  # before anything of the run is written
            # What this run sets out to make, recorded before anything is sent (for --resume).
            manifest = record_pending(config.output_dir, read, plan.pending)
            redone = [job for job in jobs if plan.decision(job.slide) is not Decision.KEEP]
            notices = (
                *config.notices,
                *filter(None, (read.dropped, replaced_notice(config.output_dir, redone), kept)),
            )
            yield PreparedRun(
                config,
                settings,
                options,
                tuple(jobs),
                plan,
                manifest,
                notices,
                _first_kept(config.output_dir, jobs, manifest),
                _reencode_from(config.output_dir, plan, manifest),
                progress_file,
                results_file,
            )


def _check_batched(jobs: list[Job]) -> None:
    """Refuse a slide of several candidates or an edit chain through the Batch API: a
    chain's steps wait on each other's answers, which a batch gives back hours later, all
    at once (one line, nothing sent)."""
    for index, job in enumerate(jobs):
        if job.variants > 1 or job.edits:
            field = "variants" if job.variants > 1 else "edits"
            raise ConfigError(
                f"{slide_where(index, job.slide)}.{field}",
                "cannot go through the Batch API (each step waits on the one before); "
                "run without --batch-api",
            )


def _first_kept(output_dir: Path, jobs: list[Job], manifest: Manifest) -> Path | None:
    """Where an earlier run kept the first slide's original, when the others follow it."""
    if len(jobs) < 2 or jobs[1].follows is None:
        return None
    record = manifest.slides.get(jobs[0].slide)
    return None if record is None or record.original is None else output_dir / record.original


def _reencode_from(output_dir: Path, plan: RunPlan, manifest: Manifest) -> dict[int, Path]:
    """Each slide to re-encode -> its kept original (the plan re-encodes only from one)."""
    found = {}
    for slide in plan.slides(Decision.REENCODE):
        original = manifest.slides[slide].original
        assert original is not None
        found[slide] = output_dir / original
    return found
