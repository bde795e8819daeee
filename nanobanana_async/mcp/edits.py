"""The tools that fix one slide of a made deck: ``edit_slide`` and ``pick_candidate``.

Each is the command of the same name (``nanobanana edit``, ``nanobanana pick``: its checks,
its one-line refusals, the config written back, the slide alone run), started as a
detached run (:func:`~nanobanana_async.follow.launch.launch`) and waited for up to
:data:`~.tools.MAX_WAIT_SECONDS`, as ``generate_image`` waits: the answer is the slide's
result, or the run to follow with ``wait_deck``.

The config changed is the run's own copy (``config.json`` in its folder) when the deck was
started here (``run_id``), or the client's file (``config_path``), checked as ``start_deck``
checks one; that run gets a folder of its own, whose ``run.json`` names the file, so a
later call by its ``run_id`` edits the same file. The run folder's progress file is the
edit's: a run of the deck still live there refuses it, in the run's own words.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import anyio
import orjson

from ..files.atomic import write_atomic
from ..files.reading import read_regular
from ..follow.launch import launch
from ..results import utc_iso
from .runs import RunFolder, RunsError
from .tools import _MAX_STARTED_BYTES, MAX_WAIT_SECONDS, Answer, DeckTools, Progress, _no_progress

__all__ = ["EditingTools"]

# What pick says instead of running when the slide's edits are to be made again (said to
# a shell's user: here, the tool that makes them).
_PICK_NOTE = re.compile(r"^(picked candidate .+; )nanobanana run (.+) makes them")


class EditingTools(DeckTools):
    """:class:`DeckTools`, and the tools that edit a slide or pick its candidate."""

    async def edit_slide(
        self,
        slide: int,
        instruction: str | None = None,
        *,
        config_path: str | None = None,
        run_id: str | None = None,
        region: list[float] | None = None,
        undo: bool = False,
        report: Progress = _no_progress,
    ) -> Answer:
        """Add an edit step to ``slide`` (or drop its last one, ``undo``) and make it."""
        if region is not None and len(region) != 4:
            return Answer("region must be [x, y, w, h], fractions of the image", {}, error=True)
        args = ["--undo"] if undo else []
        if region is not None:
            args.append("--region=" + ",".join(repr(float(value)) for value in region))
        tail = [] if undo or instruction is None else [instruction]
        return await self._slide_command(
            "edit", args, slide, tail, config_path=config_path, run_id=run_id, report=report
        )

    async def pick_candidate(
        self,
        slide: int,
        k: int,
        *,
        config_path: str | None = None,
        run_id: str | None = None,
        report: Progress = _no_progress,
    ) -> Answer:
        """Make candidate ``k`` the slide: no request."""
        return await self._slide_command(
            "pick", [], slide, [str(k)], config_path=config_path, run_id=run_id, report=report
        )

    async def _slide_command(
        self,
        command: str,
        options: list[str],
        slide: int,
        tail: list[str],
        *,
        config_path: str | None,
        run_id: str | None,
        report: Progress,
    ) -> Answer:
        if config_path is not None and run_id is not None:
            return Answer("give config_path or run_id, not both", {}, error=True)
        found = await anyio.to_thread.run_sync(self._run_of, config_path, run_id)
        if isinstance(found, Answer):
            return found
        run, config, fresh = found
        args = [
            command,
            "--progress-file",
            str(run.progress_file),
            "--results-file",
            str(run.results_file),
            "--quiet",
            *options,
            "--",  # an instruction that starts with "-" is no option
            str(config),
            str(slide),
            *tail,
        ]
        launched = await anyio.to_thread.run_sync(
            lambda: launch(args, run.progress_file, env=self.env, cwd=self.cwd)
        )
        if launched.progress is None:
            said = _PICK_NOTE.match(launched.line)
            if fresh and (said or launched.code != 0):
                shutil.rmtree(run.folder, ignore_errors=True)  # nothing ran: no run to find
            if launched.code != 0:
                return Answer(launched.line, {}, error=True)
            if said:  # pick ran nothing: the edits on the candidate are the next run's
                return Answer(f"{said[1]}start_deck with config_path {said[2]} makes them", {})
        waited = await self.wait_deck(run.run_id, MAX_WAIT_SECONDS, report=report)
        if waited.data.get("state") in ("running", "none"):
            text = f"still running as {run.run_id}: {waited.text}; wait_deck, then deck_results"
            return Answer(text, waited.data)
        return await self.deck_results(run.run_id)

    def _run_of(
        self, config_path: str | None, run_id: str | None
    ) -> tuple[RunFolder, Path, bool] | Answer:
        """The run folder the command writes, the config it changes, and whether the folder
        is new (removed again if nothing runs)."""
        if config_path is None:
            run = self._find(run_id)
            if isinstance(run, Answer):
                return run
            return run, self._config_of(run), False
        checked = self._checked(None, config_path, False)
        if isinstance(checked, Answer):
            return checked
        path = self._config_file(config_path).absolute()
        try:
            run = self.runs.new(path.stem, self._wall())
        except RunsError as error:
            return Answer(str(error), {}, error=True)
        started = {
            "run_id": run.run_id,
            "config": str(path),
            "started_at": utc_iso(self._wall()),
            "notices": list(checked[1]),
        }
        write_atomic(run.started_file, orjson.dumps(started), mode=0o600)
        return run, path, True

    def _config_of(self, run: RunFolder) -> Path:
        """The config a run of this folder reads: its copy, or the file run.json names."""
        try:
            started = orjson.loads(read_regular(run.started_file, _MAX_STARTED_BYTES, own=True))
        except (OSError, orjson.JSONDecodeError):
            return run.config_file
        named = started.get("config") if isinstance(started, dict) else None
        return Path(named) if isinstance(named, str) and named else run.config_file
