"""Every fault the service can throw, each over a whole deck, against the emulator over HTTP.

Real loopback HTTP (``serve_in_thread``), not the in-process transport: a dropped
connection and a read timeout only mean what they mean on a real socket. The emulator
records each exchange with the prompt it was for (see ``engine_testing``), and every test
checks the same promises on top of its own:

* every slide that can succeed does, and the results file says exactly what is on disk;
* no slide is generated twice: at most one whole image reaches the client per prompt, and
  nothing is asked for a slide after its image arrived;
* no request is sent during a ``retryDelay`` a 429 announced (only requests already on the
  wire, at most ``concurrency - 1``, may land in it);
* no slide sends more requests than :meth:`RetryPolicy.attempts_allowed`.

Backoff is instant and the emulator's time is scaled down, so nothing waits for long.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from engine_testing import (
    SHAPED_KEY,
    RecordingEmulator,
    check_results_match_disk,
    deck_config,
    read_json,
    sent_during_delays,
)

from nanobanana_async.emulator import EmulatorSettings, serve_in_thread
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.results import DeckResult

POLICY = RetryPolicy.instant()

Serve = Callable[..., tuple[RecordingEmulator, str]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a recording emulator on loopback: ``serve(script, **settings)``."""
    with ExitStack() as stack:

        def start(
            script: dict[int, str] | None = None, **settings: Any
        ) -> tuple[RecordingEmulator, str]:
            settings.setdefault("latency", False)
            settings.setdefault("signature_bytes", 0)  # megabytes of it per answer: not the point
            emulator = RecordingEmulator(EmulatorSettings(**settings))
            if script:
                emulator.script(script)
            return emulator, stack.enter_context(serve_in_thread(emulator))

        yield start


async def run_deck(
    tmp_path: Path,
    url: str,
    count: int,
    *,
    concurrency: int,
    read_timeout: float | None = None,
    time_scale: float = 1.0,
    resume: bool = False,
    **extra: Any,
) -> DeckResult:
    # JPEG, as the model sends it: kept byte for byte, so no test waits for a WebP encoder.
    config = deck_config(tmp_path / "deck", count, concurrency=concurrency, format="jpg", **extra)
    settings = EngineSettings(
        retry=POLICY, progress_interval=0.0, timeout=read_timeout, time_scale=time_scale, seed=7
    )
    return await generate_deck(
        config,
        settings=settings,
        progress_file=tmp_path / "progress.json",
        results_file=tmp_path / "results.json",
        resume=resume,
        env={"GEMINI_API_KEY": SHAPED_KEY, "GOOGLE_GEMINI_BASE_URL": url},
    )


def check_promises(
    emulator: RecordingEmulator, result: DeckResult, tmp_path: Path, count: int, concurrency: int
) -> dict[int, list[str]]:
    """The promises every fault test shares; returns each slide's outcomes, in order."""
    results = read_json(tmp_path / "results.json")
    assert results == result.to_dict()
    check_results_match_disk(results, tmp_path / "deck", count)
    progress = read_json(tmp_path / "progress.json")
    assert progress["current"] == progress["total"] == count
    assert progress["failed"] == [e.slide for e in result.errors]

    delivered = emulator.images_delivered()
    succeeded = {o.slide for o in result.outputs}
    assert {s for s, n in delivered.items() if n} == succeeded, "an image was lost or unsaved"
    assert all(n == 1 for n in delivered.values()), f"generated twice: {delivered}"
    outcomes = {slide: [e.outcome for e in log] for slide, log in emulator.by_slide().items()}
    for slide in succeeded:
        assert outcomes[slide][-1] == "image", f"slide {slide} asked again after its image"
    assert 0 not in outcomes, "a request for no slide of the deck"

    assert sent_during_delays(emulator.exchanges) <= concurrency - 1
    allowed = POLICY.attempts_allowed()
    assert all(len(log) <= allowed for log in outcomes.values())
    assert len(emulator.exchanges) <= allowed * count
    assert result.requests == len(emulator.exchanges)
    seen = Counter(o for log in outcomes.values() for o in log)
    print(
        f"{result.requests} requests ({dict(seen)}), {result.retries} retries, "
        f"{result.rate_limit_waits} pauses, {result.completed}/{count} saved, "
        f"failed {[(e.slide, e.kind) for e in result.errors]}, "
        f"in retry delays: {sent_during_delays(emulator.exchanges)}"
    )
    return outcomes


async def test_bursts_of_500_503_504_are_retried_to_a_whole_deck(
    tmp_path: Path, serve: Serve
) -> None:
    burst = {2: "500", 3: "500", 4: "503", 5: "503", 6: "504", 7: "504", 8: "500"}
    burst |= {12: "503", 13: "504", 14: "500", 15: "503"}
    emulator, url = serve(burst)
    result = await run_deck(tmp_path, url, 10, concurrency=3)
    outcomes = check_promises(emulator, result, tmp_path, 10, 3)
    assert result.completed == 10
    assert result.retries == len(burst)
    assert len(emulator.exchanges) == 10 + len(burst)
    assert sum(o.count("TransientError") for o in outcomes.values()) == len(burst)


async def test_a_service_that_never_recovers_gets_exactly_the_retries_allowed(
    tmp_path: Path, serve: Serve
) -> None:
    emulator, url = serve(fail_rate=1.0, fail_kinds=("500", "503", "504"), seed=2)
    result = await run_deck(tmp_path, url, 5, concurrency=2)
    outcomes = check_promises(emulator, result, tmp_path, 5, 2)
    per_slide = 1 + POLICY.max_transient_retries
    assert {s: len(o) for s, o in outcomes.items()} == dict.fromkeys(range(1, 6), per_slide)
    assert {e.kind for e in result.errors} == {"TransientError"}
    assert result.completed == 0
    assert (result.state, result.exit_code) == ("done", 1)


@pytest.mark.parametrize("kind", ["drop", "truncated"])
async def test_broken_answers_are_retried(tmp_path: Path, serve: Serve, kind: str) -> None:
    emulator, url = serve(fail_rate=0.35, fail_kinds=(kind,), seed=11)
    result = await run_deck(tmp_path, url, 12, concurrency=4)
    outcomes = check_promises(emulator, result, tmp_path, 12, 4)
    assert result.completed == 12
    broken = "dropped" if kind == "drop" else "TransientError"
    seen = sum(o.count(broken) for o in outcomes.values())
    assert seen >= 2, "the fault rate injected too little to test anything"
    assert result.retries == seen


async def test_answers_slower_than_the_timeout_are_abandoned_and_retried(
    tmp_path: Path, serve: Serve
) -> None:
    # A slow answer would take 600 s * 0.05 = 30 s; the engine gives up after 0.3 s.
    emulator, url = serve({1: "slow", 2: "slow", 5: "slow"}, time_scale=0.05)
    result = await run_deck(tmp_path, url, 6, concurrency=2, read_timeout=0.3)
    outcomes = check_promises(emulator, result, tmp_path, 6, 2)
    assert result.completed == 6
    assert sum(o.count("gone") for o in outcomes.values()) == 3  # the client hung up
    assert result.retries == 3
    assert all("within the timeout" not in e.error for e in result.errors)


async def test_a_429_storm_from_the_quota_is_waited_out(tmp_path: Path, serve: Serve) -> None:
    # The engine is not told the rate: it meets the quota's 429s and must honour each delay.
    scale = 0.002
    emulator, url = serve(rpm=4, time_scale=scale)
    result = await run_deck(tmp_path, url, 12, concurrency=6, time_scale=scale)
    outcomes = check_promises(emulator, result, tmp_path, 12, 6)
    assert result.completed == 12
    assert sum(o.count("RateLimited") for o in outcomes.values()) >= 2
    assert result.rate_limit_waits >= 1


async def test_a_scripted_429_storm_is_waited_out(tmp_path: Path, serve: Serve) -> None:
    scale = 0.002  # announced delays of 1-60 s become 2-120 ms
    emulator, url = serve(dict.fromkeys(range(1, 13), "429"), time_scale=scale)
    result = await run_deck(tmp_path, url, 8, concurrency=4, time_scale=scale)
    outcomes = check_promises(emulator, result, tmp_path, 8, 4)
    assert result.completed == 8
    assert sum(o.count("RateLimited") for o in outcomes.values()) == 12
    assert result.requests == 8 + 12


async def test_no_image_gets_one_more_try(tmp_path: Path, serve: Serve) -> None:
    emulator, url = serve({1: "no-image", 2: "no-image", 5: "no-image"})
    result = await run_deck(tmp_path, url, 6, concurrency=1)
    outcomes = check_promises(emulator, result, tmp_path, 6, 1)
    # Which slide meets which NO_IMAGE depends on scheduling; each one gets one more try.
    twice = {s for s, o in outcomes.items() if o == ["NoImageReturned", "NoImageReturned"]}
    once = {s for s, o in outcomes.items() if o == ["NoImageReturned", "image"]}
    assert 2 * len(twice) + len(once) == 3
    assert {(e.slide, e.kind) for e in result.errors} == {(s, "NoImageReturned") for s in twice}
    assert all(o == ["image"] for s, o in outcomes.items() if s not in twice | once)
    assert len(emulator.exchanges) == 6 + 3 - len(twice)


async def test_no_image_at_a_rate_fails_exactly_the_slides_refused_twice(
    tmp_path: Path, serve: Serve
) -> None:
    emulator, url = serve(fail_rate=0.7, fail_kinds=("no-image",), seed=3)
    result = await run_deck(tmp_path, url, 12, concurrency=4)
    outcomes = check_promises(emulator, result, tmp_path, 12, 4)
    twice = {s for s, o in outcomes.items() if o == ["NoImageReturned", "NoImageReturned"]}
    assert {e.slide for e in result.errors} == twice
    assert twice, "the seed should refuse at least one slide twice"
    assert result.completed == 12 - len(twice)


async def test_blocked_and_refused_prompts_fail_alone_and_are_never_retried(
    tmp_path: Path, serve: Serve
) -> None:
    emulator, url = serve({2: "blocked", 5: "image-safety", 6: "blocked"})
    result = await run_deck(tmp_path, url, 8, concurrency=3)
    outcomes = check_promises(emulator, result, tmp_path, 8, 3)
    failed = {e.slide: e.kind for e in result.errors}
    assert sorted(failed.values()) == ["ImageRefused", "PromptBlocked", "PromptBlocked"]
    for slide, kind in failed.items():
        assert outcomes[slide] == [kind]  # one request, no retry
    assert result.completed == 5
    assert len(emulator.exchanges) == 8
    assert result.state == "done"


async def test_every_retryable_fault_at_a_seeded_rate(tmp_path: Path, serve: Serve) -> None:
    kinds = ("500", "503", "504", "drop", "truncated", "slow", "429")
    # A slow answer takes 3 s, a 429 announces 5-300 ms. The timeout is wall-clock time: an
    # ordinary answer outlasting it on a busy machine (a parallel suite) would be asked for
    # twice, so it leaves half a second, not 0.2 s, and the slow answer stays far longer.
    scale = 0.005
    emulator, url = serve(fail_rate=0.3, fail_kinds=kinds, seed=5, time_scale=scale)
    result = await run_deck(tmp_path, url, 16, concurrency=4, read_timeout=0.5, time_scale=scale)
    outcomes = check_promises(emulator, result, tmp_path, 16, 4)
    assert result.completed == 16
    faults = [o for log in outcomes.values() for o in log if o != "image"]
    assert len(faults) >= 4
    assert result.retries == len(faults)


@pytest.mark.parametrize(
    ("kind", "error_kind"), [("invalid-key", "InvalidApiKey"), ("429-day", "QuotaExhausted")]
)
async def test_a_fatal_answer_mid_run_stops_the_deck_and_resume_finishes_it(
    tmp_path: Path, serve: Serve, kind: str, error_kind: str
) -> None:
    # Real latencies (17-29 s scaled to 85-145 ms), so requests are in flight when the
    # key is revoked or the day's quota runs out at the 5th request.
    scale = 0.005
    emulator, url = serve({5: kind}, latency=True, time_scale=scale)
    first = await run_deck(tmp_path, url, 12, concurrency=3, time_scale=scale)
    check_promises(emulator, first, tmp_path, 12, 3)
    assert first.state == "failed"
    assert {e.kind for e in first.errors} == {error_kind}
    fatal = next(e for e in emulator.exchanges if e.outcome == error_kind)
    assert fatal.answered is not None
    after = [e for e in emulator.exchanges if e.arrived > fatal.answered + 1e-3]
    assert len(after) <= 2, "requests sent after the run was told to stop"
    # Those already in flight finished and their images were kept.
    assert first.completed >= 4
    saved = {o.slide for o in first.outputs}

    emulator.script({})
    before = len(emulator.exchanges)
    second = await run_deck(tmp_path, url, 12, concurrency=3, time_scale=scale, resume=True)
    asked = {e.slide for e in emulator.exchanges[before:]}
    assert asked == set(range(1, 13)) - saved
    assert second.completed == 12
    assert {o.slide for o in second.outputs if o.reused} == saved
    check_results_match_disk(read_json(tmp_path / "results.json"), tmp_path / "deck", 12)
    assert all(n == 1 for n in emulator.images_delivered().values())
