"""Where the MCP server's runs live, so any server process, today's or tomorrow's, finds them.

Each run started through the server gets a folder of its own under the runs folder
(``$XDG_STATE_HOME/nano-banana/runs``, else ``~/.local/state/nano-banana/runs``): the config
it was given (``config.json``), when and how it was started (``run.json``), its progress
and results files and the run's log. The run
itself is an ordinary detached ``nanobanana run`` writing those files, so it outlives the
server and its client; a new server lists the folders and reads the progress files, and
the latest run is the one a tool means when it names none.

A run id is a plain name (the deck's folder name and the start time, ``pitch-1202-0315``):
short enough to repeat in a tool call, and checked before it is joined to a path, so an id
from the conversation cannot reach outside the runs folder. The folders are the user's own
(0700); one that is another user's, or a symlink, is refused.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

__all__ = ["RunFolder", "Runs", "RunsError", "runs_root"]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_MAX_SLUG = 24


class RunsError(Exception):
    """A run cannot be named, found or made; ``str()`` is the line for the caller."""


class RunFolder(NamedTuple):
    """One run's folder and the files in it."""

    run_id: str
    folder: Path

    @property
    def config_file(self) -> Path:
        return self.folder / "config.json"

    @property
    def started_file(self) -> Path:
        """Written once, when the run is started: runs are ordered by it."""
        return self.folder / "run.json"

    @property
    def progress_file(self) -> Path:
        return self.folder / "progress.json"

    @property
    def results_file(self) -> Path:
        return self.folder / "results.json"


def runs_root(env: Mapping[str, str]) -> Path:
    """The runs folder for this user: XDG's state home, as a long-lived record belongs."""
    state = env.get("XDG_STATE_HOME", "")
    base = Path(state) if state and Path(state).is_absolute() else None
    if base is None:
        home = env.get("HOME") or str(Path.home())
        base = Path(home) / ".local" / "state"
    return base / "nano-banana" / "runs"


def _slug(hint: str) -> str:
    slug = _SLUG_CHARS.sub("-", hint.lower()).strip("-")[:_MAX_SLUG].strip("-")
    return slug or "deck"


class Runs:
    """The runs folder: new runs made in it, existing ones found by id or as the latest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _own_folder(self, path: Path, what: str) -> bool:
        """Whether ``path`` is a folder of the user's own; ``False`` when there is none.

        Raises:
            RunsError: something else is there (a symlink, a file, another user's folder).
        """
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise RunsError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise RunsError(f"{what} {path} is not a folder; move it away")
        if info.st_uid != os.geteuid():
            raise RunsError(f"{what} {path} belongs to another user (uid {info.st_uid})")
        return True

    def _ensure_root(self) -> None:
        if self._own_folder(self.root, "the runs folder"):
            return
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.root.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            problem = exc.strerror or str(exc)
            raise RunsError(f"cannot create the runs folder {self.root}: {problem}") from None
        self._own_folder(self.root, "the runs folder")

    def new(self, hint: str, now: datetime) -> RunFolder:
        """A fresh, empty folder for a run of the deck named ``hint``, started ``now``."""
        self._ensure_root()
        stem = f"{_slug(hint)}-{now:%m%d-%H%M}"
        for attempt in range(1, 1000):
            run_id = stem if attempt == 1 else f"{stem}-{attempt}"
            folder = self.root / run_id
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunsError(f"cannot create {folder}: {exc.strerror or exc}") from None
            return RunFolder(run_id, folder)
        raise RunsError(f"too many runs named {stem} in {self.root}; remove old ones")

    def find(self, run_id: str | None) -> RunFolder:
        """The run named ``run_id``, or the latest run when it is ``None``.

        Raises:
            RunsError: the id is not a run id, no such run, or no run at all yet.
        """
        if run_id is None:
            latest = self.latest()
            if latest is None:
                raise RunsError("no run yet; start one with start_deck")
            return latest
        if not _ID.match(run_id):
            raise RunsError(
                "run_id must be a run id as start_deck gave it (lower-case letters, digits "
                "and dashes)"
            )
        folder = self.root / run_id
        if not self._own_folder(folder, "the run's folder"):
            known = ", ".join(run.run_id for run in self.all()[-3:]) or "none yet"
            raise RunsError(f"no run {run_id}; latest runs: {known}")
        return RunFolder(run_id, folder)

    def all(self) -> list[RunFolder]:
        """Every run, oldest first (by when it was started)."""
        if not self._own_folder(self.root, "the runs folder"):
            return []
        runs: list[tuple[int, str, RunFolder]] = []
        for entry in os.scandir(self.root):
            if not _ID.match(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            run = RunFolder(entry.name, Path(entry.path))
            try:
                started = os.lstat(run.started_file).st_mtime_ns
            except OSError:
                continue  # not started (yet): nothing to follow
            runs.append((started, run.run_id, run))
        return [run for _, _, run in sorted(runs)]

    def latest(self) -> RunFolder | None:
        runs = self.all()
        return runs[-1] if runs else None
