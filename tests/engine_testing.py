"""Helpers shared by the tests that attack the engine: a recording emulator, decks, checks.

:class:`RecordingEmulator` is the real emulator with a tap on its ASGI interface: for every
``generateContent`` exchange it keeps the prompt that was asked for, when the request
arrived, and what the client was told, judged with the client's own parser
(:mod:`nanobanana_async.service.protocol`). Each slide of a test deck has its own prompt, so a test
can say which slides were requested, how often, and how many images were actually delivered
for each: "none generated twice" means at most one delivered image per prompt.

Times are ``time.monotonic()``, which on Linux is one clock for every process, so arrivals
can be compared with the moment a test sent a signal to a subprocess.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from PIL import Image

from nanobanana_async.emulator import Emulator
from nanobanana_async.errors import ApiError, QuotaExhausted, RateLimited
from nanobanana_async.service.protocol import classify_error, parse_success

# A realistic key (the "AIza" shape the redactor also knows) and one of no known shape, so
# the tests catch a leak whether or not the shape-based scrubbing would have hidden it.
SHAPED_KEY = "AIzaSyAttackTests-0123456789abcdefghijk"
PLAIN_KEY = "plain-secret-9f3c27e1b5d84a06"
assert len(SHAPED_KEY) == 39

_GENERATE = re.compile(r"^/(v1|v1beta)/models/([^/]+):generateContent$")
_SLIDE = re.compile(r"^Deck slide (\d+):")

Scope = MutableMapping[str, Any]


@dataclass(slots=True)
class Exchange:
    """One ``generateContent`` request and what became of it.

    Attributes:
        slide: the slide whose prompt was sent (``0`` when the prompt is not a deck's).
        arrived: when the app was called (``time.monotonic()``).
        answered: when the last byte of the answer was handed to the server, if ever.
        status: the status sent, or ``None`` when no answer started (the client left).
        outcome: ``image`` (a whole answer with an image), ``dropped`` (the connection was
            cut mid-answer), ``gone`` (no answer), or the name of the error type the client
            classifies the answer as (``TransientError``, ``RateLimited``, ...).
        retry_delay: the delay a 429 announced (``RetryInfo``), in seconds.
        tier: the ``serviceTier`` the body asked for (standard when it names none).
    """

    slide: int
    arrived: float
    answered: float | None
    status: int | None
    outcome: str
    retry_delay: float | None
    tier: str = "standard"


class RecordingEmulator(Emulator):
    """The emulator, recording every ``generateContent`` exchange in :attr:`exchanges`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exchanges: list[Exchange] = []
        self._record_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _GENERATE.match(scope["path"]):
            await super().__call__(scope, receive, send)
            return
        arrived = time.monotonic()
        request: list[bytes] = []
        answer: list[bytes] = []
        state: dict[str, Any] = {"status": None, "gzip": False, "answered": None}

        async def tapped_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                request.append(message.get("body", b""))
            return message

        async def tapped_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["gzip"] = (b"content-encoding", b"gzip") in message.get("headers", [])
            await send(message)
            if message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
                if not message.get("more_body", False):
                    state["answered"] = time.monotonic()

        try:
            await super().__call__(scope, tapped_receive, tapped_send)
        finally:
            exchange = _judge(b"".join(request), arrived, state, b"".join(answer))
            with self._record_lock:
                self.exchanges.append(exchange)

    def by_slide(self) -> dict[int, list[Exchange]]:
        """The exchanges of each slide, in arrival order."""
        found: dict[int, list[Exchange]] = {}
        for exchange in sorted(self.exchanges, key=lambda e: e.arrived):
            found.setdefault(exchange.slide, []).append(exchange)
        return found

    def images_delivered(self) -> dict[int, int]:
        """Slide -> whole answers with an image that reached the client."""
        counts: dict[int, int] = {}
        for exchange in self.exchanges:
            if exchange.outcome == "image":
                counts[exchange.slide] = counts.get(exchange.slide, 0) + 1
        return counts

    def requested(self) -> set[int]:
        """Slides whose prompt was sent at least once."""
        return {exchange.slide for exchange in self.exchanges}


def _judge(body: bytes, arrived: float, state: dict[str, Any], raw: bytes) -> Exchange:
    slide = 0
    tier = "standard"
    try:
        tier = str(orjson.loads(body).get("serviceTier") or tier)
        prompt = orjson.loads(body)["contents"][0]["parts"][0]["text"]
        match = _SLIDE.match(prompt)
        slide = int(match.group(1)) if match else 0
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        pass
    status: int | None = state["status"]
    answered: float | None = state["answered"]
    delay: float | None = None
    if status is None:
        outcome = "gone"
    elif answered is None:
        outcome = "dropped"
    else:
        data = gzip.decompress(raw) if state["gzip"] else raw
        try:
            if status == 200:
                parse_success(data)
                outcome = "image"
            else:
                error = classify_error(status, data)
                outcome = type(error).__name__
                if isinstance(error, RateLimited | QuotaExhausted):
                    delay = error.retry_delay
        except ApiError as error:
            outcome = type(error).__name__
    return Exchange(slide, arrived, answered, status, outcome, delay, tier)


def deck_config(output_dir: Path, count: int, **extra: Any) -> dict[str, Any]:
    """A deck of ``count`` slides, each with its own prompt ("Deck slide N: ...")."""
    config: dict[str, Any] = {
        "slides": [
            {"number": n, "prompt": f"Deck slide {n}: topic number {n}"}
            for n in range(1, count + 1)
        ],
        "output_dir": str(output_dir),
        "image_size": "1K",
    }
    config.update(extra)
    return config


def write_json(path: Path, data: Any) -> Path:
    path.write_bytes(orjson.dumps(data))
    return path


def leftovers(deck: Path) -> list[str]:
    """Hidden entries of ``deck`` besides its own bookkeeping: temporary or staged files."""
    from nanobanana_async.engine.manifest import MANIFEST_NAME
    from nanobanana_async.files.deck_folders import DECK_FOLDERS
    from nanobanana_async.files.lock import DECK_LOCK_NAME

    bookkeeping = {DECK_LOCK_NAME, MANIFEST_NAME, *DECK_FOLDERS}
    return sorted(p.name for p in deck.glob(".*") if p.name not in bookkeeping)


def jpeg_bytes(size: tuple[int, int] = (320, 180)) -> bytes:
    """A small whole JPEG: what a killed run may have received and staged (``.received``)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def decodes(path: Path) -> bool:
    """Whether ``path`` is a whole image (every pixel decodes)."""
    try:
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            image.load()
    except Exception:
        return False
    return True


def check_results_match_disk(results: Mapping[str, Any], output_dir: Path, total: int) -> None:
    """The results account for every slide once, and say exactly what is on disk."""
    outputs = results["outputs"]
    errors = results["errors"]
    slides = [o["slide"] for o in outputs] + [e["slide"] for e in errors]
    assert sorted(slides) == list(range(1, total + 1)), slides
    assert results["completed"] == len(outputs)
    assert results["failed"] == len(errors)
    assert results["total"] == total
    listed = set()
    for output in outputs:
        path = Path(output["path"])
        assert path.parent == output_dir
        assert decodes(path), f"{path} does not decode"
        assert output["size_kb"] == path.stat().st_size // 1024
        listed.add(path.name)
    on_disk = {p.name for p in output_dir.iterdir() if p.name.startswith("slide-")}
    assert on_disk == listed, (on_disk, listed)
    assert not [p for p in output_dir.iterdir() if p.name.endswith(".tmp")]


def quiet_windows(exchanges: Iterable[Exchange]) -> list[tuple[float, float]]:
    """The (start, end) of every retry delay a 429 announced, from when it was answered."""
    return [
        (e.answered, e.answered + e.retry_delay)
        for e in exchanges
        if e.status == 429 and e.retry_delay is not None and e.answered is not None
    ]


def sent_during_delays(
    exchanges: list[Exchange], slack: float = 1e-3, read_lag: float = 0.05
) -> int:
    """The most requests that arrived inside any one announced retry delay, from
    ``read_lag`` after its 429 was answered.

    A request already on its way when the 429 left can land inside the window (at most
    ``concurrency - 1`` of them); one sent after the client read the 429 cannot. The
    client reads it some time after the emulator answered: the emulator's thread shares
    the test process's GIL with the client, and with its renders a 429 answered at 0 was
    read at 37 ms (seen in a failing run), while slots freed meanwhile sent four requests
    into a 26 ms delay the client had not heard of yet. So the window counts from
    ``read_lag`` on; a client that ignored the delay still sends into the rest of it.
    """
    worst = 0
    for start, end in quiet_windows(exchanges):
        inside = [e for e in exchanges if start + read_lag < e.arrived < end - slack]
        worst = max(worst, len(inside))
    return worst


# -- the command as a subprocess ---------------------------------------------------------


def environment(base_url: str, key: str = SHAPED_KEY, **extra: str) -> dict[str, str]:
    """The test process's environment without any Gemini settings, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "NANO"))}
    env.update({"GEMINI_API_KEY": key, "GOOGLE_GEMINI_BASE_URL": base_url}, **extra)
    return env


def files_args(tmp_path: Path) -> list[str]:
    return [
        "--progress-file",
        str(tmp_path / "progress.json"),
        "--results-file",
        str(tmp_path / "results.json"),
    ]


def start_run(
    config: Path, tmp_path: Path, env: dict[str, str], *extra: str, **popen: Any
) -> subprocess.Popen[bytes]:
    """``nanobanana run`` in the background, its output captured as bytes."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nanobanana_async",
            "run",
            "--config",
            str(config),
            *files_args(tmp_path),
            "--quiet",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    text: bool = False,
    timeout: float = 120,
) -> Any:
    """``nanobanana ARGS`` to the end; the completed process (bytes, or ``text``)."""
    return subprocess.run(
        [sys.executable, "-m", "nanobanana_async", *args],
        capture_output=True,
        text=text,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def prompts_config(tmp_path: Path, prompts: Iterable[str], **extra: Any) -> Path:
    """``tmp_path/slides.json``: a 1K deck in ``tmp_path/deck``, one slide a prompt, made one
    at a time (request N is slide N), and ``extra``."""
    config = {
        "slides": [{"number": n, "prompt": p} for n, p in enumerate(prompts, 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "concurrency": 1,
        **extra,
    }
    path = tmp_path / "slides.json"
    path.write_bytes(orjson.dumps(config) + b"\n")
    return path


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def wait_for(condition: Any, timeout: float = 30.0, interval: float = 0.01) -> bool:
    """Poll ``condition()`` until it is true (the one real wait: a subprocess's progress)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def vertex_credentials(folder: Path, base_url: str) -> Path:
    """A service-account key file (for ``GOOGLE_APPLICATION_CREDENTIALS``) whose token
    endpoint is the emulator's at ``base_url``: google-auth honours a service account's
    ``token_uri`` (a gcloud user file's it overrides with Google's)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return write_json(
        folder / "adc.json",
        {
            "type": "service_account",
            "project_id": "deck-project",
            "private_key_id": "key-1",
            "private_key": pem.decode(),
            "client_email": "deck@deck-project.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": f"{base_url}/token",
        },
    )
