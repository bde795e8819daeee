"""``nanobanana mcp`` driven as a client drives it: the SDK's client over stdio, the emulator.

Every tool result is counted in bytes: following a deck to the end must cost an agent a few
hundred bytes of text, whatever the deck's size, and no tool but view_deck returns pixels.
The run is an ordinary detached run: a server killed mid-run leaves it going, and a new
server finds it by its files.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import pytest
from engine_testing import SHAPED_KEY, RecordingEmulator, deck_config, environment, write_json
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.mcp.tools import VIEW_BYTES

mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")

from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp.types import CallToolResult, TextContent  # noqa: E402

_TEXT_BUDGET = 400
_TOOLS = {
    "start_deck",
    "deck_status",
    "wait_deck",
    "deck_results",
    "generate_image",
    "view_deck",
    "edit_slide",
    "pick_candidate",
}


class _Held:
    """The emulator's sleep: the first ``free`` answers at once, the others when opened.

    The emulator runs in another thread; the gate is a thread's event, looked at by the
    emulator's loop between short yields (no test waits on a duration).
    """

    def __init__(self) -> None:
        self.free = 10**9
        self.gate = threading.Event()
        self.calls = 0

    async def __call__(self, seconds: float) -> None:
        self.calls += 1
        if self.calls <= self.free:
            return
        while not self.gate.is_set():  # noqa: ASYNC110 (a thread's event, not the loop's)
            await asyncio.sleep(0.01)


@pytest.fixture
def held() -> _Held:
    return _Held()


@pytest.fixture
def served(held: _Held) -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(keys=frozenset({SHAPED_KEY}), sleep=held, seed=7))
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url
    held.gate.set()


@pytest.fixture
def env(served: tuple[Emulator, str], tmp_path: Path) -> dict[str, str]:
    return environment(served[1], XDG_STATE_HOME=str(tmp_path / "state"))


@asynccontextmanager
async def _connect(env: dict[str, str], cwd: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "nanobanana_async", "mcp"], env=env, cwd=str(cwd)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


class _Ledger:
    """Every tool result of a conversation, and the bytes of text the agent read."""

    def __init__(self, session: ClientSession, home: Path | None = None) -> None:
        self.session = session
        self.home = home
        self.results: list[CallToolResult] = []
        self.progress: list[tuple[float, float | None, str | None]] = []

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            self.progress.append((progress, total, message))

        result: CallToolResult = await self.session.call_tool(
            tool, arguments, progress_callback=on_progress
        )
        self.results.append(result)
        return result

    @property
    def text_bytes(self) -> int:
        """The text read, ``home`` spelled as a user's home folder is: the test's own
        temporary folder is five times as long, and varies from run to run."""
        texts = (_text(result) for result in self.results)
        if self.home is not None:
            texts = (text.replace(str(self.home), "/home/me") for text in texts)
        return sum(len(text.encode()) for text in texts)


def _text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


def _notices(result: CallToolResult) -> list[str]:
    """The notices said in the answer's words (wait_deck has them in its fields only)."""
    notices: list[str] = (result.structured_content or {}).get("notices", [])
    return [notice for notice in notices if f"; notice: {notice}" in _text(result)]


def _images(result: CallToolResult) -> list[Any]:
    return [block for block in result.content if block.type == "image"]


async def _follow(ledger: _Ledger, run_id: str) -> CallToolResult:
    for _ in range(20):
        waited = await ledger.call("wait_deck", run_id=run_id)
        assert not waited.is_error, _text(waited)
        if waited.structured_content and waited.structured_content["over"]:
            return waited
    raise AssertionError("the deck never ended")


@pytest.mark.parametrize("count", [10, 50])
async def test_a_deck_followed_to_the_end_costs_a_few_hundred_bytes(
    env: dict[str, str], tmp_path: Path, count: int
) -> None:
    deck = tmp_path / "deck"
    async with _connect(env, tmp_path) as session:
        listed = await session.list_tools()
        assert {tool.name for tool in listed.tools} == _TOOLS
        # A client keeps every tool's schema in the agent's context all along: no titles.
        schemas = [tool.model_dump_json(by_alias=True, exclude_none=True) for tool in listed.tools]
        assert '"title"' not in "".join(schemas)
        # 3,040 bytes for the six deck tools; edit_slide and pick_candidate add 930,
        # start_deck's fix_text and service_tier about 200.
        assert sum(len(schema) for schema in schemas) < 4150
        ledger = _Ledger(session, home=tmp_path)
        # JPEG: the cheapest to encode, and what the agent reads does not depend on it.
        config = deck_config(deck, count, format="jpg")
        started = await ledger.call("start_deck", config=config)
        assert not started.is_error, _text(started)
        assert started.structured_content is not None
        run_id = started.structured_content["run_id"]
        waited = await _follow(ledger, run_id)
        assert _text(waited).startswith(f"done {count}/{count}")
        results = await ledger.call("deck_results", run_id=run_id)
    assert results.structured_content is not None
    images = results.structured_content["images"]
    assert images == [f"slide-{n:02d}.jpg" for n in range(1, count + 1)]
    assert all((deck / name).is_file() for name in images)
    assert results.structured_content["cost_usd"] > 0
    # A first run: the whole deck's cost is this run's.
    assert results.structured_content["deck_cost_usd"] == results.structured_content["cost_usd"]
    # The emulator is a server of this user's on this machine: nothing to tell of where the
    # key goes, and the whole text is the price of following a deck.
    assert [result for result in ledger.results if _notices(result)] == []
    assert ledger.text_bytes <= _TEXT_BUDGET, [_text(r) for r in ledger.results]
    assert not any(_images(result) for result in ledger.results)  # never pixels
    # Progress went out while wait_deck waited, never backwards, ending at the whole deck.
    done = [step[0] for step in ledger.progress]
    assert done == sorted(done)
    assert done[-1] == count
    assert ledger.progress[-1][1] == count


async def test_a_deck_needs_a_key_only_when_it_would_send(tmp_path: Path) -> None:
    # The README's own config, and a server whose environment has no key.
    env = {k: v for k, v in environment("http://unused").items() if not k.startswith("GEMINI")}
    env.pop("GOOGLE_GEMINI_BASE_URL")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    config = deck_config(Path("deck"), 2)  # relative: to the server's working directory
    config["api_key"] = "${GEMINI_API_KEY}"
    async with _connect(env, tmp_path) as session:
        real = await session.call_tool("start_deck", {"config": config})
        dry = await session.call_tool("start_deck", {"config": config, "emulator": True})
        waited = await session.call_tool("wait_deck", {"timeout_s": 50})
    assert real.is_error
    assert _text(real).startswith(
        "api_key: environment variable GEMINI_API_KEY is not set; set it, or remove api_key to "
        "read GEMINI_API_KEY; the MCP server reads it from its own environment"
    )
    assert "emulator: true" in _text(real)
    assert not dry.is_error, _text(dry)
    assert _text(waited).startswith("done 2/2"), _text(waited)
    assert (tmp_path / "deck.dry-run" / "slide-02.webp").is_file()
    runs = list((tmp_path / "state" / "nano-banana" / "runs").iterdir())
    assert len(runs) == 1  # the refused deck left no run behind


async def test_a_bad_config_is_a_tool_error_in_the_cli_s_own_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    config = deck_config(tmp_path / "deck", 3)
    config["slides"][1]["prompt"] = 42
    path = write_json(tmp_path / "bad.json", config)
    cli = subprocess.run(  # noqa: ASYNC221 (the CLI's line, to compare with)
        [sys.executable, "-m", "nanobanana_async", "run", "--config", str(path), "--quiet"],
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert cli.returncode == 2
    async with _connect(env, tmp_path) as session:
        by_object = await session.call_tool("start_deck", {"config": config})
        by_path = await session.call_tool("start_deck", {"config_path": str(path)})
        neither = await session.call_tool("start_deck", {})
        status = await session.call_tool("deck_status", {})
    line = cli.stderr.decode().strip().splitlines()[-1]
    assert "slide 2 (slides[1]).prompt" in line
    assert by_object.is_error
    assert _text(by_object) == line
    assert by_path.is_error
    assert _text(by_path) == line
    assert neither.is_error
    assert "config" in _text(neither)
    # A refused start leaves no run behind to be mistaken for the latest.
    assert status.is_error
    assert "no run yet" in _text(status)


async def test_a_bad_key_stops_the_run_and_never_shows(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    bad_key = "AIzaSyWrong-key-that-the-emulator-refuses-0"
    env = environment(served[1], key=bad_key, XDG_STATE_HOME=str(tmp_path / "state"))
    async with _connect(env, tmp_path) as session:
        ledger = _Ledger(session)
        started = await ledger.call("start_deck", config=deck_config(tmp_path / "deck", 10))
        assert started.structured_content is not None
        waited = await _follow(ledger, started.structured_content["run_id"])
        await ledger.call("deck_results")
        await ledger.call("deck_status")
    assert waited.structured_content is not None
    assert waited.structured_content["state"] == "failed"
    assert "GEMINI_API_KEY" in _text(waited)
    assert served[0].stats()["requests"] <= 3  # stopped at once, not ten times refused
    for result in ledger.results:
        assert bad_key not in result.model_dump_json()


async def test_a_run_outlives_its_server_and_a_new_server_finds_it(
    env: dict[str, str], tmp_path: Path, held: _Held
) -> None:
    held.free = 3
    deck = tmp_path / "deck"
    # Each step has a deadline of its own: a hang (seen once in CI, at the 120 s timeout)
    # then says which step it was, not only that the test ran out of time.
    with _step("first server: start, see 3 saved, kill it", 60):
        async with _connect(env, tmp_path) as session:
            started = await session.call_tool("start_deck", {"config": deck_config(deck, 10)})
            assert started.structured_content is not None
            run_id = started.structured_content["run_id"]
            for _ in range(200):
                status = await session.call_tool("deck_status", {"run_id": run_id})
                assert status.structured_content is not None
                if status.structured_content["done"] >= 3:
                    break
            assert status.structured_content["state"] == "running"
            run_pid = _run_pid(env, run_id)
            server_pid = _parent_of(run_pid)
            # The server and its whole process group die mid-run, as when a client kills the
            # tree of a server that will not go (the SDK's client starts it as a group leader).
            assert os.getpgid(server_pid) == server_pid != os.getpgid(0)
            os.killpg(server_pid, signal.SIGKILL)
            with suppress(Exception):
                await session.call_tool("deck_status", {"run_id": run_id}, read_timeout_seconds=5)
    os.kill(run_pid, 0)  # the run is still there
    held.gate.set()
    with _step("second server: find the run, follow it to the end, view it", 60):
        async with _connect(env, tmp_path) as session:
            ledger = _Ledger(session)
            found = await ledger.call("deck_status")  # no id: the latest run, by its files
            assert found.structured_content is not None
            assert found.structured_content["run_id"] == run_id
            waited = await _follow(ledger, run_id)
            results = await ledger.call("deck_results", run_id=run_id)
            sheet = await ledger.call("view_deck", run_id=run_id)
    assert _text(waited).startswith("done 10/10")
    assert results.structured_content is not None
    assert len(results.structured_content["images"]) == 10
    pictures = _images(sheet)
    assert len(pictures) == 1
    assert pictures[0].mime_type == "image/jpeg"
    with Image.open(io.BytesIO(base64.b64decode(pictures[0].data))) as picture:
        assert picture.format == "JPEG"
        assert max(picture.size) <= 1024
    # The one answer with pixels: a 10-slide deck's sheet, the whole answer included.
    assert len(base64.b64decode(pictures[0].data)) <= VIEW_BYTES
    assert len(sheet.model_dump_json()) <= VIEW_BYTES * 4 // 3 + 1000


@contextmanager
def _step(name: str, seconds: float) -> Iterator[None]:
    """Fail with ``name`` if the block takes more than ``seconds`` (the test's own clock
    is never slept on: this only bounds a hang)."""
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError:
        pytest.fail(f"step timed out after {seconds:g} s: {name}")


def _gif(path: Path) -> None:
    Image.new("RGB", (64, 36), (200, 10, 10)).save(path, "GIF")


def _huge_png(path: Path) -> None:
    Image.new("1", (6000, 6000)).save(path, "PNG")  # 36 MP in a few KB: 108 MB decoded


@pytest.mark.parametrize(
    ("plant", "problem"),
    [
        (_gif, "contact-sheet.png is not a PNG, JPEG or WebP image"),
        (_huge_png, "is 6000x6000, larger than a contact sheet is, not decoded"),
    ],
)
async def test_view_deck_decodes_only_what_a_contact_sheet_can_be(
    env: dict[str, str], tmp_path: Path, plant: Any, problem: str
) -> None:
    # Any Pillow format up to Pillow's own limit was decoded: a 687 KB PNG cost 1.5 GB.
    async with _connect(env, tmp_path) as session:
        ledger = _Ledger(session)
        config = deck_config(tmp_path / "deck", 2)
        started = await ledger.call("start_deck", config=config, emulator=True)
        assert started.structured_content is not None, _text(started)
        run_id = started.structured_content["run_id"]
        await _follow(ledger, run_id)
        results = await ledger.call("deck_results", run_id=run_id)
        assert results.structured_content is not None
        sheet = Path(results.structured_content["output_dir"]) / "contact-sheet.png"
        assert sheet.is_file()
        plant(sheet)
        viewed = await ledger.call("view_deck", run_id=run_id)
    assert viewed.is_error
    assert not _images(viewed)
    assert problem in _text(viewed), _text(viewed)


def _run_pid(env: dict[str, str], run_id: str) -> int:
    import orjson

    progress = Path(env["XDG_STATE_HOME"]) / "nano-banana" / "runs" / run_id / "progress.json"
    pid = orjson.loads(progress.read_bytes())["pid"]
    assert isinstance(pid, int)
    return pid


def _parent_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1])


async def test_generate_image_returns_the_paths_of_its_images(
    env: dict[str, str], tmp_path: Path
) -> None:
    async with _connect(env, tmp_path) as session:
        made = await session.call_tool("generate_image", {"prompt": "a banana", "count": 2})
        too_many = await session.call_tool("generate_image", {"prompt": "a banana", "count": 5})
    assert not made.is_error, _text(made)
    assert made.structured_content is not None
    paths = [Path(p) for p in made.structured_content["images"]]
    assert len(paths) == 2
    assert all(p.is_absolute() and p.is_file() for p in paths)
    assert paths[0].parent.parent == tmp_path / "nano-banana-images"  # the server's cwd
    assert all(p.name in _text(made) for p in paths)
    assert len(_text(made).encode()) < 300
    assert not _notices(made)  # the server's endpoint is a server of the user's own
    assert too_many.is_error


async def test_generate_image_without_a_key_names_the_emulator_parameter(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    env = environment(served[1], XDG_STATE_HOME=str(tmp_path / "state"))
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(name, None)
    async with _connect(env, tmp_path) as session:
        listed = await session.list_tools()
        refused = await session.call_tool("generate_image", {"prompt": "a banana"})
        dry = await session.call_tool("generate_image", {"prompt": "a banana", "emulator": True})
    (tool,) = [tool for tool in listed.tools if tool.name == "generate_image"]
    assert "emulator" in tool.input_schema["properties"]
    assert refused.is_error
    assert "call again with emulator: true" in _text(refused)
    assert "nanobanana" not in _text(refused)  # a parameter, not a shell command
    assert not dry.is_error, _text(dry)
    assert dry.structured_content is not None
    (made,) = [Path(p) for p in dry.structured_content["images"]]
    assert made.is_file()
    assert made.parent.name.endswith(".dry-run")  # placeholders, beside nothing real
    assert served[0].stats()["requests"] == 0  # nothing sent


async def test_run_ids_from_the_conversation_stay_inside_the_runs_folder(
    env: dict[str, str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    async with _connect(env, tmp_path) as session:
        for run_id in ("../outside", "/etc", "x/../../outside", ".."):
            answer = await session.call_tool("deck_status", {"run_id": run_id})
            assert answer.is_error, run_id
            assert "run_id must be" in _text(answer), run_id


def test_without_the_sdk_the_command_says_what_to_install(tmp_path: Path) -> None:
    blocked = (
        "import sys; sys.modules['mcp'] = None; "
        "from nanobanana_async.cli import main; raise SystemExit(main(['mcp']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "nanobanana: error: the MCP server needs the official MCP SDK: "
        "pip install 'nanobanana-async[mcp]' (or pip install mcp)"
    )


@asynccontextmanager
async def _connect_allowing(
    env: dict[str, str], cwd: Path, *endpoints: str
) -> AsyncIterator[ClientSession]:
    args = ["-m", "nanobanana_async", "mcp", *(f"--allow-endpoint={url}" for url in endpoints)]
    params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(cwd))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


_OPTION = "nanobanana mcp --allow-endpoint URL (or NANO_BANANA_MCP_ALLOW_ENDPOINTS)"


async def test_a_client_s_config_cannot_say_where_the_key_goes(
    env: dict[str, str], tmp_path: Path
) -> None:
    # Prompt injection: the agent fills the config from text written to send the key away.
    elsewhere = Emulator(EmulatorSettings(keys=frozenset({SHAPED_KEY}), latency=False))
    env = {**env, "OTHER_SECRET": "AIzaSyOtherSecret-0123456789abcdefghijk"}
    with serve_in_thread(elsewhere) as url:
        deck = deck_config(tmp_path / "deck", 2)
        injected: dict[str, list[dict[str, Any]]] = {
            "base_url": [
                {"base_url": url},
                {"base_url": f"{url}/k/${{GEMINI_API_KEY}}", "allow_insecure_http": True},
                {"base_url": "https://${GEMINI_API_KEY}.example"},
            ],
            "api_key": [{"api_key": "${OTHER_SECRET}"}, {"api_key": "AIzaSyLiteral"}],
            "allow_insecure_http": [{"allow_insecure_http": True}],
        }
        path = write_json(tmp_path / "slides.json", deck | {"base_url": url})
        async with _connect(env, tmp_path) as session:
            answers = {
                field: [
                    await session.call_tool("start_deck", {"config": deck | extra})
                    for extra in cases
                ]
                for field, cases in injected.items()
            }
            by_path = await session.call_tool("start_deck", {"config_path": str(path)})
            own = await session.call_tool(
                "start_deck", {"config": deck | {"api_key": "${GEMINI_API_KEY}"}}
            )
            assert not own.is_error, _text(own)
            await session.call_tool("wait_deck", {"timeout_s": 50})
        assert elsewhere.stats()["requests"] == 0  # not one request, not one key
        for field, refusals in answers.items():
            for answer in refusals:
                assert answer.is_error
                assert _text(answer).startswith(f"{field}: an MCP client may ")
                assert _text(answer).endswith(_OPTION)
                assert SHAPED_KEY not in _text(answer)
        assert by_path.is_error
        assert _text(by_path).startswith("base_url: an MCP client may not set where the key goes")
        # Only the accepted deck left a run.
        assert len(list((tmp_path / "state" / "nano-banana" / "runs").iterdir())) == 1

        # The server's operator allows that endpoint: the config may name it, and the
        # agent is told where the key goes at the start, in the status and in the results.
        async with _connect_allowing(env, tmp_path, url) as session:
            allowed = deck_config(tmp_path / "allowed", 2) | {"base_url": url}
            started = await session.call_tool("start_deck", {"config": allowed})
            assert not started.is_error, _text(started)
            assert started.structured_content is not None
            run_id = started.structured_content["run_id"]
            await session.call_tool("wait_deck", {"run_id": run_id, "timeout_s": 50})
            status = await session.call_tool("deck_status", {"run_id": run_id})
            results = await session.call_tool("deck_results", {"run_id": run_id})
    said = (
        f"notice: base_url: requests and the key go to {url}, an endpoint the server's "
        "operator allows"
    )
    for answer in (started, status, results):
        assert said in _text(answer), _text(answer)
    assert elsewhere.stats()["requests"] == 2


async def test_an_allowed_port_another_user_listens_on_gets_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    from other_user import NOBODY, listening_as_nobody

    with listening_as_nobody() as listener:
        deck = deck_config(tmp_path / "deck", 2) | {"base_url": listener.url}
        async with _connect_allowing(env, tmp_path, listener.url) as session:
            refused = await session.call_tool("start_deck", {"config": deck})
    assert refused.is_error
    assert _text(refused).endswith(
        f"base_url: port {listener.port} on this machine is another user's (uid {NOBODY}), who "
        "would read the key; nothing is sent there: use a server of your own, or another port"
    )
    assert listener.received == []


async def test_a_config_path_to_another_json_file_tells_none_of_its_fields(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = write_json(tmp_path / "app.json", {"db_password": "hunter2", "db_user": "admin"})
    async with _connect(env, tmp_path) as session:
        answer = await session.call_tool("start_deck", {"config_path": str(path)})
    assert answer.is_error
    assert "db_" not in _text(answer)
    assert "hunter2" not in _text(answer)
    assert "slides: required" in _text(answer)


async def test_edit_a_slide_see_one_request_undo_and_pick_a_candidate(
    served: tuple[Emulator, str], env: dict[str, str], tmp_path: Path
) -> None:
    emulator = served[0]
    deck = tmp_path / "deck"
    config = deck_config(deck, 4, format="jpg")
    config["slides"][2]["variants"] = 3
    async with _connect(env, tmp_path) as session:
        ledger = _Ledger(session, home=tmp_path)
        started = await ledger.call("start_deck", config=config)
        assert started.structured_content is not None
        run_id = started.structured_content["run_id"]
        await _follow(ledger, run_id)
        assert emulator.stats()["requests"] == 6  # slide 3's three candidates
        before = (deck / "slide-02.jpg").read_bytes()

        edited = await ledger.call(
            "edit_slide", run_id=run_id, slide=2, instruction="make the title bigger"
        )
        assert not edited.is_error, _text(edited)
        assert _text(edited).startswith("done 4/4"), _text(edited)
        assert (emulator.stats()["requests"], emulator.stats()["edits"]) == (7, 1)
        after = (deck / "slide-02.jpg").read_bytes()
        assert after != before
        boxed = await ledger.call(
            "edit_slide", run_id=run_id, slide=4, instruction="red", region=[0.1, 0.1, 0.5, 0.2]
        )
        assert not boxed.is_error, _text(boxed)
        assert emulator.stats()["edits"] == 2
        viewed = await ledger.call("view_deck", run_id=run_id)
        assert len(_images(viewed)) == 1

        undone = await ledger.call("edit_slide", run_id=run_id, slide=2, undo=True)
        assert not undone.is_error, _text(undone)
        assert emulator.stats()["requests"] == 8  # its image was on disk
        assert (deck / "slide-02.jpg").read_bytes() == before

        picked = await ledger.call("pick_candidate", run_id=run_id, slide=3, k=2)
        assert not picked.is_error, _text(picked)
        assert emulator.stats()["requests"] == 8
        assert (deck / "slide-03.jpg").read_bytes() == (deck / "slide-03.v2.jpg").read_bytes()
        candidates = await ledger.call("view_deck", run_id=run_id, slide=3)
        assert len(_images(candidates)) == 1, _text(candidates)
        assert "slide 3's candidates" in _text(candidates)
        await ledger.call("edit_slide", run_id=run_id, slide=3, instruction="bigger")
        assert emulator.stats()["requests"] == 9
        again = await ledger.call("pick_candidate", run_id=run_id, slide=3, k=3)
        assert not again.is_error, _text(again)
        assert _text(again).startswith("picked candidate 3 of slide 3; its edits are to be ")
        assert "1 request" in _text(again)
        assert "start_deck with config_path " in _text(again)
        assert emulator.stats()["requests"] == 9  # the next run makes it

        refused = await ledger.call("edit_slide", run_id=run_id, slide=9, instruction="x")
        no_sheet = await ledger.call("view_deck", run_id=run_id, slide=2)
    assert refused.is_error
    assert _text(refused).startswith("nanobanana: error: SLIDE: 9 is not a slide")
    assert no_sheet.is_error
    assert emulator.stats()["requests"] == 9


async def test_a_deck_whose_text_missed_says_which_slides_and_how_to_fix_them(
    tmp_path: Path,
) -> None:
    for module in ("rapidocr", "onnxruntime"):
        pytest.importorskip(module, reason="the qa extra (rapidocr, onnxruntime) is not installed")
    emulator = Emulator(EmulatorSettings(keys=frozenset({SHAPED_KEY}), latency=False, seed=7))
    emulator.script({2: "misspell"})  # one at a time: the second request is slide 2
    prompts = ['Title slide. Heading "Quarterly Results".', 'Team slide, heading "Our Team".']
    config = {
        "slides": [{"number": n, "prompt": p} for n, p in enumerate(prompts, 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "format": "jpg",
        "concurrency": 1,
        "check_text": True,
    }
    with serve_in_thread(emulator) as base_url:
        env = environment(base_url, XDG_STATE_HOME=str(tmp_path / "state"))
        async with _connect(env, tmp_path) as session:
            ledger = _Ledger(session)
            started = await ledger.call("start_deck", config=config)
            assert not started.is_error, _text(started)
            assert started.structured_content is not None
            run_id = started.structured_content["run_id"]
            waited = await _follow(ledger, run_id)
            status = await ledger.call("deck_status", run_id=run_id)
            results = await ledger.call("deck_results", run_id=run_id)
    said = "; 1 slide with text to check (2)"
    fix = (
        "; to fix: edit_slide with the right words (text_checks in deck_results); "
        '"fix_text" fixes while making'
    )
    assert said in _text(waited)  # the CLI's final line, as status and wait print it
    for answer in (status, results):
        assert f"{said}{fix}" in _text(answer), _text(answer)
        assert answer.structured_content is not None
        assert answer.structured_content["text_to_check"] == [2]
    assert results.structured_content is not None
    (missed,) = results.structured_content["text_checks"]["2"]["missing"]
    assert missed["expected"] == "Our Team"
    # What status adds to the line wait printed is the fix alone: 101 bytes, once it is over.
    assert _text(status) == _text(waited) + fix


async def test_start_deck_passes_the_tier_to_every_request(tmp_path: Path) -> None:
    recording = RecordingEmulator(
        EmulatorSettings(keys=frozenset({SHAPED_KEY}), latency=False, flex_shed_rate=0.0)
    )
    with serve_in_thread(recording) as base_url:
        env = environment(base_url, XDG_STATE_HOME=str(tmp_path / "state"))
        async with _connect(env, tmp_path) as session:
            ledger = _Ledger(session)
            config = deck_config(tmp_path / "deck", 2, format="jpg")
            started = await ledger.call("start_deck", config=config, service_tier="flex")
            assert not started.is_error, _text(started)
            assert started.structured_content is not None
            waited = await _follow(ledger, started.structured_content["run_id"])
    assert _text(waited).startswith("done 2/2")
    assert [exchange.tier for exchange in recording.exchanges] == ["flex", "flex"]
