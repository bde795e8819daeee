"""Crashes and signals, with real subprocesses and real signals.

* SIGKILL at several moments of a run (before the first request, with requests on the
  wire, while an image is being written, after some images are saved): the progress file
  is always valid JSON, every image under its final name decodes, and ``--resume``
  finishes the deck without asking again for any slide whose image was already saved.
* SIGINT and SIGTERM with requests on the wire: nothing new is sent, those requests finish
  and their images are saved (the emulator answers every one of them), the progress and
  results files say ``cancelled``, and the exit code is 130 or 143.
* A second signal, with requests on the wire or while a 4K image is being converted, and
  one signal during a long 429 pause: the run ends at once, abandoning the requests in
  flight (the emulator sees the client leave). "At once" is shown by what could not have
  happened had the run waited (an answer that takes 17 s, the end of a minute's pause, a
  finished image), never by a stopwatch: the figures are measured in ``benchmarks/``.

The only real waiting is polling the subprocess's progress file, output folder and the
emulator's counts.
"""

from __future__ import annotations

import base64
import io
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_testing import (
    RecordingEmulator,
    check_results_match_disk,
    deck_config,
    decodes,
    environment,
    leftovers,
    read_json,
    start_run,
    wait_for,
    write_json,
)
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.emulator.asgi import read_body

SEED_FIELDS = ("current", "total", "status", "completed", "failed", "started_at", "updated_at")


@pytest.fixture
def served() -> Iterator[Callable[..., tuple[RecordingEmulator, str]]]:
    """Start a recording emulator on loopback: ``served(script, **settings)``."""
    with ExitStack() as stack:

        def start(
            script: dict[int, str] | None = None, **settings: Any
        ) -> tuple[RecordingEmulator, str]:
            settings.setdefault("signature_bytes", 0)
            emulator = RecordingEmulator(EmulatorSettings(**settings))
            if script:
                emulator.script(script)
            return emulator, stack.enter_context(serve_in_thread(emulator))

        yield start


def progress_of(path: Path, pid: int) -> dict[str, Any] | None:
    """The progress snapshot if this process wrote it (a killed run's may linger)."""
    try:
        data: dict[str, Any] = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    return data if data.get("pid") == pid else None


def saved_slides(deck: Path) -> set[int]:
    """Slides whose image is under its final name (whole or not: the test checks that)."""
    return {int(p.name[6:8]) for p in deck.glob("slide-*.webp")}


def kept_slides(deck: Path) -> set[int]:
    """Slides already paid for: saved, or received and staged for conversion."""
    staged = {int(p.name[7:9]) for p in deck.glob(".slide-*.webp.received") if decodes(p)}
    return saved_slides(deck) | staged


def check_after_kill(tmp_path: Path, deck: Path) -> None:
    progress = tmp_path / "progress.json"
    if progress.exists():
        data = orjson.loads(progress.read_bytes())  # never torn
        assert all(field in data for field in SEED_FIELDS)
    for image in deck.glob("slide-*"):
        assert decodes(image), f"{image.name} is under its final name but not whole"


Condition = Callable[[subprocess.Popen[bytes], set[int]], bool]


def run_until_killed(
    config: Path,
    tmp_path: Path,
    env: dict[str, str],
    condition: Condition,
    jitter: float,
) -> tuple[float, set[int], list[str] | None]:
    """Run ``--resume`` and SIGKILL it once ``condition`` holds, ``jitter`` s later at most.

    Returns:
        When the run started, the slides saved before it, and the temporary files present
        at the kill (``None``: the run finished before the kill point).
    """
    deck = config.parent / "deck"
    before = kept_slides(deck)
    process = start_run(config, tmp_path, env, "--resume")
    started = time.monotonic()

    def reached() -> bool:
        return process.poll() is not None or condition(process, before)

    assert wait_for(reached, 30)
    # A little further, by a random amount: the moments between the conditions count too.
    wait_for(lambda: process.poll() is not None or time.monotonic() > started + jitter, 1)
    if process.poll() is not None:
        process.communicate()
        return started, before, None
    temps = sorted(p.name for p in deck.glob(".*.tmp"))
    process.kill()
    process.communicate(timeout=30)
    return started, before, temps


def test_sigkill_at_any_moment_then_resume_completes_without_paying_twice(
    tmp_path: Path, served: Callable[..., tuple[RecordingEmulator, str]]
) -> None:
    total = 24  # room for every kill point on a loaded machine (a parallel suite)
    # Real latencies shrunk two-hundredfold: 85-145 ms a request, so a run takes about a
    # second and every kill point below is reachable.
    emulator, url = served(time_scale=0.005)
    deck = tmp_path / "deck"
    config = write_json(tmp_path / "slides.json", deck_config(deck, total, concurrency=3))
    progress_file = tmp_path / "progress.json"
    env = environment(url)
    rng = random.Random(20260116)

    def snapshot_written(process: subprocess.Popen[bytes], before: set[int]) -> bool:
        return progress_of(progress_file, process.pid) is not None

    def requests_on_the_wire(process: subprocess.Popen[bytes], before: set[int]) -> bool:
        return bool((progress_of(progress_file, process.pid) or {}).get("in_flight"))

    def image_being_written(process: subprocess.Popen[bytes], before: set[int]) -> bool:
        # A write lasts milliseconds and polling may miss it: then kill a few images in.
        writing = any(p.name.endswith(".tmp") for p in deck.glob(".slide-*"))
        return writing or len(saved_slides(deck) - before) >= 3

    def saved(count: int) -> Condition:
        return lambda process, before: len(saved_slides(deck) - before) >= count

    kill_points: list[tuple[str, Condition]] = [
        ("its first progress snapshot", snapshot_written),
        ("requests on the wire", requests_on_the_wire),
        ("an image being written", image_being_written),
        ("one more image saved", saved(1)),
        ("two more images saved", saved(2)),
    ]
    kills: list[str] = []
    for name, condition in kill_points:
        started, before, temps = run_until_killed(
            config, tmp_path, env, condition, rng.uniform(0.0, 0.05)
        )
        if temps is None:
            break  # finished before this kill point: nothing left to kill
        kills.append(name)
        print(
            f"killed at {name}: {len(saved_slides(deck))} saved, "
            f"{len(kept_slides(deck) - saved_slides(deck))} staged, temps {temps}"
        )
        check_after_kill(tmp_path, deck)
        asked = {e.slide for e in emulator.exchanges if e.arrived >= started}
        assert not asked & before, f"after a kill at {name}: asked again for {asked & before}"
    assert len(kills) >= 4, kills

    before = kept_slides(deck)
    started = time.monotonic()
    process = start_run(config, tmp_path, env, "--resume")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert b"Traceback" not in err
    asked = {e.slide for e in emulator.exchanges if e.arrived >= started}
    assert asked == set(range(1, total + 1)) - before
    results = read_json(tmp_path / "results.json")
    check_results_match_disk(results, deck, total)
    assert results["completed"] == total
    assert {o["slide"] for o in results["outputs"] if o.get("reused")} == before
    assert read_json(progress_file)["state"] == "done"
    assert leftovers(deck) == []  # no temporary or staged file left
    # Every slide was paid for at least once. More than once only for images that were on
    # the wire, or received and not yet staged, when a SIGKILL came: that is the price of
    # a crash; what resume saves is everything already on disk (checked above).
    delivered = emulator.images_delivered()
    assert set(delivered) == set(range(1, total + 1))
    print(f"images delivered: {sum(delivered.values())} for {total} slides, {len(kills)} kills")


def wait_in_flight(process: subprocess.Popen[bytes], progress_file: Path) -> None:
    def in_flight() -> bool:
        return bool((progress_of(progress_file, process.pid) or {}).get("in_flight"))

    assert wait_for(lambda: in_flight() or process.poll() is not None, 30)
    assert process.poll() is None, "the run ended before it could be interrupted"


def stopping(progress_file: Path, process: subprocess.Popen[bytes]) -> bool:
    """Whether the run says it took the first signal (or ended)."""
    state = (progress_of(progress_file, process.pid) or {}).get("state")
    return state == "stopping" or process.poll() is not None


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_lets_the_requests_on_the_wire_finish_and_saves_them(
    tmp_path: Path,
    served: Callable[..., tuple[RecordingEmulator, str]],
    signum: signal.Signals,
    code: int,
) -> None:
    # Latencies shrunk fivefold (3.4-5.8 s a request): once three requests are on the
    # wire, none is answered before the signal lands, and nothing else can be sent.
    emulator, url = served(time_scale=0.2)
    deck = tmp_path / "deck"
    config = write_json(tmp_path / "slides.json", deck_config(deck, 8, concurrency=3))
    process = start_run(config, tmp_path, environment(url))
    assert wait_for(lambda: emulator.stats()["in_flight"] == 3 or process.poll() is not None, 30)
    assert process.poll() is None, "the run ended before it could be interrupted"

    process.send_signal(signum)
    out, err = process.communicate(timeout=60)

    assert process.returncode == code, err
    assert b"Traceback" not in err
    assert out.startswith(b"stopped: 3 in flight finished and saved, 3 of 8 saved in "), out
    assert len(out.splitlines()) == 1
    # The three were answered, their images saved; nothing was sent after the signal.
    assert [e.outcome for e in emulator.exchanges] == ["image"] * 3
    assert emulator.stats()["requests"] == 3
    assert emulator.stats()["by_status"] == {"200": 3}
    results = read_json(tmp_path / "results.json")
    assert results["state"] == "cancelled"
    assert results["stop"] == {"finished": 3, "cut": 0}
    check_results_match_disk(results, deck, 8)
    assert saved_slides(deck) == {e.slide for e in emulator.exchanges}
    assert all(decodes(image) for image in deck.glob("slide-*.webp"))
    assert {e["kind"] for e in results["errors"]} == {"Cancelled"}
    progress = read_json(tmp_path / "progress.json")
    assert progress["state"] == "cancelled"
    assert progress["in_flight"] == []


def test_a_second_signal_cuts_the_requests_on_the_wire(
    tmp_path: Path, served: Callable[..., tuple[RecordingEmulator, str]]
) -> None:
    # Real latency (17-29 s a request): none can be answered before the run ends, so what
    # the emulator saw proves the run abandoned them, with no clock to read.
    emulator, url = served(time_scale=1.0)
    deck = tmp_path / "deck"
    config = write_json(tmp_path / "slides.json", deck_config(deck, 8, concurrency=3))
    progress_file = tmp_path / "progress.json"
    process = start_run(config, tmp_path, environment(url))
    assert wait_for(lambda: emulator.stats()["in_flight"] == 3 or process.poll() is not None, 30)
    assert process.poll() is None, "the run ended before it could be interrupted"

    process.send_signal(signal.SIGINT)
    assert wait_for(lambda: stopping(progress_file, process), 30)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, err  # the first signal's code
    assert b"Traceback" not in err
    assert out.startswith(b"stopped at once: 3 in flight cut, 0 of 8 saved in "), out
    progress = read_json(progress_file)
    assert progress["state"] == "cancelled"
    assert progress["in_flight"] == []
    results = read_json(tmp_path / "results.json")
    assert results["state"] == "cancelled"
    assert results["stop"] == {"finished": 0, "cut": 3}
    check_results_match_disk(results, deck, 8)
    assert {e["kind"] for e in results["errors"]} == {"Cancelled"}
    # The three requests on the wire were abandoned, not waited for, and none followed.
    assert wait_for(lambda: len(emulator.exchanges) == 3, 10)
    assert [e.outcome for e in emulator.exchanges] == ["gone"] * 3
    assert emulator.stats()["requests"] == 3


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_a_long_rate_limit_pause_at_once(
    tmp_path: Path, served: Callable[..., tuple[RecordingEmulator, str]], signum: signal.Signals
) -> None:
    # One request a minute: the second request meets a 429 that announces about a minute,
    # and the engine pauses every worker for that long. The run must end inside the pause.
    emulator, url = served(rpm=1, latency=False)
    deck = tmp_path / "deck"
    config = write_json(tmp_path / "slides.json", deck_config(deck, 4, concurrency=2))
    progress_file = tmp_path / "progress.json"
    process = start_run(config, tmp_path, environment(url))

    def pause_end() -> str | None:
        waiting: str | None = (progress_of(progress_file, process.pid) or {}).get("waiting_until")
        return waiting

    assert wait_for(lambda: pause_end() is not None or process.poll() is not None, 30)
    assert process.poll() is None
    waiting_until = pause_end()
    assert waiting_until is not None
    requests = emulator.stats()["requests"]
    process.send_signal(signum)
    _, err = process.communicate(timeout=90)
    assert process.returncode == (130 if signum == signal.SIGINT else 143), err
    assert b"Traceback" not in err
    results = read_json(tmp_path / "results.json")
    assert results["state"] == "cancelled"
    # Ended inside the pause (both stamps are the run's own wall clock, whole seconds, and
    # the pause's end is rounded up), having sent nothing more.
    assert results["completed_at"] < waiting_until
    assert emulator.stats()["requests"] == requests


def cpu_seconds(pid: int) -> float:
    """CPU time a live process has used, all threads (Linux ``/proc``); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class NoisyService(Emulator):
    """Answers every request at once with one 4K photo-like (noisy) JPEG.

    Converting that to lossless WebP takes many seconds of CPU: the worst case for a
    run told to stop while it is saving an image.
    """

    def __init__(self) -> None:
        super().__init__(EmulatorSettings(latency=False))
        noise = Image.effect_noise((5504, 3072), 60).convert("RGB")
        buffer = io.BytesIO()
        noise.save(buffer, "JPEG", quality=95)
        part = {
            "inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(buffer.getvalue())}
        }
        answer = {"candidates": [{"content": {"parts": [part]}, "finishReason": "STOP"}]}
        self.body = orjson.dumps(answer, default=lambda b: b.decode())

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(":generateContent"):
            await super().__call__(scope, receive, send)
            return
        await read_body(receive)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def test_a_second_signal_during_a_long_image_conversion_ends_the_run_at_once(
    tmp_path: Path,
) -> None:
    # The first signal lets the conversion go on (the image is the one being saved); the
    # second must not wait for it.
    deck = tmp_path / "deck"
    # Lossless WebP at 4K: seconds of encoding per image, on top of any machine's noise.
    lossless = deck_config(deck, 2, concurrency=2, image_size="4K")
    for slide in lossless["slides"]:
        slide["lossless"] = True
    config = write_json(tmp_path / "slides.json", lossless)
    with serve_in_thread(NoisyService()) as url:
        process = start_run(config, tmp_path, environment(url))
        staged = deck / ".slide-01.webp.received"
        assert wait_for(lambda: staged.exists() or process.poll() is not None, 60)
        # Staged, and then half a second of CPU spent: the conversion is under way.
        spent = cpu_seconds(process.pid)
        assert wait_for(lambda: cpu_seconds(process.pid) > spent + 0.5, 60)
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        assert wait_for(lambda: stopping(tmp_path / "progress.json", process), 30)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert b"Traceback" not in err
    results = read_json(tmp_path / "results.json")
    assert results["state"] == "cancelled"
    assert results["completed"] == 0
    # The image was paid for: it waits, as received, for --resume to save it.
    assert decodes(staged)
    errors = {e["slide"]: e["error"] for e in results["errors"]}
    assert "--resume saves it without asking again" in errors[1]
    assert not list(deck.glob("slide-*"))  # nothing half-written under a final name
