"""What a run checks on disk before it sends anything, and writes when it ends.

A results file that cannot be written would be found out only after every image had
been paid for, so it is checked first; leftovers of an interrupted run are cleaned; the
results go to the results file and a copy in ``output_dir``, and the manifest records what
made each image and what the deck has cost over all its runs (:func:`deck_spend`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..errors import (
    ConfigError,
)
from ..exits import RESULTS_COPY_NAME
from ..files.atomic import (
    ForeignFileError,
    NotRegularFileError,
    check_writable,
    cleanup_temp_files,
    file_kind,
    write_atomic,
)
from ..files.deck_folders import VERSIONS_DIR, UnsafeFolder, check_deck_folders
from ..files.foreign import keep_foreign
from ..files.images import staged_path
from ..files.lock import LOCK_SUFFIX
from ..results import BatchResult, is_results
from ..wording import plural, slide_ranges
from .manifest import (
    Manifest,
    Pending,
    SlideRecord,
    Spend,
    field_digests,
    generation_digest,
    output_digest,
)
from .plan import Job

__all__ = [
    "OWN_FILES",
    "RESULTS_COPY_NAME",
    "check_files",
    "check_output_dir",
    "clean_leftovers",
    "deck_spend",
    "keep_foreign_files",
    "reason",
    "record_pending",
    "refresh_contact_sheet",
    "replaced_notice",
    "saved_as_cancelled",
    "write_manifest",
    "write_results",
]

# Far above the results of 10,000 slides (a few MB): a bigger file is not a copy of ours.
_MAX_RESULTS_COPY_BYTES = 32 * 2**20

# The cure for run files in the way: the default paths are shared by every run and user.
OWN_FILES = "give this run its own files: --progress-file FILE --results-file FILE"


def check_files(progress_file: Path | None, results_file: Path | None) -> None:
    """Refuse a run that could not write its files, before anything is paid for.

    Without this, a results file that cannot be written would be found out only after
    every image had been generated (and billed), and a progress file that cannot be
    written would leave a poller blind for the whole run. Each is checked as it will be
    written (a temp file renamed over it), and so is the progress file's lock: a FIFO,
    socket or device at the path is refused, and so is another user's file, which a
    shared temp dir makes likely at the default paths (the rename onto it fails in a
    sticky ``/tmp``; elsewhere it would take their file).
    """
    for name, path in (("progress_file", progress_file), ("results_file", results_file)):
        if path is None:
            continue
        try:
            check_writable(path, ours=True)
            if name == "progress_file":
                _check_lock_file(path.with_name(path.name + LOCK_SUFFIX))
        except (ForeignFileError, NotRegularFileError) as exc:
            # The file named is the one in the way: the run file, or its lock.
            where = f"its lock {exc.filename}" if exc.filename != str(path) else str(path)
            what = (
                f"is {exc.kind}, not a regular file"
                if isinstance(exc, NotRegularFileError)
                else f"belongs to another user (uid {exc.uid})"
            )
            raise ConfigError(name, f"{where} {what}; {OWN_FILES}") from None
        except OSError as exc:
            raise ConfigError(name, f"cannot write {path}: {reason(exc)}") from None


def _check_lock_file(lock: Path) -> None:
    """The lock is opened in place, not replaced: only a regular file of ours will do.

    A symlink there is left to :class:`.RunLock`, which refuses it in its own words.
    """
    try:
        info = os.lstat(lock)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(lock, file_kind(info.st_mode))
    if info.st_uid != os.geteuid():
        raise ForeignFileError(lock, info.st_uid)


def check_output_dir(output_dir: Path) -> None:
    """Create ``output_dir`` and make sure it takes new files, and that its own folders
    (``.originals``, ``.versions``, ``.thumbs``) are the user's, before anything is paid for."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("output_dir", f"cannot create {output_dir}: {reason(exc)}") from None
    try:
        check_writable(output_dir / RESULTS_COPY_NAME)
    except OSError as exc:
        raise ConfigError("output_dir", f"cannot write in {output_dir}: {reason(exc)}") from None
    try:
        check_deck_folders(output_dir)
    except UnsafeFolder as unsafe:
        # Someone else's folder, or a symlink to one: the run would read, write or move
        # the deck's images there. Moved aside, it is made anew, the user's own.
        raise ConfigError(
            "output_dir", f"{unsafe}: move it aside, and the run makes its own"
        ) from None


def reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def clean_leftovers(output_dir: Path, jobs: list[Job]) -> None:
    """Remove the temporary files an interrupted run of this deck left in ``output_dir``.

    Only names this deck writes (its images, their staged copies, the results copy) are
    touched, whatever their age: the deck lock says no other run is writing the folder,
    and a file of another name, however much it looks like a temp, is not ours to delete.
    """
    owned = {job.dest.name for job in jobs} | {RESULTS_COPY_NAME}
    owned |= {staged_path(job.dest).name for job in jobs}
    cleanup_temp_files(output_dir, tuple(f".{name}." for name in sorted(owned)))


def replaced_notice(output_dir: Path, jobs: list[Job]) -> str | None:
    """What a fresh run says before it replaces images already in ``output_dir``, if any.

    A fresh run regenerates every slide, as the original design's does; a user who
    pointed it at a folder holding a deck is told, and told how to keep it (``--resume``).
    """
    replaced = [job.slide for job in jobs if job.dest.is_file() and not job.dest.is_symlink()]
    if not replaced:
        return None
    # The folder by its name only: the final line names it in full, once.
    return (
        f"replacing {plural(len(replaced), 'image')} already in {output_dir.name} "
        f"({slide_ranges(replaced)}); the old ones are kept in {output_dir.name}/{VERSIONS_DIR}"
    )


def keep_foreign_files(output_dir: Path) -> str | None:
    """Keep in ``.versions/`` the files of the names a run writes in ``output_dir`` (the
    results copy, the contact sheet) that this tool did not write; what a notice says.

    Before anything is sent: a config naming a folder of the user's (``~/Pictures``) once
    had a ``contact-sheet.png`` and a results file there overwritten with no copy. A file
    this tool wrote (its mark: :func:`~nanobanana_async.files.foreign.keep_foreign`) is
    replaced as always, so a deck's own folder gathers no copies.
    """
    from ..export.contact_sheet import CONTACT_SHEET_NAME, MAX_SHEET_BYTES, is_contact_sheet

    kept: list[str] = []
    for name, ours, limit in (
        (RESULTS_COPY_NAME, is_results, _MAX_RESULTS_COPY_BYTES),
        (CONTACT_SHEET_NAME, is_contact_sheet, MAX_SHEET_BYTES),
    ):
        try:
            where = keep_foreign(output_dir / name, ours, limit)
        except OSError as exc:
            raise ConfigError(
                "output_dir",
                f"{output_dir / name} is not this tool's and cannot be kept aside "
                f"({reason(exc)}); move it, or name another folder",
            ) from None
        if where is not None:
            kept.append(f"{name} as {where.relative_to(output_dir)}")
    if not kept:
        return None
    return (
        f"kept {' and '.join(kept)} in {output_dir}: this tool did not write "
        f"{'them' if len(kept) > 1 else 'it'}, and a run writes its own under that name"
    )


def refresh_contact_sheet(output_dir: Path) -> None:
    """Redraw ``output_dir/contact-sheet.png``: the whole deck in one small image.

    An agent checks the deck by viewing it, for the price of one image instead of ten. A
    deck that cannot be drawn (nothing readable) leaves no sheet; failing to draw it never
    fails the run, which has written its images and results already.
    """
    from ..export import ExportError, read_deck, write_contact_sheet  # Pillow drawing

    with contextlib.suppress(ExportError, OSError):
        write_contact_sheet(read_deck(output_dir))


def record_pending(output_dir: Path, manifest: Manifest, pending: dict[int, Pending]) -> Manifest:
    """Record in the manifest what the run sets out to make, before it sends anything.

    A run stopped (or killed) half way then leaves what ``--resume`` needs to finish it.
    Failing to write it costs only that: the manifest returned holds it all the same, for
    the record at the end.
    """
    recorded = dataclasses.replace(manifest, pending=pending)
    if pending != manifest.pending:
        with contextlib.suppress(OSError):
            recorded.write(output_dir)
    return recorded


def deck_spend(previous: Spend, result: BatchResult, adopted: Mapping[int, float | None]) -> Spend:
    """What the deck has cost once this run is over.

    The manifest's spend, plus what this run paid for (its images not reused, a Batch API
    job's at the batch rate), plus what an interrupted run made that it could not record
    (``adopted``: slide -> the plan's estimate). A dry run's placeholders cost nothing.
    """
    if result.dry_run:
        return previous
    paid = [output.cost_usd for output in result.outputs if not output.reused]
    return previous.plus([*paid, *(adopted[slide] for slide in sorted(adopted))])


def write_manifest(
    output_dir: Path,
    previous: Manifest,
    jobs: list[Job],
    model: str,
    result: BatchResult,
    originals: dict[int, Path],
    batch: Mapping[str, Any] | None = None,
    *,
    spend: Spend | None = None,
    adopted: Mapping[int, float | None] | None = None,
) -> None:
    """Record what decides each slide's image now, for the next run of the deck.

    ``batch`` is a Batch API job still to collect (the next run waits for it). ``spend``
    is what the deck has cost, this run included (:func:`deck_spend`; ``None``: the
    previous manifest's). ``adopted``: slides an interrupted run made and could not
    record, and what they are taken to have cost.

    A slide saved (or re-encoded) by this run gets a new record, and so does one adopted
    (made for the config as it is now, by the run resumed); one kept keeps its own; a
    failed one keeps the record of the image still in place, and stays pending (what the
    run set out to make and did not, for ``--resume``). Every record takes the config's
    prompt as written now, the speaker notes ``nanobanana export`` gives the slide without
    the config. Failing to write it costs nothing now: the next run then regenerates what
    it cannot tell unchanged.
    """
    adopted = adopted or {}
    by_slide = {job.slide: job for job in jobs}
    records = {
        n: dataclasses.replace(r, prompt=by_slide[n].prompt or r.prompt)
        for n, r in previous.slides.items()
        if n in by_slide
    }
    for output in result.outputs:
        job = by_slide[output.slide]
        original = originals.get(output.slide)
        old = records.get(output.slide)
        if original is None and old is not None and output.slide not in adopted:
            if not old.fields and old.generation == generation_digest(model, job.body):
                # Kept from a manifest older than its fields: they are this config's.
                records[output.slide] = dataclasses.replace(old, fields=field_digests(model, job))
            continue  # kept as it was
        if output.slide in adopted:
            cost = adopted[output.slide]
        else:
            cost = output.cost_usd if not output.reused else (old.cost_usd if old else None)
        records[output.slide] = SlideRecord(
            generation_digest(model, job.body),
            output_digest(job),
            job.dest.name,
            None if original is None else str(original.relative_to(output_dir)),
            cost,
            job.prompt or None,
            field_digests(model, job),
        )
    failed = {error.slide for error in result.errors}
    pending = {n: p for n, p in previous.pending.items() if n in failed and n in by_slide}
    spend = previous.spend if spend is None else spend
    with contextlib.suppress(OSError):
        Manifest(records, batch, pending, spend=spend).write(output_dir)


def saved_as_cancelled(dest: Path) -> bool:
    """Whether a conversion the run walked away from had already saved ``dest``.

    The staged copy is removed only after the final file is renamed into place, so "final
    there, staged gone" means the image is whole; two ``stat`` calls, no decoding.
    """
    return dest.is_file() and not staged_path(dest).exists()


async def write_results(result: BatchResult, output_dir: Path, results_file: Path | None) -> None:
    data = result.to_json()
    failure: OSError | None = None
    copy = output_dir / RESULTS_COPY_NAME
    for target in (results_file, copy):
        if target is None:
            continue
        try:
            if target == copy:  # kept aside at the start; one put there since, now
                await anyio.to_thread.run_sync(
                    keep_foreign, copy, is_results, _MAX_RESULTS_COPY_BYTES
                )
            await anyio.to_thread.run_sync(
                functools.partial(write_atomic, target, data, mode=0o600)
            )
        except OSError as exc:
            # The copy in output_dir is a convenience; the results file is the contract.
            if target == results_file:
                failure = OSError(exc.errno, f"cannot write {target}: {reason(exc)}")
    if failure is not None:
        raise failure
