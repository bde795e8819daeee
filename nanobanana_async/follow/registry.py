"""The command's runs on this machine: where each keeps its files, so a second deck needs no flags.

The seed's default files (``$TMPDIR/nano-banana-progress.json`` and its results) fit one
run at a time. A run that finds them held by a live run takes files of its own deck
instead (:func:`deck_files`: ``$TMPDIR/nano-banana-<run id>-progress.json``), and every run
registers here when it starts: its id, config, output folder, files and pid, one small JSON
file per deck in a folder private to the user, beside the quota ledger
(``$XDG_RUNTIME_DIR/nano-banana/runs/``, else ``$TMPDIR/nano-banana-<uid>/runs/``).
``nanobanana runs`` lists them; ``status``, ``wait`` and ``stop`` find one by its id or its
config.

A run's id is its deck's: the output folder's name and a digest of its path
(``q3-results-3f9a1c``), the same every time the deck runs, so a rerun replaces its entry,
and short enough to type. One deck has one live run at a time (the deck lock), so an id
names one run. An entry whose progress file now holds another run (its pid differs) is not
that run's any more and is not shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import orjson

from ..files.atomic import write_atomic
from ..files.reading import read_regular

__all__ = ["Entry", "Registry", "deck_files", "deck_id"]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_MAX_SLUG = 24
_DIGEST_CHARS = 6
# Enough to show what ran lately; the oldest beyond it are dropped as a run registers.
_KEEP = 50
# An entry is a few hundred bytes; past this it is not ours.
_MAX_ENTRY_BYTES = 64 * 1024


def deck_id(output_dir: Path) -> str:
    """``q3-results-3f9a1c``: the folder's name, and a digest of its path for two ``deck``\\ s."""
    slug = _SLUG_CHARS.sub("-", output_dir.name.lower()).strip("-")[:_MAX_SLUG].strip("-")
    digest = hashlib.sha256(os.fsencode(output_dir)).hexdigest()[:_DIGEST_CHARS]
    return f"{slug or 'deck'}-{digest}"


def deck_files(run_id: str) -> tuple[Path, Path]:
    """The progress and results files of a run that does not take the default ones."""
    temp = Path(tempfile.gettempdir())
    return temp / f"nano-banana-{run_id}-progress.json", temp / f"nano-banana-{run_id}-results.json"


class Entry(NamedTuple):
    """One run as it registered when it started."""

    run_id: str
    config: str
    output_dir: str
    progress_file: Path
    results_file: Path
    pid: int
    started_at: str
    dry_run: bool

    def to_json(self) -> bytes:
        data = self._asdict()
        data.update(progress_file=str(self.progress_file), results_file=str(self.results_file))
        return orjson.dumps(data)


def _entry(raw: object) -> Entry | None:
    """An entry read back, or ``None`` when it is not of an entry's shape."""
    if not isinstance(raw, dict):
        return None
    texts = ("run_id", "config", "output_dir", "progress_file", "results_file", "started_at")
    if not all(isinstance(raw.get(name), str) for name in texts):
        return None
    pid, dry_run = raw.get("pid"), raw.get("dry_run")
    if type(pid) is not int or not isinstance(dry_run, bool) or not _ID.match(raw["run_id"]):
        return None
    return Entry(
        run_id=raw["run_id"],
        config=raw["config"],
        output_dir=raw["output_dir"],
        progress_file=Path(raw["progress_file"]),
        results_file=Path(raw["results_file"]),
        pid=pid,
        started_at=raw["started_at"],
        dry_run=dry_run,
    )


class Registry:
    """The runs folder: entries added as runs start, read back newest first.

    ``folder`` ``None`` (no private folder could be had) keeps nothing and finds nothing:
    the runs still go, with the seed's default files or those given.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @classmethod
    def default(cls, env: Mapping[str, str] | None = None) -> Registry:
        # Imported here: the engine's import (the HTTP stack) is not for status's to pay.
        from ..ledger.file import default_ledger_path

        ledger = default_ledger_path(env)
        return cls(None if ledger is None else ledger.parent / "runs")

    def _private(self) -> Path | None:
        """The folder, made if missing; ``None`` unless it is a directory of the user's only."""
        if self.folder is None:
            return None
        with contextlib.suppress(OSError):
            self.folder.mkdir(mode=0o700, exist_ok=True)
        try:
            info = os.lstat(self.folder)
        except OSError:
            return None
        private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
        return self.folder if private and not info.st_mode & 0o077 else None

    def add(self, entry: Entry) -> None:
        """Register ``entry``, replacing its deck's last one; best effort, never failing a run."""
        folder = self._private()
        if folder is None or not _ID.match(entry.run_id):
            return
        with contextlib.suppress(OSError):
            write_atomic(folder / f"{entry.run_id}.json", entry.to_json(), mode=0o600)
            for old in self.entries()[_KEEP:]:
                (folder / f"{old.run_id}.json").unlink(missing_ok=True)

    def entries(self) -> list[Entry]:
        """Every entry of the folder, newest first; a file not of our shape is passed over."""
        folder = self._private()
        if folder is None:
            return []
        found = []
        for path in folder.glob("*.json"):
            try:
                entry = _entry(orjson.loads(read_regular(path, _MAX_ENTRY_BYTES, own=True)))
            except (OSError, ValueError):
                continue
            if entry is not None and path.stem == entry.run_id:
                found.append(entry)
        return sorted(found, key=lambda e: e.started_at, reverse=True)

    def find(self, run_id: str) -> Entry | None:
        if not _ID.match(run_id):
            return None
        return next((e for e in self.entries() if e.run_id == run_id), None)
