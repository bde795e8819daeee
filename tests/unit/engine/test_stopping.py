"""A stop asked from outside: the requests on the wire finish and are saved, nothing new is
sent, and a bounded wait cuts what is left.

The emulator holds every answer until the test opens its gate (:class:`GatedSleep` as its
latency), so a stop lands while requests are surely on the wire; the stop itself is asked
from the progress callback, on what the run reports, and the engine's waits are injected:
nothing here waits for real, nor depends on how fast the machine is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import orjson
from emulator_testing import GatedSleep

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.engine.progress import Progress
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.engine.stopping import stop_grace
from nanobanana_async.results import DeckResult, StopReport

ENV = {"GEMINI_API_KEY": "test-key-0123456789"}


def deck(tmp_path: Path, count: int) -> dict[str, Any]:
    return {
        "slides": [{"number": n, "prompt": f"Slide {n}"} for n in range(1, count + 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "concurrency": 3,
    }


def emulator(gate: GatedSleep | None, script: dict[int, str] | None = None) -> Emulator:
    """The emulator, its answers held by ``gate`` (``None``: answered at once)."""
    if gate is None:
        emu = Emulator(EmulatorSettings(signature_bytes=0, latency=False))
    else:
        emu = Emulator(EmulatorSettings(signature_bytes=0, sleep=gate))
    if script:
        emu.script(script)
    return emu


def in_flight(count: int) -> Callable[[Progress], bool]:
    return lambda progress: len(progress.in_flight) == count


async def run_and_stop(
    tmp_path: Path,
    emu: Emulator,
    when: Callable[[Progress], bool] | None,
    *,
    then: Callable[[], None] = lambda: None,
    count: int = 8,
    **settings: Any,
) -> DeckResult:
    """A deck stopped once a snapshot meets ``when`` (``None``: before it starts); ``then``
    is called once the run reports it is stopping."""
    stop = anyio.Event()
    if when is None:
        stop.set()

    def watch(progress: Progress) -> None:
        if when is not None and when(progress):
            stop.set()
        if progress.state == "stopping":
            then()

    settings.setdefault("retry", RetryPolicy.instant())
    engine = EngineSettings(progress_interval=0.0, **settings)
    with anyio.fail_after(30):  # a stop that waits for what it should not fails, not hangs
        return await generate_deck(
            deck(tmp_path, count),
            settings=engine,
            transport=httpx2.ASGITransport(app=emu),
            env=ENV,
            progress=watch,
            progress_file=tmp_path / "progress.json",
            stop=stop,
        )


async def park(seconds: float) -> None:
    """An engine sleep that never ends by itself: only a cancellation ends it."""
    await anyio.sleep_forever()


def recording(sleeps: list[float]) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()

    return sleep


async def test_a_stop_lets_the_requests_on_the_wire_finish_and_sends_nothing_new(
    tmp_path: Path,
) -> None:
    gate = GatedSleep()
    emu = emulator(gate)
    result = await run_and_stop(tmp_path, emu, in_flight(3), then=gate.open)
    stats = emu.stats()
    assert stats["requests"] == 3  # the three on the wire; nothing after the stop
    assert stats["by_status"] == {"200": 3}  # none cut (499)
    assert result.state == "cancelled"
    assert result.stop == StopReport(finished=3, cut=0)
    assert sorted(o.slide for o in result.outputs) == [1, 2, 3]
    assert all(o.path.is_file() for o in result.outputs)
    assert {e.slide: e.kind for e in result.errors} == dict.fromkeys(range(4, 9), "Cancelled")
    progress = orjson.loads((tmp_path / "progress.json").read_bytes())
    assert progress["state"] == "cancelled"
    assert progress["stop"] == {"finished": 3, "cut": 0}
    assert progress["duration_seconds"] == result.duration_seconds


async def test_the_wait_is_bounded_then_what_is_on_the_wire_is_cut(tmp_path: Path) -> None:
    # The answers never come; the stop's wait (7 s, passed at once here) ends it.
    emu = emulator(GatedSleep())
    sleeps: list[float] = []
    result = await run_and_stop(
        tmp_path, emu, in_flight(3), stop_grace=7.0, sleep=recording(sleeps)
    )
    assert 7.0 in sleeps
    assert emu.stats()["requests"] == 3
    assert emu.stats()["by_status"] == {"499": 3}  # the client left: cut at the bound
    assert result.state == "cancelled"
    assert result.stop == StopReport(finished=0, cut=3)
    assert result.outputs == ()


async def test_no_retry_starts_once_stopping(tmp_path: Path) -> None:
    # Request 1 times out at the service (504) once the run is stopping: retried in a
    # normal run, left unsent here.
    gate = GatedSleep()
    emu = emulator(gate, {1: "504"})
    result = await run_and_stop(tmp_path, emu, in_flight(3), then=gate.open)
    assert emu.stats()["requests"] == 3
    assert result.retries == 0
    assert result.stop == StopReport(finished=2, cut=0)
    assert {e.slide for e in result.errors if e.kind == "Cancelled"} == {1, *range(4, 9)}


async def test_a_slide_backing_off_does_not_hold_the_stop_up(tmp_path: Path) -> None:
    # Request 1 fails at once (500) and its slide backs off, on a sleep that never ends by
    # itself: the stop must end that wait, and send no retry.
    slow = RetryPolicy(backoff_initial=100.0, backoff_max=100.0)
    emu = emulator(None, {1: "500"})

    def backing_off(progress: Progress) -> bool:
        return progress.retries == 1 and progress.current == 1  # slide 2 done, 1 waits

    result = await run_and_stop(tmp_path, emu, backing_off, count=2, retry=slow, sleep=park)
    assert emu.stats()["requests"] == 2  # the 500, then slide 2
    assert result.state == "cancelled"
    assert [o.slide for o in result.outputs] == [2]
    assert [(e.slide, e.kind) for e in result.errors] == [(1, "Cancelled")]


async def test_a_stop_before_anything_is_sent_sends_nothing(tmp_path: Path) -> None:
    emu = emulator(None)
    result = await run_and_stop(tmp_path, emu, None)
    assert emu.stats()["requests"] == 0
    assert result.state == "cancelled"
    assert result.stop == StopReport(finished=0, cut=0)
    assert len(result.errors) == 8


async def test_cancelling_the_run_cuts_at_once(tmp_path: Path) -> None:
    # The second signal's path: the task is cancelled while stopping.
    emu = emulator(GatedSleep())
    results: list[DeckResult] = []

    async with anyio.create_task_group() as group:

        async def deck_run() -> None:
            results.append(
                await run_and_stop(tmp_path, emu, in_flight(3), then=group.cancel_scope.cancel)
            )

        group.start_soon(deck_run)
    assert results == []
    stats = emu.stats()
    assert stats["requests"] == 3
    results_file = orjson.loads((tmp_path / "deck" / "nano-banana-results.json").read_bytes())
    assert results_file["state"] == "cancelled"
    assert results_file["stop"] == {"finished": 0, "cut": 3}


def test_the_default_wait_is_the_request_timeout_capped_at_two_minutes() -> None:
    assert stop_grace(None, 300.0) == 120.0
    assert stop_grace(None, 30.0) == 30.0
    assert stop_grace(5.0, 300.0) == 5.0
