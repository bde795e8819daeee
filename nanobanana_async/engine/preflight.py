"""What a run checks and prepares on disk before it sends anything.

A results file that cannot be written would be found out only after every image had
been paid for, so it is checked first; so are the deck's folder and its own folders.
Leftovers of an interrupted run are cleaned, files of the names a run writes that this
tool did not write are kept aside, and what the run sets out to make is recorded in the
manifest (for ``--resume``), all before the first request. What a run writes at its end
is :mod:`.outputs`'.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from pathlib import Path

from ..errors import ConfigError
from ..exits import RESULTS_COPY_NAME
from ..files.atomic import (
    ForeignFileError,
    NotRegularFileError,
    check_writable,
    cleanup_temp_files,
    file_kind,
)
from ..files.deck_folders import VERSIONS_DIR, UnsafeFolder, check_deck_folders
from ..files.foreign import keep_foreign
from ..files.images import staged_path
from ..files.lock import LOCK_SUFFIX
from ..results import MAX_RESULTS_COPY_BYTES, is_results
from ..wording import plural, slide_ranges
from .manifest import Manifest, Pending
from .plan import Job

__all__ = [
    "OWN_FILES",
    "check_files",
    "check_output_dir",
    "clean_leftovers",
    "keep_foreign_files",
    "reason",
    "record_pending",
    "replaced_notice",
]

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
        (RESULTS_COPY_NAME, is_results, MAX_RESULTS_COPY_BYTES),
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
