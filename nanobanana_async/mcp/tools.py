"""What each MCP tool does, apart from the SDK: a few short lines about runs that go on alone.

Every tool answers with one short line of text (the line ``status``/``wait`` print, from
:mod:`nanobanana_async.follow`) and a few fields of structured content; none returns image
bytes but :meth:`DeckTools.view_deck`, whose one small picture is the contact sheet. A deck
is an ordinary detached run (:func:`.launch`) in a folder of :class:`.Runs`, so it outlives
the server and the client; no call blocks longer than :data:`MAX_WAIT_SECONDS`, under the
time limit clients put on a tool call (about 60 s), however long the deck takes.

The clocks and the sleep are injectable, so tests drive waits without waiting.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import orjson

from ..config.loading import anchored, load_config
from ..errors import ConfigError
from ..files.atomic import write_atomic
from ..follow.launch import launch
from ..follow.progress_file import View, Watch, view
from ..follow.summary import printable
from ..results import utc_iso
from ..wording import plural
from .runs import RunFolder, Runs, RunsError
from .sheet import SHEET_NAME, VIEW_BYTES, small_jpeg

__all__ = ["MAX_IMAGES", "MAX_WAIT_SECONDS", "VIEW_BYTES", "Answer", "DeckTools", "Progress"]

# Clients drop a tool call after about 60 s; a wait ends before, and is called again.
MAX_WAIT_SECONDS = 50.0
MAX_IMAGES = 4
_POLL_SECONDS = 0.5
# Where generate_image saves by default, under the server's working directory.
_IMAGES_FOLDER = "nano-banana-images"
_IMAGE_PARAMETERS = frozenset(
    {"prompt", "count", "aspect_ratio", "image_size", "model", "output_dir"}
)
# Said to an agent calling a tool: what to change in the call or the server's settings,
# never a command to run (it has no shell of the server's).
_NO_KEY = (
    "no API key: the MCP server has neither GEMINI_API_KEY nor GOOGLE_API_KEY in its "
    "environment; add one to the server's env in the client's MCP settings and restart it, "
    "or call again with emulator: true for a dry run (placeholder images, no key, no cost)"
)

# What a client is told when a deck that would send has no key: where the server reads it.
_KEY_HINT = (
    "; the MCP server reads it from its own environment: give it there (claude mcp add -e "
    'GEMINI_API_KEY=..., or "env" in .mcp.json) and restart the server, or start_deck with '
    "emulator: true for a dry run that needs no key"
)

Progress = Callable[[float, float | None, str | None], Awaitable[None]]
"""``report_progress(progress, total, message)``, as the SDK's context has it."""


class Answer(NamedTuple):
    """A tool's answer: its line, its structured fields, whether it is an error."""

    text: str
    data: dict[str, Any]
    error: bool = False
    image: bytes | None = None  # JPEG, for view_deck only


def _refusal(text: str) -> Answer:
    return Answer(text, {}, error=True)


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _no_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


def _state(seen: View) -> str:
    """The run's state as a caller should act on it: ``died`` for a run that is gone.

    A run ``stopping`` (its requests on the wire finishing) is still running for a caller,
    who waits for it; the line says it is stopping.
    """
    progress = seen.progress or {}
    state = str(progress.get("state", "none" if seen.progress is None else "running"))
    state = "running" if state == "stopping" else state
    return "died" if state == "running" and seen.code is not None else state


def _fields(run: RunFolder, seen: View) -> dict[str, Any]:
    progress = seen.progress or {}
    return {
        "run_id": run.run_id,
        "state": _state(seen),
        "done": progress.get("current", 0),
        "total": progress.get("total", 0),
        "failed": len(progress.get("failed") or []),
    }


class DeckTools:
    """The tools, over a runs folder and the server's environment and working directory."""

    def __init__(
        self,
        runs: Runs,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.runs = runs
        self.env = dict(os.environ if env is None else env)
        self.cwd = Path.cwd() if cwd is None else cwd
        self._wall = wall_clock
        self._clock = clock
        self._sleep = sleep

    # -- starting ------------------------------------------------------------------------

    async def start_deck(
        self,
        config: Mapping[str, Any] | None = None,
        config_path: str | None = None,
        *,
        resume: bool = False,
        regenerate: str | None = None,
        force: bool = False,
        max_cost: float | None = None,
        emulator: bool = False,
        batch_api: bool = False,
    ) -> Answer:
        """Start a deck in the background; the answer names its run."""
        if (config is None) == (config_path is None):
            return _refusal("give config (the deck, as an object) or config_path, not both")
        flags: list[str] = []
        if resume:
            flags.append("--resume")
        if regenerate:
            flags += ["--regenerate", regenerate]
        if force:
            flags.append("--force")
        if max_cost is not None:
            flags += ["--max-cost", repr(max_cost)]
        if emulator:
            flags.append("--emulator")
        if batch_api:
            flags.append("--batch-api")
        if not emulator and (no_key := await self._no_key(config, config_path)) is not None:
            return no_key
        if config is not None:
            folder = config.get("output_dir")
            hint = Path(folder).name if isinstance(folder, str) else "deck"
        else:
            assert config_path is not None
            hint = Path(config_path).stem
        try:
            run = self.runs.new(hint, self._wall())
        except RunsError as error:
            return _refusal(str(error))
        return await self._start(run, config, config_path, flags)

    async def _no_key(
        self, config: Mapping[str, Any] | None, config_path: str | None
    ) -> Answer | None:
        """The refusal of a deck that would send without a key, before any run is made.

        Only the key is judged here: any other problem of the config is the run's to say,
        in the command's own line. A dry run (``emulator``) needs no key and is not asked.
        """

        def check() -> str | None:
            try:
                if config is not None:
                    loaded = load_config(config, env=self.env, base_dir=self.cwd)
                else:
                    loaded = load_config(self._config_file(config_path), env=self.env)
            except ConfigError:
                return None  # the run refuses it, and the answer is its line
            try:
                loaded.require_key(_KEY_HINT)
            except ConfigError as error:
                return str(error)
            return None

        refused = await anyio.to_thread.run_sync(check)
        return None if refused is None else _refusal(refused)

    def _config_file(self, config_path: str | None) -> Path:
        assert config_path is not None
        return self.cwd / Path(config_path).expanduser()

    async def _start(
        self,
        run: RunFolder,
        config: Mapping[str, Any] | None,
        config_path: str | None,
        flags: list[str],
    ) -> Answer:
        config_file = await anyio.to_thread.run_sync(self._prepare, run, config, config_path)
        args = [
            "run",
            "--config",
            str(config_file),
            "--progress-file",
            str(run.progress_file),
            "--results-file",
            str(run.results_file),
            "--quiet",
            *flags,
        ]
        launched = await anyio.to_thread.run_sync(
            lambda: launch(args, run.progress_file, env=self.env, cwd=self.cwd)
        )
        if launched.progress is None and launched.code != 0:
            shutil.rmtree(run.folder, ignore_errors=True)  # nothing ran: no run to find
            return _refusal(launched.line)
        total = (launched.progress or {}).get("total", 0)
        text = f"started {run.run_id}: {plural(int(total), 'slide')}; follow with wait_deck"
        return Answer(text, {"run_id": run.run_id, "total": total})

    def _prepare(
        self, run: RunFolder, config: Mapping[str, Any] | None, config_path: str | None
    ) -> Path:
        """The config file the run reads (the given object written in the run's folder).

        The object's relative paths are the server's working directory's, as for any
        config given inline; written in the run's folder they would be read from there.
        """
        if config is not None:
            write_atomic(run.config_file, orjson.dumps(anchored(config, self.cwd)), mode=0o600)
            config_file = run.config_file
        else:
            config_file = self._config_file(config_path)
        started = {
            "run_id": run.run_id,
            "config": str(config_file),
            "started_at": utc_iso(self._wall()),
        }
        write_atomic(run.started_file, orjson.dumps(started), mode=0o600)
        return config_file

    async def generate_image(
        self,
        prompt: str,
        *,
        count: int = 1,
        aspect_ratio: str | None = None,
        image_size: str | None = None,
        model: str | None = None,
        output_dir: str | None = None,
        emulator: bool = False,
        report: Progress = _no_progress,
    ) -> Answer:
        """One to four images of ``prompt``, waited for up to :data:`MAX_WAIT_SECONDS`."""
        if not 1 <= count <= MAX_IMAGES:
            return _refusal(f"count must be 1 to {MAX_IMAGES}, got {count}; ask again")
        try:
            run = self.runs.new("image", self._wall())
        except RunsError as error:
            return _refusal(str(error))
        folder = output_dir if output_dir is not None else str(self.cwd / _IMAGES_FOLDER)
        config: dict[str, Any] = {
            "output_dir": str(Path(folder) / run.run_id) if output_dir is None else folder,
            "slides": [
                {"number": n, "prompt": prompt, "output_filename": f"{run.run_id}-{n}"}
                for n in range(1, count + 1)
            ],
        }
        for name, value in (
            ("aspect_ratio", aspect_ratio),
            ("image_size", image_size),
            ("model", model),
        ):
            if value is not None:
                config[name] = value
        refused = await anyio.to_thread.run_sync(self._image_refusal, config, emulator)
        if refused is not None:
            shutil.rmtree(run.folder, ignore_errors=True)  # nothing ran: no run to find
            return _refusal(refused)
        started = await self._start(run, config, None, ["--emulator"] if emulator else [])
        if started.error:
            return started
        run_id = started.data["run_id"]
        waited = await self.wait_deck(run_id, MAX_WAIT_SECONDS, report=report)
        if waited.data.get("state") in ("running", "none"):
            text = f"still running as {run_id}: {waited.text}; wait_deck, then deck_results"
            return Answer(text, waited.data)
        return await self.deck_results(run_id, full_paths=True)

    def _image_refusal(self, config: Mapping[str, Any], emulator: bool) -> str | None:
        """Why generate_image cannot start, worded for its caller: the parameter to change
        (``prompt``, not the ``slides[0].prompt`` of the deck it builds), or the missing
        key and the ``emulator`` parameter that needs none; ``None`` when it can."""
        try:
            checked = load_config(config, env=self.env, base_dir=self.cwd)
        except ConfigError as error:
            field = error.field
            name = field.rpartition(".")[2] if "slides[" in field else field
            return f"{name}: {error.problem}" if name in _IMAGE_PARAMETERS else str(error)
        if not checked.api_key and not emulator:
            return _NO_KEY
        return None

    # -- following -----------------------------------------------------------------------

    def _find(self, run_id: str | None) -> RunFolder | Answer:
        try:
            return self.runs.find(run_id)
        except RunsError as error:
            return _refusal(str(error))

    async def deck_status(self, run_id: str | None = None) -> Answer:
        """The run's one line, as ``nanobanana status`` prints it."""
        run = self._find(run_id)
        if isinstance(run, Answer):
            return run
        seen = await anyio.to_thread.run_sync(view, run.progress_file, self._wall())
        return Answer(seen.line, _fields(run, seen))

    async def wait_deck(
        self,
        run_id: str | None = None,
        timeout_s: float = MAX_WAIT_SECONDS,
        *,
        report: Progress = _no_progress,
    ) -> Answer:
        """Until the run is over or ``timeout_s`` (at most 50) passes; progress meanwhile."""
        run = self._find(run_id)
        if isinstance(run, Answer):
            return run
        timeout_s = min(max(0.0, timeout_s), MAX_WAIT_SECONDS)
        deadline = self._clock() + timeout_s
        watch = Watch(run.progress_file)
        reported: tuple[object, ...] | None = None
        while True:
            seen, final = await anyio.to_thread.run_sync(watch.look, self._clock(), self._wall())
            progress = seen.progress or {}
            now_reported = (progress.get("current"), seen.line)
            if seen.progress is not None and now_reported != reported:
                reported = now_reported
                await report(float(progress.get("current", 0)), progress.get("total"), seen.line)
            now = self._clock()
            if final or now >= deadline:
                data = _fields(run, seen)
                data["over"] = final
                return Answer(seen.line, data)
            await self._sleep(min(_POLL_SECONDS, max(0.0, deadline - now)))

    async def deck_results(self, run_id: str | None = None, *, full_paths: bool = False) -> Answer:
        """Where the images are, what failed and what it cost; never the images."""
        run = self._find(run_id)
        if isinstance(run, Answer):
            return run
        seen = await anyio.to_thread.run_sync(view, run.progress_file, self._wall())
        data = _fields(run, seen)
        if seen.results is None:
            if data["state"] in ("running", "none"):
                return Answer(f"not finished: {seen.line}; wait_deck first", data)
            return Answer(seen.line, data)  # over, but its results are not there (died)
        results = seen.results
        folder = str(results.get("output_dir", ""))
        images: list[str] = []
        for output in results.get("outputs", []):
            path = str(output.get("path", ""))
            inside = not full_paths and path.startswith(folder + os.sep)
            images.append(path[len(folder) + 1 :] if inside else path)
        data.update(
            output_dir=folder,
            images=images,
            errors=[
                {"slide": e.get("slide"), "kind": e.get("kind", ""), "error": e.get("error", "")}
                for e in results.get("errors", [])
            ],
            cost_usd=results.get("cost_usd"),
        )
        text = seen.line
        if full_paths and images:  # the line names the folder: the file names complete it
            names = (printable(Path(image).name) for image in images)
            text = f"{text}; saved {', '.join(names)}"
        return Answer(text, data)

    async def view_deck(self, run_id: str | None = None) -> Answer:
        """The deck's contact sheet, as one small JPEG."""
        run = self._find(run_id)
        if isinstance(run, Answer):
            return run
        seen = await anyio.to_thread.run_sync(view, run.progress_file, self._wall())
        data = _fields(run, seen)
        folder = (seen.progress or {}).get("output_dir")
        if data["state"] == "running":
            return Answer(f"the contact sheet is drawn when the run ends: {seen.line}", data)
        if not isinstance(folder, str):
            return _refusal(f"no contact sheet: {seen.line}")
        sheet = Path(folder) / SHEET_NAME
        try:
            image, (width, height) = await anyio.to_thread.run_sync(small_jpeg, sheet)
        except OSError as exc:
            problem = exc.strerror or str(exc)
            return _refusal(f"no contact sheet at {printable(str(sheet))}: {problem}")
        data["contact_sheet"] = str(sheet)
        text = (
            f"contact sheet of {run.run_id}, every slide numbered, failed ones marked: "
            f"{width}x{height} JPEG, {len(image) // 1000} KB; {printable(str(sheet))}"
        )
        return Answer(text, data, image=image)
