"""A run through the Batch API, engine and emulator on one virtual clock: nobody waits.

What must hold: one batch per deck however the run is interrupted (the emulator counts the
creates), each response judged and saved as a slide's own answer is, half the price, a
partial batch keeping what succeeded, an expired one sent again by the next run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import orjson
import pytest

from nanobanana_async.emulator import Emulator, EmulatorSettings, VirtualTime
from nanobanana_async.engine.manifest import MANIFEST_NAME
from nanobanana_async.engine.progress import Progress
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.follow.summary import result_line
from nanobanana_async.results import DeckResult

KEY = "test-key-0123456789"
ENV = {"GEMINI_API_KEY": KEY}


def _deck(tmp_path: Path, count: int, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "slides": [{"number": n, "prompt": f"Slide {n}: topic {n}"} for n in range(1, count + 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "mode": "batch-api",
    }
    config.update(extra)
    return config


class _Bench:
    """An emulator and runs of the engine against it, on one virtual clock."""

    def __init__(self, **settings: Any) -> None:
        self.time = VirtualTime()
        settings.setdefault("latency", False)
        settings.setdefault("batch_latency", 600.0)  # ten minutes PENDING, ten RUNNING
        settings.setdefault("signature_bytes", 16)  # small answers: the test is not about size
        self.emu = Emulator(
            EmulatorSettings(clock=self.time.clock, sleep=self.time.sleep, seed=3, **settings)
        )
        self.snapshots: list[Progress] = []
        self.stop = anyio.Event()  # set: the run now going is cancelled, as by SIGTERM

    def settings(self, **extra: Any) -> EngineSettings:
        return EngineSettings(
            retry=RetryPolicy.instant(),
            progress_interval=0.0,
            clock=self.time.clock,
            sleep=self.time.sleep,
            **extra,
        )

    async def run(
        self,
        config: dict[str, Any],
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        stop_when: Callable[[Progress], bool] | None = None,
        settings: EngineSettings | None = None,
        **kwargs: Any,
    ) -> DeckResult | None:
        """The run to its end, or cancelled (as SIGTERM does) once ``stop_when`` holds.

        As the command's signal watcher does, a task of its own cancels the run, once.
        """
        done: list[DeckResult] = []
        stop = self.stop = anyio.Event()

        def seen(progress: Progress) -> None:
            self.snapshots.append(progress)
            if stop_when is not None and stop_when(progress):
                stop.set()

        async def go() -> None:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    await stop.wait()
                    group.cancel_scope.cancel()

                async def engine() -> None:
                    done.append(
                        await generate_deck(
                            config,
                            settings=settings or self.settings(),
                            transport=transport or httpx2.ASGITransport(app=self.emu),
                            env=ENV,
                            progress=seen,
                            **kwargs,
                        )
                    )
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                group.start_soon(engine)

        await self.time.run(go())
        return done[0] if done else None

    def created(self) -> int:
        count: int = self.emu.stats()["batches"]["created"]
        return count


def _states(snapshots: list[Progress]) -> list[str]:
    seen: list[str] = []
    for snapshot in snapshots:
        state = (snapshot.batch or {}).get("state")
        if state and (not seen or seen[-1] != state):
            seen.append(state)
    return seen


def _manifest(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((tmp_path / "deck" / MANIFEST_NAME).read_bytes())
    return data


async def test_a_deck_goes_as_one_batch_and_costs_half(tmp_path: Path) -> None:
    bench = _Bench()
    result = await bench.run(_deck(tmp_path, 5))
    assert result is not None
    assert result.completed == 5
    assert bench.created() == 1
    assert bench.emu.stats()["requests"] == 0  # not one generateContent
    assert _states(bench.snapshots) == ["SUBMITTING", "PENDING", "RUNNING", "SUCCEEDED"]
    assert all((tmp_path / "deck" / f"slide-{n:02d}.webp").is_file() for n in range(1, 6))
    assert "batch" not in _manifest(tmp_path)  # collected: nothing left to wait for
    # The same deck, one request a slide, on the same seed: twice the price.
    standard = _Bench()
    alone = await standard.run(_deck(tmp_path / "alone", 5, mode="standard"))
    assert alone is not None
    assert alone.cost_usd is not None
    assert result.cost_usd == pytest.approx(alone.cost_usd / 2, rel=1e-6)


async def test_big_answers_go_through_an_uploaded_file(tmp_path: Path) -> None:
    bench = _Bench()
    result = await bench.run(_deck(tmp_path, 2, image_size="4K"))
    assert result is not None
    assert result.completed == 2
    assert bench.emu.stats()["files"]["uploaded"] == 1
    assert bench.created() == 1
    assert not (tmp_path / "deck" / ".nano-banana-batch-results.jsonl").exists()


async def test_a_failed_request_fails_its_slide_and_the_rest_are_kept(tmp_path: Path) -> None:
    bench = _Bench()
    bench.emu.script_batches(requests={"slide-2": "blocked", "slide-4": "400"})
    result = await bench.run(_deck(tmp_path, 5))
    assert result is not None
    assert result.completed == 3
    assert {e.slide: e.kind for e in result.errors} == {2: "PromptBlocked", 4: "BadRequest"}
    assert bench.created() == 1


async def test_an_expired_batch_fails_its_slides_and_the_next_run_sends_them_again(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    bench.emu.script_batches(outcomes={1: "expired"})
    first = await bench.run(_deck(tmp_path, 4))
    assert first is not None
    assert first.completed == 0
    assert {e.kind for e in first.errors} == {"BatchExpired"}
    second = await bench.run(_deck(tmp_path, 4))
    assert second is not None
    assert second.completed == 4
    assert bench.created() == 2


def _submitting(progress: Progress) -> bool:
    return (progress.batch or {}).get("state") == "SUBMITTING"


def _named(progress: Progress) -> bool:
    return bool((progress.batch or {}).get("name"))


def _running(progress: Progress) -> bool:
    return (progress.batch or {}).get("state") == "RUNNING"


def _saving(progress: Progress) -> bool:
    return progress.succeeded >= 2


@pytest.mark.parametrize(
    "stop_when",
    [_submitting, _named, _running, _saving],
    ids=["before-create", "after-create-answer", "while-running", "while-saving"],
)
async def test_a_run_stopped_anywhere_is_resumed_without_a_second_batch(
    tmp_path: Path, stop_when: Callable[[Progress], bool]
) -> None:
    bench = _Bench()
    assert await bench.run(_deck(tmp_path, 4), stop_when=stop_when) is None  # cancelled
    results = orjson.loads((tmp_path / "deck" / "nano-banana-results.json").read_bytes())
    assert results["state"] == "cancelled"
    resumed = await bench.run(_deck(tmp_path, 4), resume=True)
    assert resumed is not None
    assert resumed.completed == 4
    assert bench.created() == 1


class _LosesTheCreateAnswer(httpx2.AsyncBaseTransport):
    """The network drops the first create's answer, after the service acted on it."""

    def __init__(self, app: Emulator) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.lost = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith(":batchGenerateContent") and not self.lost:
            await response.aread()
            self.lost += 1
            raise httpx2.ReadError("connection reset by peer", request=request)
        return response


async def test_a_lost_create_answer_is_found_by_display_name_not_sent_again(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    flaky = _LosesTheCreateAnswer(bench.emu)
    result = await bench.run(_deck(tmp_path, 4), transport=flaky)
    assert flaky.lost == 1
    assert result is not None
    assert result.completed == 4
    assert bench.created() == 1


async def test_a_batch_whose_create_answer_never_came_back_is_found_when_resumed(
    tmp_path: Path,
) -> None:
    # A run killed between sending the create and reading its answer leaves on disk the
    # display name without the batch's name, and a batch at the service: made here by a
    # run stopped once it had the name, whose name is then taken off the record.
    bench = _Bench()
    assert await bench.run(_deck(tmp_path, 4), stop_when=_named) is None
    path = tmp_path / "deck" / MANIFEST_NAME
    manifest = _manifest(tmp_path)
    manifest["batch"]["name"] = ""
    path.write_bytes(orjson.dumps(manifest))
    assert bench.created() == 1
    resumed = await bench.run(_deck(tmp_path, 4), resume=True)
    assert resumed is not None
    assert resumed.completed == 4
    assert bench.created() == 1


class _ResultsGone(httpx2.AsyncBaseTransport):
    """The batch's results file is gone from the service (asked for past its 48 hours)."""

    def __init__(self, app: Emulator) -> None:
        self.inner = httpx2.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith(":download"):
            request.url = request.url.copy_with(path="/download/v1beta/files/gone:download")
        return await self.inner.handle_async_request(request)


async def test_results_gone_from_the_service_fail_the_slides_and_the_next_run_sends_anew(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    first = await bench.run(_deck(tmp_path, 2, image_size="4K"), transport=_ResultsGone(bench.emu))
    assert first is not None
    assert {e.kind for e in first.errors} == {"BatchNotFound"}
    assert "batch" not in _manifest(tmp_path)
    second = await bench.run(_deck(tmp_path, 2, image_size="4K"))
    assert second is not None
    assert second.completed == 2
    assert bench.created() == 2


class _AnswersTooBig(httpx2.AsyncBaseTransport):
    """Every look at a batch answers with more than the client reads (a content-length
    past its cap), as hundreds of inline images would."""

    def __init__(self, app: Emulator) -> None:
        self.inner = httpx2.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and "/batches/" in request.url.path:
            return httpx2.Response(200, headers={"content-length": str(2**40)}, content=b"{}")
        return await self.inner.handle_async_request(request)


async def test_a_batch_too_big_to_read_fails_its_slides_instead_of_being_looked_at_forever(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    result = await bench.run(_deck(tmp_path, 2), transport=_AnswersTooBig(bench.emu))
    assert result is not None
    assert {e.kind for e in result.errors} == {"UnusableAnswer"}
    assert _manifest(tmp_path)["batch"]["name"]  # kept: the batch is made and paid for


async def _cancel(bench: _Bench, name: str) -> None:
    """``nanobanana cancel``'s call, made to the emulator."""
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=bench.emu)) as client:
        answer = await client.post(
            f"http://emulator/v1beta/{name}:cancel", headers={"x-goog-api-key": KEY}
        )
        assert answer.status_code == 200, answer.text


async def test_a_standard_rerun_does_not_buy_the_slides_of_a_batch_still_out(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    await bench.run(_deck(tmp_path, 3), stop_when=_named)
    name = _manifest(tmp_path)["batch"]["name"]
    # The same deck and one slide more, without --batch-api, while the batch is PENDING.
    rerun = await bench.run(_deck(tmp_path, 4, mode="standard"))
    assert rerun is not None
    assert [o.slide for o in rerun.outputs] == [4]  # the one slide the batch does not hold
    assert {e.slide: e.kind for e in rerun.errors} == {
        1: "BatchPending",
        2: "BatchPending",
        3: "BatchPending",
    }
    assert name in rerun.errors[0].error
    line = result_line(rerun.to_dict())
    assert "run with --batch-api" in line
    assert "nanobanana cancel --config FILE" in line
    assert bench.emu.stats()["requests"] == 1
    assert bench.created() == 1
    assert _manifest(tmp_path)["batch"]["name"] == name  # kept for the run that collects it


async def test_a_standard_rerun_collects_a_batch_that_is_over(tmp_path: Path) -> None:
    bench = _Bench()
    await bench.run(_deck(tmp_path, 3), stop_when=_named)
    bench.time.now += 3600.0  # the batch is done by now
    rerun = await bench.run(_deck(tmp_path, 3, mode="standard"))
    assert rerun is not None
    assert rerun.completed == 3
    assert bench.emu.stats()["requests"] == 0
    assert bench.created() == 1
    assert "batch" not in _manifest(tmp_path)
    # Kept at the batch rate: half what the same slides cost one request each.
    standard = _Bench()
    alone = await standard.run(_deck(tmp_path / "alone", 3, mode="standard"))
    assert alone is not None
    assert alone.cost_usd is not None
    assert rerun.cost_usd == pytest.approx(alone.cost_usd / 2, rel=1e-6)


async def test_a_standard_rerun_finds_a_batch_whose_create_answer_was_lost(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    await bench.run(_deck(tmp_path, 3), stop_when=_named)
    path = tmp_path / "deck" / MANIFEST_NAME
    manifest = _manifest(tmp_path)
    name, manifest["batch"]["name"] = manifest["batch"]["name"], ""
    path.write_bytes(orjson.dumps(manifest))
    rerun = await bench.run(_deck(tmp_path, 3, mode="standard"))
    assert rerun is not None
    assert {e.kind for e in rerun.errors} == {"BatchPending"}
    assert bench.emu.stats()["requests"] == 0
    assert _manifest(tmp_path)["batch"]["name"] == name  # found by its display name


async def test_a_standard_rerun_sends_what_a_cancelled_batch_did_not_make(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    await bench.run(_deck(tmp_path, 3), stop_when=_named)
    await _cancel(bench, _manifest(tmp_path)["batch"]["name"])
    rerun = await bench.run(_deck(tmp_path, 3, mode="standard"))
    assert rerun is not None
    assert rerun.completed == 3
    assert rerun.state == "done"
    assert bench.emu.stats()["requests"] == 3
    assert "batch" not in _manifest(tmp_path)


async def test_a_batch_run_sends_again_what_a_batch_cancelled_unseen_did_not_make(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    await bench.run(_deck(tmp_path, 3), stop_when=_named)
    await _cancel(bench, _manifest(tmp_path)["batch"]["name"])
    resumed = await bench.run(_deck(tmp_path, 3), resume=True)
    assert resumed is not None
    assert resumed.completed == 3
    assert bench.created() == 2  # the cancelled one, then one for what it did not make


class _CancelledAtFirstLook(httpx2.AsyncBaseTransport):
    """``nanobanana cancel`` from another shell, just before the run's first look."""

    def __init__(self, app: Emulator) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.cancelled = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and "/batches/" in request.url.path and not self.cancelled:
            self.cancelled = True
            cancel = httpx2.Request(
                "POST",
                request.url.copy_with(path=request.url.path + ":cancel"),
                headers=request.headers,
            )
            await (await self.inner.handle_async_request(cancel)).aread()
        return await self.inner.handle_async_request(request)


async def test_a_batch_cancelled_while_the_run_waits_ends_the_run_cancelled(
    tmp_path: Path,
) -> None:
    bench = _Bench()
    cancelling = _CancelledAtFirstLook(bench.emu)
    result = await bench.run(_deck(tmp_path, 3), transport=cancelling)
    assert cancelling.cancelled
    assert result is not None
    assert result.state == "cancelled"
    assert result.exit_code == 130
    assert {e.kind for e in result.errors} == {"BatchCancelled"}
    assert "batch" not in _manifest(tmp_path)


async def test_a_bad_key_stops_the_batch_run_at_the_create(tmp_path: Path) -> None:
    bench = _Bench(keys=frozenset({"another-key-0123456789"}))
    result = await bench.run(_deck(tmp_path, 3))
    assert result is not None
    assert result.completed == 0
    assert {e.kind for e in result.errors} == {"InvalidApiKey"}
    assert bench.created() == 0


def test_the_results_download_is_capped_by_what_its_images_can_weigh() -> None:
    from nanobanana_async.config.loading import load_config
    from nanobanana_async.engine.batched import results_cap
    from nanobanana_async.engine.plan import plan_jobs

    def cap(count: int, size: str) -> int:
        config = {
            "slides": [{"number": n, "prompt": f"p{n}"} for n in range(1, count + 1)],
            "output_dir": "/tmp/nowhere-deck",
            "image_size": size,
        }
        return results_cap(plan_jobs(load_config(config, env=ENV)))

    assert cap(1, "1K") == 16 * 2**20
    assert cap(10, "2K") == 240 * 2**20
    assert cap(3, "4K") == 144 * 2**20
    assert cap(1000, "4K") == 20 * 10**9  # the Files API's 20 GB, not 48 GiB


async def test_a_resumed_batch_api_run_saves_what_was_received_instead_of_buying_it_again(
    tmp_path: Path,
) -> None:
    # The plan decides what an interrupted run received and staged: saved, not put in the
    # new batch (the slides sent to the Batch API once skipped the staged look, and paid twice).
    from engine_testing import jpeg_bytes

    deck = tmp_path / "deck"
    deck.mkdir()
    (deck / ".slide-02.webp.received").write_bytes(jpeg_bytes())
    bench = _Bench()
    result = await bench.run(_deck(tmp_path, 3), resume=True)
    assert result is not None
    assert [(o.slide, o.reused) for o in result.outputs] == [(1, False), (2, True), (3, False)]
    assert bench.emu.stats()["batches"]["requests"] == 2
    assert not (deck / ".slide-02.webp.received").exists()


class _RefusesTheCreate(httpx2.AsyncBaseTransport):
    """The first ``times`` creates are answered ``status`` (a 503, or a 429 that announces
    ``delay`` in its RetryInfo); every look at a batch is a 503 until ``looks_down_until``
    on the clock."""

    def __init__(
        self,
        app: Emulator,
        clock: Callable[[], float],
        *,
        times: int = 0,
        status: int = 503,
        delay: str = "",
        looks_down_until: float = 0.0,
    ) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.clock = clock
        self.times = times
        self.status = status
        self.delay = delay
        self.looks_down_until = looks_down_until
        self.looks_refused = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith(":batchGenerateContent") and self.times:
            self.times -= 1
            return _answer(self.status, self._error())
        looking = request.method == "GET" and "/batches/" in request.url.path
        if looking and self.clock() < self.looks_down_until:
            self.looks_refused += 1
            return _answer(503, {"error": {"code": 503, "status": "UNAVAILABLE"}})
        return await self.inner.handle_async_request(request)

    def _error(self) -> dict[str, Any]:
        if self.status != 429:
            return {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
        retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": self.delay}
        message = "Resource has been exhausted (e.g. check quota)."
        return {
            "error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}
            | {"details": [retry]}
        }


def _answer(status: int, body: dict[str, Any]) -> httpx2.Response:
    """An answer not yet read, as one from the wire is."""
    headers = {"content-type": "application/json"}
    return httpx2.Response(status, headers=headers, stream=httpx2.ByteStream(orjson.dumps(body)))


_POLL = 1000.0  # a look at the batch every 1,000 s: any other wait is a backoff


async def _create_waits(
    tmp_path: Path, *, seed: int | None, times: int = 3, status: int = 503, delay: str = ""
) -> list[float]:
    """The waits a batch run makes between failed creates, on a virtual clock."""
    bench = _Bench()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        if seconds != _POLL:
            waits.append(seconds)
        await bench.time.sleep(seconds)

    settings = EngineSettings(
        retry=RetryPolicy(backoff_initial=2.0, backoff_max=300.0),
        progress_interval=0.0,
        clock=bench.time.clock,
        sleep=sleep,
        seed=seed,
        batch_poll=(_POLL, _POLL),
    )
    flaky = _RefusesTheCreate(bench.emu, bench.time.clock, times=times, status=status, delay=delay)
    result = await bench.run(_deck(tmp_path, 2), transport=flaky, settings=settings)
    assert result is not None
    assert result.completed == 2
    assert bench.created() == 1
    return waits


async def test_a_refused_create_backs_off_with_jitter_seeded_by_the_settings(
    tmp_path: Path,
) -> None:
    waits = await _create_waits(tmp_path / "a", seed=7)
    assert len(waits) == 3
    for n, wait in enumerate(waits, start=1):
        base = 2.0 * 2 ** (n - 1)
        assert base * 0.5 <= wait <= base  # equal jitter, the policy's formula
    assert await _create_waits(tmp_path / "b", seed=7) == waits
    assert await _create_waits(tmp_path / "c", seed=8) != waits


async def test_a_create_refused_with_a_retry_delay_waits_that_long(tmp_path: Path) -> None:
    waits = await _create_waits(tmp_path, seed=1, times=1, status=429, delay="45s")
    assert waits == [45.0]


async def test_a_batch_is_waited_for_through_an_outage_longer_than_the_retry_deadline(
    tmp_path: Path,
) -> None:
    # Every look fails for two hours, past the deadline of one call's retries (600 s):
    # the wait for the batch goes on, and its answers are kept.
    bench = _Bench()
    down = _RefusesTheCreate(
        bench.emu, bench.time.clock, looks_down_until=bench.time.clock() + 7200
    )
    settings = dataclasses.replace(
        bench.settings(), retry=RetryPolicy(backoff_initial=2.0, backoff_max=60.0)
    )
    result = await bench.run(_deck(tmp_path, 3), transport=down, settings=settings)
    assert result is not None
    assert result.completed == 3
    assert down.looks_refused > 8
    assert bench.created() == 1
