"""The API key never leaves the process except in its one header.

Every byte a run produces is searched for the key (and for either half of it, so a key cut
short for display is caught too): stdout, stderr, the progress and results files, the lock,
the copy of the results and the images in ``output_dir``, and, in process, the text of
every exception, result and progress snapshot. The key comes from the environment or from
a ``${VAR}`` in the config, and the runs include the unhappy ones: a service that echoes the
key back in every kind of answer (upper-cased too, then searched for in any case), a bad
key, a 403, a network that refuses connections, a run cancelled by SIGINT, and configs that
are wrong in the fields near the key.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from engine_testing import (
    PLAIN_KEY,
    SHAPED_KEY,
    deck_config,
    environment,
    files_args,
    read_json,
    run_cli,
    start_run,
    wait_for,
    write_json,
)

from nanobanana_async.config.loading import load_config
from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.emulator.asgi import header, read_body
from nanobanana_async.engine.progress import Progress
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.errors import ConfigError

KEYS = pytest.mark.parametrize("key", [SHAPED_KEY, PLAIN_KEY], ids=["AIza-shaped", "plain"])
# The subprocess runs use the key of no known shape: nothing but scrubbing that exact key
# can hide it, so it is the stricter test (and each run costs a process start).
KEY = PLAIN_KEY


def leaks(blob: bytes, key: str) -> list[str]:
    """The pieces of ``key`` found in ``blob``: the whole key, or either half of it."""
    half = len(key) // 2
    return [piece for piece in (key, key[:half], key[half:]) if piece.encode() in blob]


def everything_written(root: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


class EchoingService(Emulator):
    """A service that puts the caller's key in its answers, in every way it can.

    Each slide of a deck (``Deck slide N: ...``) gets its own kind of answer, by
    ``behaviour[N]``; slides without one get a normal image from the emulator.
    """

    def __init__(self, behaviour: dict[int, str], **settings: Any) -> None:
        settings.setdefault("latency", False)
        settings.setdefault("signature_bytes", 0)
        super().__init__(EmulatorSettings(**settings))
        self.behaviour = behaviour
        self.seen: dict[int, int] = {}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(":generateContent"):
            await super().__call__(scope, receive, send)
            return
        body = await read_body(receive) or b"{}"
        key = header(scope, b"x-goog-api-key") or ""
        prompt = orjson.loads(body)["contents"][0]["parts"][0]["text"]
        slide = int(prompt.split(":")[0].rsplit(" ", 1)[1])
        self.seen[slide] = self.seen.get(slide, 0) + 1
        answer = self._answer(self.behaviour.get(slide, ""), key, self.seen[slide])
        if answer is None:
            replayed = False

            async def replay() -> Any:
                # The body once (it was read above), then the real stream: the emulator
                # watches it for the client going away.
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await super().__call__(scope, replay, send)
            return
        status, payload = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(payload)})

    @staticmethod
    def _answer(kind: str, key: str, attempt: int) -> tuple[int, dict[str, Any]] | None:
        def error(code: int, status: str, message: str, *details: Any) -> dict[str, Any]:
            return {"error": {"code": code, "status": status, "message": message, "details": []}}

        said = f"the key {key} (key={key})"
        if kind == "400":
            return 400, error(400, "INVALID_ARGUMENT", f"Invalid value in request from {said}")
        if kind == "500":
            return 500, error(500, "INTERNAL", f"backend failed for {said}")
        if kind == "429-once" and attempt == 1:
            body = error(429, "RESOURCE_EXHAUSTED", f"Quota exceeded for {said}")
            body["error"]["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.01s"}
            ]
            return 429, body
        if kind == "text":
            part = {"text": f"I cannot draw that, {said}"}
            return 200, {"candidates": [{"content": {"parts": [part]}, "finishReason": "STOP"}]}
        if kind == "blocked":
            return 200, {"promptFeedback": {"blockReason": f"BLOCKED {key}"}}
        if kind == "refused":
            return 200, {"candidates": [{"finishReason": "IMAGE_SAFETY", "content": {}}]}
        if kind == "403":
            return 403, error(
                403, "PERMISSION_DENIED", f"Your API key was reported as leaked: {said}"
            )
        if kind == "bad-key":
            body = error(400, "INVALID_ARGUMENT", f"API key not valid: {said}")
            body["error"]["details"] = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ]
            return 400, body
        return None


MIXED = {2: "400", 3: "500", 4: "429-once", 5: "text", 6: "blocked", 7: "refused"}


@pytest.fixture
def echoing() -> Iterator[Callable[..., str]]:
    """Serve an :class:`EchoingService` on loopback: ``echoing(behaviour, **settings)``."""
    with ExitStack() as stack:

        def start(behaviour: dict[int, str], **settings: Any) -> str:
            url: str = stack.enter_context(serve_in_thread(EchoingService(behaviour, **settings)))
            return url

        yield start


def cli_env(url: str, key: str, via: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The environment and config extras that hand ``key`` over ``via`` env or ``${VAR}``."""
    if via == "env":
        return environment(url, key=key), {}
    env = environment(url, key="")
    del env["GEMINI_API_KEY"]
    env["GOOGLE_API_KEY"] = key
    return env, {"api_key": "${GOOGLE_API_KEY}"}


def run_deck_cli(tmp_path: Path, url: str, key: str, via: str, count: int) -> Any:
    env, extra = cli_env(url, key, via)
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", count, **extra))
    # --time-scale shrinks the backoff between retries, so the 500s do not take a minute.
    return run_cli(
        "run", "--config", str(config), *files_args(tmp_path), "--time-scale", "0.001", env=env
    )


@pytest.mark.parametrize("via", ["env", "var"])
def test_a_service_echoing_the_key_in_every_answer_leaks_nothing(
    tmp_path: Path, echoing: Callable[..., str], via: str
) -> None:
    url = echoing(MIXED)
    done = run_deck_cli(tmp_path, url, KEY, via, 8)
    assert done.returncode == 0, done.stderr
    results = read_json(tmp_path / "results.json")
    assert sorted(e["slide"] for e in results["errors"]) == [2, 3, 5, 6, 7]
    assert [o["slide"] for o in results["outputs"]] == [1, 4, 8]  # 4 after its 429
    assert "***" in orjson.dumps(results["errors"]).decode()  # the echoes were scrubbed
    produced = done.stdout + done.stderr + everything_written(tmp_path)
    assert leaks(produced, KEY) == []


# A key of no known shape, in lower case: the emulator says it back upper-cased, so only a
# redaction blind to case hides it.
LOWER_KEY = "sk-test-lowercase-key-123"
ECHOING: dict[str, dict[str, Any]] = {
    # Every answer a 500 or a 503: retried, then each slide failed in the service's words.
    "faults": {"fail_rate": 1.0, "fail_kinds": ("500", "503")},
    # The key refused: the run stops, its final line quoting the service's answer.
    "refused": {"keys": frozenset({"the-only-key-it-takes"})},
}


@pytest.mark.parametrize("service", sorted(ECHOING))
def test_a_key_echoed_upper_cased_is_found_in_no_case_anywhere(
    tmp_path: Path, service: str
) -> None:
    settings = EmulatorSettings(
        echo_key_upper=True, latency=False, signature_bytes=0, time_scale=0.001,
        **ECHOING[service],
    )  # fmt: skip
    with serve_in_thread(settings) as url:
        done = run_deck_cli(tmp_path, url, LOWER_KEY, "env", 4)
    assert done.returncode == 1, done.stderr
    errors = read_json(tmp_path / "results.json")["errors"]
    # The service's words reached the results, the echo scrubbed out of them.
    assert len(errors) == 4
    assert all(e["error"].endswith("(key ***)") for e in errors), errors
    # Every byte the run wrote, and the quota ledger's folder (the suite's own), in any case.
    ledger = Path(os.environ["XDG_RUNTIME_DIR"])
    produced = done.stdout + done.stderr + everything_written(tmp_path)
    assert leaks((produced + everything_written(ledger)).lower(), LOWER_KEY) == []


@pytest.mark.parametrize("answer", ["403", "bad-key"])
def test_a_run_stopped_by_the_service_leaks_nothing(
    tmp_path: Path, echoing: Callable[..., str], answer: str
) -> None:
    url = echoing(dict.fromkeys(range(1, 5), answer))
    done = run_deck_cli(tmp_path, url, KEY, "var", 4)
    assert done.returncode == 1
    assert read_json(tmp_path / "results.json")["state"] == "failed"
    produced = done.stdout + done.stderr + everything_written(tmp_path)
    assert leaks(produced, KEY) == []


def test_a_network_that_refuses_connections_leaks_nothing(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens once the probe closes
    done = run_deck_cli(tmp_path, f"http://127.0.0.1:{port}", KEY, "env", 2)
    assert done.returncode == 1
    results = read_json(tmp_path / "results.json")
    assert all(e["error"].startswith("connection failed") for e in results["errors"])
    produced = done.stdout + done.stderr + everything_written(tmp_path)
    assert leaks(produced, KEY) == []


def test_a_cancelled_run_leaks_nothing(tmp_path: Path, echoing: Callable[..., str]) -> None:
    url = echoing({}, latency=True, time_scale=0.05)
    env, extra = cli_env(url, KEY, "var")
    config = write_json(
        tmp_path / "slides.json", deck_config(tmp_path / "deck", 6, concurrency=2, **extra)
    )
    process = start_run(config, tmp_path, env)
    progress = tmp_path / "progress.json"

    def in_flight() -> bool:
        try:
            data = orjson.loads(progress.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return False
        return bool(data.get("in_flight"))

    assert wait_for(lambda: in_flight() or process.poll() is not None)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert read_json(tmp_path / "results.json")["state"] == "cancelled"
    assert leaks(out + err + everything_written(tmp_path), KEY) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"api_key": "${GOOGLE_API_KEY} trailing words"},
        {"api_key": "${GOOGLE_API_KEY}", "base_url": "${GOOGLE_API_KEY}"},
        {"base_url": "http://user:${GOOGLE_API_KEY}@host:notaport"},
        {"model": "${GOOGLE_API_KEY}"},
        {"output_dir": "${GOOGLE_API_KEY}"},
        {"api_key": "${GOOGLE_API_KEY}", "slides": "not a list"},
    ],
)
def test_config_errors_near_the_key_never_quote_it(tmp_path: Path, fields: dict[str, Any]) -> None:
    env = {"GOOGLE_API_KEY": SHAPED_KEY, "GEMINI_API_KEY": SHAPED_KEY}
    config = deck_config(tmp_path / "deck", 1) | fields
    with pytest.raises(ConfigError) as raised:  # at loading, or where a request would go
        load_config(config, env=env).require_key()
    assert leaks(str(raised.value).encode() + repr(raised.value).encode(), SHAPED_KEY) == []
    path = write_json(tmp_path / "slides.json", config)
    done = run_cli("run", "--config", str(path), *files_args(tmp_path), env=env)
    assert done.returncode == 2
    assert leaks(done.stdout + done.stderr + everything_written(tmp_path), SHAPED_KEY) == []


@KEYS
async def test_in_process_nothing_returned_raised_or_reported_holds_the_key(
    tmp_path: Path, key: str
) -> None:
    service = EchoingService(MIXED)
    seen: list[Progress] = []
    texts: list[str] = []
    # A short quota window: the 429 teaches the engine a rate per (scaled) minute.
    settings = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0, time_scale=0.001)
    config = deck_config(tmp_path / "deck", 8, api_key="${GOOGLE_API_KEY}", format="jpg")
    result = await generate_deck(
        config,
        settings=settings,
        transport=httpx2.ASGITransport(app=service),
        env={"GOOGLE_API_KEY": key},
        progress=seen.append,
        progress_file=tmp_path / "progress.json",
        results_file=tmp_path / "results.json",
    )
    assert result.failed == 5
    texts += [repr(result), result.to_json().decode(), *(repr(p) for p in seen)]
    texts += [p.to_json().decode() for p in seen]
    texts.append(repr(load_config(config, env={"GOOGLE_API_KEY": key})))

    # A run stopped by the service, and one that cannot even start, raise or report cleanly.
    stopped = await generate_deck(
        config,
        settings=settings,
        transport=httpx2.ASGITransport(app=EchoingService(dict.fromkeys(range(1, 9), "403"))),
        env={"GOOGLE_API_KEY": key},
    )
    texts += [repr(stopped), stopped.to_json().decode()]
    unwritable: list[dict[str, Path]] = [
        {"results_file": tmp_path / "missing" / "r.json"},
        {"progress_file": tmp_path},
    ]
    for files in unwritable:
        with pytest.raises(ConfigError) as raised:
            await generate_deck(
                config,
                settings=settings,
                transport=httpx2.ASGITransport(app=service),
                env={"GOOGLE_API_KEY": key},
                progress_file=files.get("progress_file"),
                results_file=files.get("results_file"),
            )
        texts += [str(raised.value), repr(raised.value)]
    produced = "\n".join(texts).encode() + everything_written(tmp_path)
    assert leaks(produced, key) == []
