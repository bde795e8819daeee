"""Two decks at once with no flags: which files a run takes, which run a follower means.

A lone run keeps the seed's default files, exactly. A run started while a live run holds
the default progress file takes its deck's own (:func:`.registry.deck_files`) and says so;
a dry run (``--emulator``) never writes the default results file, whichever progress file
it has. Every run registers (:class:`.registry.Registry`), so ``nanobanana runs`` lists
the live and recent ones with their files and lines, and ``status``, ``wait`` and ``stop``
follow the default run, or the one a run id or ``--config FILE`` names.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from ..config.loading import DeckConfig, load_config
from ..errors import ConfigError
from ..exits import DEFAULT_PROGRESS_FILE, DEFAULT_RESULTS_FILE, EXIT_OK, EXIT_USAGE
from ..files.lock import deck_holder
from ..follow.progress_file import run_holder, view
from ..follow.registry import Entry, Registry, deck_files, deck_id
from ..follow.summary import printable
from ..results import utc_iso
from .dry_run import dry_run_dir, run_config

__all__ = [
    "NoSuchRun",
    "RunFiles",
    "followed_progress_file",
    "refused",
    "run_files",
    "runs_command",
]


class RunFiles(NamedTuple):
    """The files a run writes, its id, whether it took its own for want of the defaults, and
    the config they were chosen from (``None``: it did not load; the run says why)."""

    progress_file: Path
    results_file: Path
    run_id: str | None
    own: bool = False
    config: DeckConfig | None = None

    def notice(self) -> str:
        """What the start says when the run took its own files, else nothing."""
        if not self.own:
            return ""
        return (
            f"the default progress file is another live run's: this run is {self.run_id}, "
            f"progress in {printable(str(self.progress_file))}"
        )


def run_files(args: argparse.Namespace, env: Mapping[str, str]) -> RunFiles:
    """The files ``run`` writes, chosen from its options, its deck and the live runs, and
    its config as loaded in ``env`` (the run's: :func:`.dry_run.run_env`).

    Registers the run (this process) unless its progress file or its deck is held already,
    in which case the run is refused in its own words and there is nothing to register.
    """
    progress_file: Path | None = args.progress_file
    results_file: Path | None = args.results_file
    try:
        config = run_config(args.config, env, emulator=args.emulator)
    except ConfigError:  # the run says it, in its own line, before it writes anything
        return RunFiles(
            progress_file or DEFAULT_PROGRESS_FILE,
            results_file or DEFAULT_RESULTS_FILE,
            None,
        )
    output_dir = config.output_dir  # a dry run's own already
    run_id = deck_id(output_dir)
    own_progress, own_results = deck_files(run_id)
    own = False
    if progress_file is None:
        own = run_holder(DEFAULT_PROGRESS_FILE) is not None
        progress_file = own_progress if own else DEFAULT_PROGRESS_FILE
    if results_file is None:
        results_file = own_results if own or args.emulator else DEFAULT_RESULTS_FILE
    files = RunFiles(progress_file, results_file, run_id, own, config)
    # A run refused at its start (its progress file, or its deck, held by a live run) is no
    # run to list: registered, it would hide the live run of the same deck (one id a deck).
    held = run_holder(progress_file) is not None or deck_holder(output_dir) is not None
    if not held and not getattr(args, "detach", False):
        entry = Entry(
            run_id=run_id,
            config=str(Path(args.config).absolute()),
            output_dir=str(output_dir),
            progress_file=progress_file,
            results_file=results_file,
            pid=os.getpid(),
            started_at=utc_iso(),
            dry_run=bool(args.emulator),
        )
        Registry.default().add(entry)
    return files


class NoSuchRun(Exception):
    """The run a follower named is not known; ``str()`` is the line to print."""


def followed_progress_file(args: argparse.Namespace) -> Path:
    """The progress file ``status``, ``wait`` or ``stop`` follows.

    ``--progress-file`` as given; else the run of the id, or the latest run of
    ``--config``'s deck (a dry run of it too); else the default run's file.

    Raises:
        NoSuchRun: the id or the config names no registered run.
        ConfigError: the config cannot be read.
    """
    run_id: str | None = args.run_id
    config: Path | None = args.config
    if args.progress_file is not None:
        if run_id is not None or config is not None:
            raise NoSuchRun("give a run id, --config or --progress-file, not two")
        return Path(args.progress_file)
    if run_id is not None and config is not None:
        raise NoSuchRun("give a run id or --config, not both")
    if run_id is None and config is None:
        return DEFAULT_PROGRESS_FILE
    registry = Registry.default()
    if run_id is not None:
        entry = registry.find(run_id)
        if entry is None:
            raise NoSuchRun(f"no run {printable(run_id)}; nanobanana runs lists them")
        return entry.progress_file
    assert config is not None
    output_dir = load_config(config, env=os.environ).output_dir
    ids = {deck_id(output_dir), deck_id(dry_run_dir(output_dir))}
    found = next((e for e in registry.entries() if e.run_id in ids), None)
    if found is None:
        raise NoSuchRun(f"no run of {printable(str(config))} yet; nanobanana runs lists them")
    return found.progress_file


def runs_command() -> int:
    """One line per live or recent run, newest first: id, line, files."""
    now = datetime.now(UTC)
    shown = 0
    for entry in Registry.default().entries():
        seen = view(entry.progress_file, now)
        if (seen.progress or {}).get("pid") not in (entry.pid, None):
            continue  # its progress file holds a later run now
        default = " (default)" if entry.progress_file == DEFAULT_PROGRESS_FILE else ""
        dry = " dry run" if entry.dry_run else ""
        print(
            f"{entry.run_id}{default}{dry}: {seen.line}; progress "
            f"{printable(str(entry.progress_file))}, results {printable(str(entry.results_file))}"
        )
        shown += 1
    if not shown:
        print("no runs yet")
    return EXIT_OK


def refused(line: object) -> int:
    """A follower's refusal: one line, exit 2."""
    print(f"nanobanana: error: {line}", file=sys.stderr)
    return EXIT_USAGE
