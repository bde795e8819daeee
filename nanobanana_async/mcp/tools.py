"""What each MCP tool does, apart from the SDK: a few short lines about runs that go on alone.

Every tool answers with one short line of text (the line ``status``/``wait`` print, from
:mod:`nanobanana_async.follow`) and a few fields of structured content; none returns image
bytes but :meth:`DeckTools.view_deck`, whose one small picture is the contact sheet. A deck
is an ordinary detached run (:func:`.launch`) in a folder of :class:`.Runs`, so it outlives
the server and the client; no call blocks longer than :data:`MAX_WAIT_SECONDS`, under the
time limit clients put on a tool call (about 60 s), however long the deck takes.

Where the key goes is the server's to decide, not the config's (:mod:`.allowances`), and
the agent is told: every notice the config gets (an endpoint other than Google's, a port of
this machine) is in the answer of the tool that starts the run, and again in
``deck_status`` and ``deck_results``, for a conversation that only follows it. What a
client gives is checked, then written into the run's folder, and that copy is what the
run reads: a ``config_path`` rewritten meanwhile changes nothing.

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

from ..config.config_file import read_json
from ..config.loading import anchored, load_config
from ..engine.fix_units import check_fix_text
from ..errors import ConfigError
from ..files.atomic import write_atomic
from ..files.reading import read_regular
from ..follow.launch import launch
from ..follow.progress_file import View, Watch, view
from ..follow.summary import printable
from ..results import utc_iso
from ..wording import plural, slide_ranges
from .allowances import Allowances
from .runs import RunFolder, Runs, RunsError
from .sheet import SHEET_NAME, VIEW_BYTES, candidates_sheet, small_jpeg

__all__ = ["MAX_IMAGES", "MAX_WAIT_SECONDS", "VIEW_BYTES", "Answer", "DeckTools", "Progress"]

# Clients drop a tool call after about 60 s; a wait ends before, and is called again.
MAX_WAIT_SECONDS = 50.0
MAX_IMAGES = 4
_POLL_SECONDS = 0.5
# run.json is a few hundred bytes of the server's own writing; past this it is not ours.
_MAX_STARTED_BYTES = 2**20
# Where generate_image saves by default, under the server's working directory.
_IMAGES_FOLDER = "nano-banana-images"
_IMAGE_PARAMETERS = frozenset(
    {"prompt", "count", "aspect_ratio", "image_size", "model", "output_dir"}
)
# What a client is told when a deck that would send has no key: where the server reads it,
# and the call that needs none; a parameter or a setting to change, never a command to run
# (the agent has no shell of the server's).
_KEY_HINT = (
    "; the MCP server reads it from its own environment: give it there (claude mcp add -e "
    'GEMINI_API_KEY=..., or "env" in .mcp.json) and restart the server, or call again with '
    "emulator: true for a dry run (placeholder images, no key, no cost)"
)

# What an agent can do about slides whose text missed (the line says which): an edit of
# its own, with the words deck_results gives; ``fix_text`` edits slides as they are made (a
# rerun keeps a made slide, and its check, as they are). A tool or a setting, never a
# command (``nanobanana check`` is the CLI's: the agent has no shell of the server's).
_TEXT_FIX = (
    '; to fix: edit_slide with the right words (text_checks in deck_results); "fix_text" '
    "fixes while making"
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


def _told(answer: Answer, notices: list[str]) -> Answer:
    """``answer`` with the run's notices in its line and its fields: where the key goes is
    said to the agent, not only to a log it never reads."""
    if not notices:
        return answer
    shown = [printable(notice) for notice in notices]
    text = "".join((answer.text, *(f"; notice: {notice}" for notice in shown)))
    return answer._replace(text=text, data={**answer.data, "notices": shown})


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
    fields = {
        "run_id": run.run_id,
        "state": _state(seen),
        "done": progress.get("current", 0),
        "total": progress.get("total", 0),
        "failed": len(progress.get("failed") or []),
    }
    if missed := _text_missed(seen):
        fields["text_to_check"] = sorted(int(slide) for slide in missed)
    return fields


def _text_missed(seen: View) -> dict[str, Mapping[str, Any]]:
    """Slide -> its ``text_check``, for the slides whose check did not come out ``ok``: from
    the results once written (the final word, after any fix rounds), else the progress."""
    if seen.results is not None:
        outputs = seen.results.get("outputs") or []
        pairs: Any = ((o.get("slide"), o.get("text_check")) for o in outputs)
    else:
        checks = (seen.progress or {}).get("text_checks")
        pairs = checks.items() if isinstance(checks, Mapping) else ()
    return {
        str(slide): check
        for slide, check in pairs
        if isinstance(check, Mapping) and check.get("state", "ok") != "ok" and str(slide).isdigit()
    }


def _with_text_fix(text: str, data: Mapping[str, Any]) -> str:
    """``text`` and how to fix the slides whose text missed, once the run is over."""
    over = data["state"] not in ("running", "none")
    return text + _TEXT_FIX if over and data.get("text_to_check") else text


class DeckTools:
    """The tools, over a runs folder and the server's environment and working directory."""

    def __init__(
        self,
        runs: Runs,
        *,
        allowances: Allowances | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.runs = runs
        self.allowances = allowances or Allowances()
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
        fix_text: int | None = None,
        service_tier: str | None = None,
    ) -> Answer:
        """Start a deck in the background; the answer names its run (``fix_text``: as
        ``run --fix-text``, checked by the run itself: a bad one is its one-line refusal;
        ``service_tier``: every slide's tier, ``run --tier``, over the config's)."""
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
        if service_tier:
            flags += ["--tier", service_tier]
        if fix_text is not None:
            if not 0 <= fix_text <= 3:
                return _refusal(f"fix_text is {fix_text}; give 0 to 3 edit rounds, or leave it out")
            flags += ["--fix-text", str(fix_text)]
        checked = await anyio.to_thread.run_sync(
            self._checked, config, config_path, emulator, fix_text
        )
        if isinstance(checked, Answer):
            return checked
        raw, notices = checked
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
        started = await self._start(run, raw, flags, notices)
        return started if started.error else _told(started, list(notices))

    def _checked(
        self,
        config: Mapping[str, Any] | None,
        config_path: str | None,
        emulator: bool,
        fix_text: int | None = None,
    ) -> tuple[dict[str, Any], tuple[str, ...]] | Answer:
        """The config the run is to read, and its notices; or the refusal, before any run
        is made: a field the client may not set, or a deck that would send without a key.

        Any other problem of the config is the run's to say, in the command's own line. A
        dry run (``emulator``) needs no key and is not asked for one.
        """
        if config is not None:
            raw, base = config, self.cwd
        else:
            path = self._config_file(config_path)
            try:
                raw = read_json(path)
            except ConfigError as error:
                return _refusal(f"nanobanana: error: {error}")  # as the command says it
            base = path.absolute().parent
        try:
            allowed = self.allowances.check(raw)
        except ConfigError as error:
            return _refusal(str(error))
        # Its relative paths keep meaning what they meant where it was given.
        given = anchored(raw, base)
        try:
            loaded = load_config(given, env=self.env, base_dir=base)
        except ConfigError:
            return given, ()  # the run refuses it, and the answer is its line
        try:
            check_fix_text(loaded, fix_text)
        except ConfigError as error:
            return _refusal(f"nanobanana: error: {error}")  # as the command says it
        if not emulator:
            try:
                loaded.require_key(_KEY_HINT)
            except ConfigError as error:
                return _refusal(str(error))
        told = () if allowed is None else (allowed,)
        return given, (*told, *loaded.notices)

    def _config_file(self, config_path: str | None) -> Path:
        assert config_path is not None
        return self.cwd / Path(config_path).expanduser()

    async def _start(
        self, run: RunFolder, config: Mapping[str, Any], flags: list[str], notices: tuple[str, ...]
    ) -> Answer:
        await anyio.to_thread.run_sync(self._prepare, run, config, notices)
        args = [
            "run",
            "--config",
            str(run.config_file),
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

    def _prepare(self, run: RunFolder, config: Mapping[str, Any], notices: tuple[str, ...]) -> None:
        """The run's folder: the config it reads (as checked), and how it was started."""
        write_atomic(run.config_file, orjson.dumps(config), mode=0o600)
        started = {
            "run_id": run.run_id,
            "config": str(run.config_file),
            "started_at": utc_iso(self._wall()),
            "notices": list(notices),
        }
        write_atomic(run.started_file, orjson.dumps(started), mode=0o600)

    def _notices(self, run: RunFolder) -> list[str]:
        """What the run's start said of its config (where the key goes), as kept in run.json."""
        try:
            started = orjson.loads(read_regular(run.started_file, _MAX_STARTED_BYTES, own=True))
        except (OSError, orjson.JSONDecodeError):
            return []
        notices = started.get("notices") if isinstance(started, dict) else None
        return [str(n) for n in notices] if isinstance(notices, list) else []

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
        if isinstance(refused, str):
            shutil.rmtree(run.folder, ignore_errors=True)  # nothing ran: no run to find
            return _refusal(refused)
        flags = ["--emulator"] if emulator else []
        started = await self._start(run, anchored(config, self.cwd), flags, refused)
        if started.error:
            return started
        run_id = started.data["run_id"]
        waited = await self.wait_deck(run_id, MAX_WAIT_SECONDS, report=report)
        if waited.data.get("state") in ("running", "none"):
            text = f"still running as {run_id}: {waited.text}; wait_deck, then deck_results"
            return _told(Answer(text, waited.data), list(refused))
        return await self.deck_results(run_id, full_paths=True)

    def _image_refusal(self, config: Mapping[str, Any], emulator: bool) -> str | tuple[str, ...]:
        """Why generate_image cannot start, worded for its caller: the parameter to change
        (``prompt``, not the ``slides[0].prompt`` of the deck it builds), or the missing
        key and the ``emulator`` parameter that needs none; else the config's notices."""
        try:
            checked = load_config(config, env=self.env, base_dir=self.cwd)
        except ConfigError as error:
            field = error.field
            name = field.rpartition(".")[2] if "slides[" in field else field
            return f"{name}: {error.problem}" if name in _IMAGE_PARAMETERS else str(error)
        if not emulator:
            try:
                checked.require_key(_KEY_HINT)
            except ConfigError as error:
                return str(error)
        return checked.notices

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
        notices = await anyio.to_thread.run_sync(self._notices, run)
        data = _fields(run, seen)
        return _told(Answer(_with_text_fix(seen.line, data), data), notices)

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
                # Said in start_deck's line: here in the fields only, not at every wait.
                if notices := await anyio.to_thread.run_sync(self._notices, run):
                    data["notices"] = [printable(notice) for notice in notices]
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
            notices = await anyio.to_thread.run_sync(self._notices, run)
            if data["state"] in ("running", "none"):
                return _told(Answer(f"not finished: {seen.line}; wait_deck first", data), notices)
            return _told(Answer(seen.line, data), notices)  # over, without results (died)
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
            # Over every run of the deck: a rerun pays only for what changed.
            deck_cost_usd=results.get("deck_cost_usd"),
        )
        if missed := _text_missed(seen):  # what each misses, and the closest text read
            data["text_checks"] = missed
        text = _with_text_fix(seen.line, data)
        if full_paths and images:  # the line names the folder: the file names complete it
            names = (printable(Path(image).name) for image in images)
            text = f"{text}; saved {', '.join(names)}"
        # What the start said (the server's own word on the config), then what the run
        # said, once each.
        kept = results.get("notices")
        said = await anyio.to_thread.run_sync(self._notices, run)
        said += [str(n) for n in kept] if isinstance(kept, list) else []
        return _told(Answer(text, data), list(dict.fromkeys(said)))

    async def view_deck(self, run_id: str | None = None, slide: int | None = None) -> Answer:
        """The deck's contact sheet, or ``slide``'s candidates sheet, as one small JPEG."""
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
        sheet = Path(folder) / (SHEET_NAME if slide is None else candidates_sheet(slide))
        try:
            image, (width, height) = await anyio.to_thread.run_sync(small_jpeg, sheet)
        except OSError as exc:
            problem = exc.strerror or str(exc)
            if slide is not None:
                problem += f" (slide {slide} has no variants made; view_deck without slide)"
            return _refusal(f"no contact sheet at {printable(str(sheet))}: {problem}")
        data["contact_sheet"] = str(sheet)
        what = "every slide numbered, failed ones marked"
        if missed := data.get("text_to_check"):  # the sheet's amber frames: say what they are
            what += f", text to check framed in amber ({slide_ranges(missed).split(' ', 1)[1]})"
        if slide is not None:
            what = f"slide {slide}'s candidates {slide}.1, {slide}.2..., the picked one framed"
        text = (
            f"contact sheet of {run.run_id}, {what}: "
            f"{width}x{height} JPEG, {len(image) // 1000} KB; {printable(str(sheet))}"
        )
        return Answer(text, data, image=image)
