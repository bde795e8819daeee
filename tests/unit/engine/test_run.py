"""The batch engine against the emulator, in process (httpx2's ASGI transport).

The emulator speaks the real wire format, quotas and failures, so these tests exercise the
engine's real HTTP client, retry policy, pacer and writers; nothing of ours is mocked.
Latencies are off and backoff is instant; the tests of quota windows run engine and
emulator on one virtual clock (:func:`on_virtual_time`), so no test waits for real.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import anyio
import httpx2
import orjson
import pytest
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, VirtualTime
from nanobanana_async.engine.progress import Progress
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.errors import ConfigError, RunLockedError
from nanobanana_async.files.lock import DeckLock, RunLock
from nanobanana_async.results import DeckResult

KEY = "test-key-0123456789"
ENV = {"GEMINI_API_KEY": KEY}
FAST = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0)


def deck(tmp_path: Path, count: int, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "slides": [{"number": n, "prompt": f"Slide {n}: topic {n}"} for n in range(1, count + 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
    }
    config.update(extra)
    return config


async def run(
    emulator: Emulator,
    config: dict[str, Any],
    settings: EngineSettings = FAST,
    **kwargs: Any,
) -> DeckResult:
    return await generate_deck(
        config,
        settings=settings,
        transport=httpx2.ASGITransport(app=emulator),
        env=ENV,
        **kwargs,
    )


def emulator(**settings: Any) -> Emulator:
    settings.setdefault("latency", False)
    return Emulator(EmulatorSettings(**settings))


def arrivals(emu: Emulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emu.stats()["arrivals"]
    return found


async def test_a_deck_comes_out_complete(tmp_path: Path) -> None:
    emu = emulator()
    results_file = tmp_path / "results.json"
    progress_file = tmp_path / "progress.json"
    result = await run(
        emu, deck(tmp_path, 5), results_file=results_file, progress_file=progress_file
    )
    assert (result.completed, result.failed, result.total) == (5, 0, 5)
    assert result.exit_code == 0
    for n, output in enumerate(result.outputs, start=1):
        assert output.slide == n
        assert output.path == tmp_path / "deck" / f"slide-{n:02d}.webp"
        with Image.open(output.path) as image:
            assert image.format == "WEBP"
            assert image.size == (1376, 768)  # gemini-3-pro-image, 16:9, 1K
        assert output.size_kb == output.path.stat().st_size // 1024
    on_disk = orjson.loads(results_file.read_bytes())
    assert on_disk == result.to_dict()
    assert orjson.loads((tmp_path / "deck" / "nano-banana-results.json").read_bytes()) == on_disk
    assert results_file.stat().st_mode & 0o777 == 0o600
    progress = orjson.loads(progress_file.read_bytes())
    assert progress["current"] == progress["total"] == 5
    assert progress["state"] == "done"
    assert progress["completed"] == [str(o.path) for o in result.outputs]
    assert progress["failed"] == []
    for stamp in (result.started_at, result.completed_at, progress["updated_at"]):
        assert stamp.endswith("Z")
        assert "+" not in stamp
    assert emu.stats()["requests"] == 5


async def test_the_files_may_be_given_as_str_or_any_path_like(tmp_path: Path) -> None:
    class Named(os.PathLike[str]):
        def __fspath__(self) -> str:
            return str(tmp_path / "results.json")

    result = await run(
        emulator(),
        deck(tmp_path, 1),
        progress_file=str(tmp_path / "progress.json"),
        results_file=Named(),
    )
    assert result.completed == 1
    assert orjson.loads((tmp_path / "progress.json").read_bytes())["state"] == "done"
    assert orjson.loads((tmp_path / "results.json").read_bytes()) == result.to_dict()


@pytest.mark.parametrize(("fmt", "pil_format"), [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP")])
async def test_formats(tmp_path: Path, fmt: str, pil_format: str) -> None:
    result = await run(emulator(), deck(tmp_path, 1, format=fmt))
    path = result.outputs[0].path
    assert path.suffix == f".{fmt}"
    with Image.open(path) as image:
        assert image.format == pil_format


async def test_preset_styles_are_lossless_webp(tmp_path: Path) -> None:
    config = deck(tmp_path, 1)
    config["slides"][0]["style"] = "professional"
    config["format"] = "webp"
    emu = emulator()
    result = await run(emu, config)
    with Image.open(result.outputs[0].path) as image:
        assert image.info.get("lossless") is True or _is_lossless_webp(result.outputs[0].path)


def _is_lossless_webp(path: Path) -> bool:
    return b"VP8L" in path.read_bytes()[:64]


async def test_transient_failures_are_retried(tmp_path: Path) -> None:
    emu = emulator()
    emu.script({1: "500", 2: "503", 3: "504", 4: "truncated"})
    result = await run(emu, deck(tmp_path, 3, concurrency=1))
    assert result.completed == 3
    assert result.retries == 4
    assert emu.stats()["requests"] == 7


async def test_per_slide_failures_do_not_stop_the_run(tmp_path: Path) -> None:
    emu = emulator()
    emu.script({1: "blocked", 2: "image-safety"})
    result = await run(emu, deck(tmp_path, 4, concurrency=1))
    assert result.completed == 2
    assert [(e.slide, e.kind) for e in result.errors] == [(1, "PromptBlocked"), (2, "ImageRefused")]
    assert emu.stats()["requests"] == 4  # neither refusal was retried
    assert result.exit_code == 0


async def test_no_image_gets_exactly_one_more_try(tmp_path: Path) -> None:
    emu = emulator()
    emu.script({1: "no-image", 2: "no-image", 3: "no-image"})
    result = await run(emu, deck(tmp_path, 2, concurrency=1))
    # slide 1: no-image, no-image -> failed; slide 2: no-image, then an image.
    assert [e.slide for e in result.errors] == [1]
    assert result.errors[0].kind == "NoImageReturned"
    assert [o.slide for o in result.outputs] == [2]
    assert emu.stats()["requests"] == 4


async def test_a_bad_key_stops_the_run_within_concurrency_requests(tmp_path: Path) -> None:
    emu = emulator(keys=frozenset({"the-right-key"}))
    result = await run(emu, deck(tmp_path, 12, concurrency=3))
    assert emu.stats()["requests"] <= 3
    assert result.completed == 0
    assert result.failed == 12
    assert {e.kind for e in result.errors} == {"InvalidApiKey"}
    assert result.state == "failed"
    assert result.exit_code == 1
    assert KEY not in result.to_json().decode()


async def test_a_retired_model_names_its_replacement(tmp_path: Path) -> None:
    emu = emulator()
    config = deck(tmp_path, 4, concurrency=2, model="gemini-3-pro-image-preview")
    result = await run(emu, config | {"strict_model": True})  # else it is mapped
    assert emu.stats()["requests"] <= 2
    assert all("use gemini-3-pro-image" in e.error for e in result.errors)
    assert {e.kind for e in result.errors} == {"ModelNotFound"}


async def test_the_free_tier_stops_at_once(tmp_path: Path) -> None:
    emu = emulator(free_tier=True)
    result = await run(emu, deck(tmp_path, 10, concurrency=2))
    assert emu.stats()["requests"] <= 2
    assert {e.kind for e in result.errors} == {"QuotaExhausted"}


async def test_a_per_day_quota_mid_run_stops_the_rest(tmp_path: Path) -> None:
    emu = emulator(rpd=3)
    result = await run(emu, deck(tmp_path, 8, concurrency=1))
    assert result.completed == 3
    assert result.failed == 5
    assert {e.kind for e in result.errors} == {"QuotaExhausted"}
    assert emu.stats()["requests"] == 4
    assert result.state == "failed"
    assert result.exit_code == 0  # some slides succeeded


async def test_a_key_that_turns_invalid_mid_run(tmp_path: Path) -> None:
    emu = emulator()
    emu.script({3: "invalid-key"})
    result = await run(emu, deck(tmp_path, 6, concurrency=1))
    assert result.completed == 2
    assert {e.kind for e in result.errors} == {"InvalidApiKey"}
    assert emu.stats()["requests"] == 3


async def on_virtual_time(
    tmp_path: Path, count: int, *, quota_rpm: float, **settings: Any
) -> tuple[Emulator, DeckResult]:
    """A deck through a ``quota_rpm`` quota with real one-minute windows, on virtual time.

    Engine and emulator share one clock that jumps when every task waits: no real waiting,
    and no margin for a slow machine to eat (real 0.6 s windows once made a flake).
    """
    time = VirtualTime()
    emu = emulator(rpm=quota_rpm, clock=time.clock, sleep=time.sleep)
    engine = EngineSettings(progress_interval=0.0, clock=time.clock, sleep=time.sleep, **settings)
    done: list[DeckResult] = []

    async def batch() -> None:
        done.append(await run(emu, deck(tmp_path, count), engine))

    await time.run(batch())
    return emu, done[0]


async def test_the_quota_is_never_exceeded_when_rpm_matches(tmp_path: Path) -> None:
    emu, result = await on_virtual_time(tmp_path, 14, quota_rpm=10, rpm=10)
    assert result.completed == 14
    stats = emu.stats()
    assert stats["by_status"].get("429", 0) == 0
    assert stats["requests"] == 14


async def test_no_request_is_sent_during_an_announced_retry_delay(tmp_path: Path) -> None:
    # No rpm given: the engine starts unlimited, meets a storm of 429s, and must wait.
    emu, result = await on_virtual_time(tmp_path, 10, quota_rpm=4, concurrency=6)
    assert result.completed == 10
    log = arrivals(emu)
    assert any(a["status"] == 429 and a["retry_delay"] is not None for a in log)
    for index, arrival in enumerate(log):
        delay = arrival.get("retry_delay")
        if arrival["status"] != 429 or delay is None:
            continue
        quiet_until = arrival["t"] + delay
        later = [a for a in log[index + 1 :] if a["t"] < quiet_until]
        # Requests already on the wire when the 429 left may land inside the window;
        # nothing sent after the client saw it may. With concurrency 6 that is at most 5.
        assert len(later) <= 5
    assert result.rate_limit_waits >= 1


async def test_the_first_429_teaches_the_quota_and_no_other_follows(tmp_path: Path) -> None:
    # No rpm, no concurrency: the engine opens 20 at once, meets the quota's 429s (which
    # state its value, 5), and from then on must send exactly what the window admits.
    emu, result = await on_virtual_time(tmp_path, 11, quota_rpm=5)
    assert result.completed == 11
    log = arrivals(emu)
    first = next(a for a in log if a["status"] == 429)
    storm_over = first["t"] + first["retry_delay"]
    assert [a for a in log if a["status"] == 429 and a["t"] >= storm_over] == []
    # The whole quota is used once learned: five in some window, not a cautious three.
    after = [a["t"] for a in log if a["status"] == 200 and a["t"] >= storm_over]
    assert max(sum(t <= u < t + 60 for u in after) for t in after) == 5
    assert sum(a["status"] == 429 for a in log) <= 20


async def test_the_run_ends_without_sleeping_out_the_progress_interval(tmp_path: Path) -> None:
    sleeps: list[float] = []
    slept_out: list[float] = []

    async def long_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await anyio.sleep(10)  # the interval, as far as the writer knows, is an hour
        slept_out.append(seconds)

    # Events come faster than one write per hour, so the writer coalesces; the end of the
    # run must cut its wait short instead of sleeping it out.
    settings = EngineSettings(concurrency=4, sleep=long_sleep, progress_interval=3600.0)
    progress_file = tmp_path / "progress.json"
    result = await run(emulator(), deck(tmp_path, 6), settings, progress_file=progress_file)
    assert result.completed == 6
    assert sleeps  # it did coalesce
    assert slept_out == []
    assert orjson.loads(progress_file.read_bytes())["state"] == "done"


async def test_progress_callback_and_file_are_always_valid(tmp_path: Path) -> None:
    progress_file = tmp_path / "progress.json"
    seen: list[Progress] = []

    def callback(snapshot: Progress) -> None:
        seen.append(snapshot)
        data = orjson.loads(progress_file.read_bytes())
        for field in (
            "current",
            "total",
            "status",
            "completed",
            "failed",
            "started_at",
            "updated_at",
        ):
            assert field in data

    await run(
        emulator(), deck(tmp_path, 6, concurrency=2), progress=callback, progress_file=progress_file
    )
    assert seen
    assert seen[-1].to_dict()["current"] == 6
    currents = [s.to_dict()["current"] for s in seen]
    assert currents == sorted(currents)


async def test_a_second_run_on_the_same_progress_file_is_refused(tmp_path: Path) -> None:
    progress_file = tmp_path / "progress.json"
    with RunLock(progress_file), pytest.raises(RunLockedError, match="--progress-file"):
        await run(emulator(), deck(tmp_path, 1), progress_file=progress_file)


async def test_no_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        await generate_deck(
            deck(tmp_path, 1), env={}, transport=httpx2.ASGITransport(app=emulator())
        )


async def test_the_key_from_the_config_reference_is_used_and_never_written(tmp_path: Path) -> None:
    emu = emulator(keys=frozenset({"secret-from-var"}))
    config = deck(tmp_path, 2, api_key="${GOOGLE_API_KEY}")
    progress_file = tmp_path / "p.json"
    results_file = tmp_path / "r.json"
    result = await generate_deck(
        config,
        settings=FAST,
        transport=httpx2.ASGITransport(app=emu),
        env={"GOOGLE_API_KEY": "secret-from-var", "GEMINI_API_KEY": "not-this-one"},
        progress_file=progress_file,
        results_file=results_file,
    )
    assert result.completed == 2
    deck_files = [p for p in (tmp_path / "deck").rglob("*") if p.is_file()]
    for path in (progress_file, results_file, *deck_files):
        assert b"secret-from-var" not in path.read_bytes()


async def test_the_final_non_thought_image_is_kept(tmp_path: Path) -> None:
    # The emulator's thought images are blank pages of the same size: only the bytes tell
    # them from the final slide, which is the same with or without thoughts before it.
    with_thoughts = await run(emulator(thought_images=True), deck(tmp_path / "a", 1))
    without = await run(emulator(thought_images=False), deck(tmp_path / "b", 1))
    kept = with_thoughts.outputs[0].path.read_bytes()
    assert kept == without.outputs[0].path.read_bytes()
    with Image.open(with_thoughts.outputs[0].path) as image:
        assert image.size == (1376, 768)


async def test_resume_keeps_complete_images(tmp_path: Path) -> None:
    emu = emulator()
    config = deck(tmp_path, 4, concurrency=1)
    first = await run(emu, config)
    assert first.completed == 4
    victim = first.outputs[1].path
    victim.write_bytes(victim.read_bytes()[:100])  # a truncated image is not complete
    (tmp_path / "deck" / "slide-04.webp").unlink()
    emu.reset()
    second = await run(emu, config, resume=True)
    assert second.completed == 4
    assert emu.stats()["requests"] == 2
    assert sorted(o.slide for o in second.outputs if o.reused) == [1, 3]
    with Image.open(victim) as image:
        image.load()


async def test_no_key_names_the_dry_run_that_needs_none(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        await generate_deck(
            deck(tmp_path, 1), env={}, transport=httpx2.ASGITransport(app=emulator())
        )
    assert raised.value.field == "api_key"
    assert "nanobanana run --emulator" in raised.value.problem
    assert "\n" not in str(raised.value)


RETIRED_NOTICE = (
    "model: gemini-3-pro-image-preview was retired on 2026-06-25; using gemini-3-pro-image "
    '(set "strict_model": true to keep it)'
)


async def test_a_retired_model_on_googles_endpoint_runs_as_its_replacement(
    tmp_path: Path,
) -> None:
    emu = emulator()
    results_file = tmp_path / "results.json"
    config = deck(tmp_path, 2, model="gemini-3-pro-image-preview")
    result = await run(emu, config, results_file=results_file)
    assert (result.completed, result.model, result.notices) == (
        2,
        "gemini-3-pro-image",
        (RETIRED_NOTICE,),
    )
    assert {a["model"] for a in arrivals(emu)} == {"gemini-3-pro-image"}
    for written in (results_file, tmp_path / "deck" / "nano-banana-results.json"):
        assert orjson.loads(written.read_bytes())["notices"] == [RETIRED_NOTICE]


def still_serving(old: str, new: str, service: Emulator) -> Any:
    """A proxy in front of ``service`` that still takes the retired id ``old``."""

    async def proxy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"].replace(f"/models/{old}:", f"/models/{new}:")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await service(scope, receive, send)

    return proxy


async def test_a_proxy_still_serving_a_retired_model_keeps_it(tmp_path: Path) -> None:
    emu = emulator()
    results_file = tmp_path / "results.json"
    config = deck(tmp_path, 2, model="gemini-3-pro-image-preview", base_url="https://proxy.example")
    result = await generate_deck(
        config,
        settings=FAST,
        transport=httpx2.ASGITransport(
            app=still_serving("gemini-3-pro-image-preview", "gemini-3-pro-image", emu)
        ),
        env=ENV,
        results_file=results_file,
    )
    assert (result.completed, result.model, result.notices) == (
        2,
        "gemini-3-pro-image-preview",
        ("base_url: requests and the key go to proxy.example (not Google's endpoint)",),
    )
    assert orjson.loads(results_file.read_bytes())["notices"] == list(result.notices)


async def test_a_second_run_on_the_same_deck_is_refused_whatever_its_progress_file(
    tmp_path: Path,
) -> None:
    config = deck(tmp_path, 2)
    (tmp_path / "deck").mkdir()
    emu = emulator()
    with DeckLock(tmp_path / "deck"), pytest.raises(RunLockedError, match="output_dir"):
        await run(emu, config, progress_file=tmp_path / "other-progress.json", resume=True)
    assert emu.stats()["requests"] == 0


async def test_a_redirect_stops_the_run_after_one_request(tmp_path: Path) -> None:
    # A 307 is not transient: the same request meets the same redirect, and following it
    # would send the key along to wherever it points.
    asked: list[str] = []

    async def redirecting(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        asked.append(scope["path"])
        await send(
            {
                "type": "http.response.start",
                "status": 307,
                "headers": [(b"location", b"https://elsewhere.example/v1beta")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    result = await generate_deck(
        deck(tmp_path, 3, concurrency=1),
        settings=FAST,
        transport=httpx2.ASGITransport(app=redirecting),
        env=ENV,
    )
    assert len(asked) == 1
    assert result.completed == 0
    assert {e.kind for e in result.errors} == {"EndpointRedirected"}
    assert "base_url" in result.errors[0].error


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(16)))


def _answer_with_image(data: bytes) -> bytes:
    part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()}}
    candidate = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
    return orjson.dumps({"candidates": [candidate], "modelVersion": "gemini-3-pro-image"})


@pytest.mark.parametrize(
    ("body", "declared", "says"),
    [
        pytest.param(b"{}", 100 * 1024 * 1024, "max_answer_bytes", id="declared over the cap"),
        pytest.param(_answer_with_image(b"not an image"), None, "not in a known", id="undecodable"),
        pytest.param(
            _answer_with_image(_png_claiming(60000, 60000)), None, "pixels", id="too many pixels"
        ),
    ],
)
async def test_an_unusable_answer_gets_one_more_try_then_fails_the_slide(
    tmp_path: Path, body: bytes, declared: int | None, says: str
) -> None:
    # Not six paid attempts: asking again may help once, a proxy that always does this won't.
    asked: list[str] = []

    async def answering(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        asked.append(scope["path"])
        length = str(declared if declared is not None else len(body)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    result = await generate_deck(
        deck(tmp_path, 1),
        settings=FAST,
        transport=httpx2.ASGITransport(app=answering),
        env=ENV,
    )
    assert len(asked) == 2
    assert result.retries == 1
    assert [(e.slide, e.kind) for e in result.errors] == [(1, "UnusableAnswer")]
    assert says in result.errors[0].error
    assert result.completed == 0
    assert not [n for n in os.listdir(tmp_path / "deck") if "slide" in n]  # nor staged


async def test_the_budget_stops_sending_once_the_answers_cost_more_than_planned(
    tmp_path: Path,
) -> None:
    # The plan prices an image without the thinking the service adds, so a budget that
    # just covers the plan runs out before the last slides: they are not sent.
    emu = emulator()
    config = deck(tmp_path, 6, concurrency=1)
    plan_cost = 6 * 0.1344 + 6 * 10 * 2e-6  # six 1K pro images and their short prompts
    settings = EngineSettings(
        retry=RetryPolicy.instant(), progress_interval=0.0, max_cost=plan_cost + 0.001
    )
    result = await run(emu, config, settings)
    sent = emu.stats()["requests"]
    assert 0 < sent < 6
    assert result.completed == sent
    assert {e.kind for e in result.errors} == {"OverBudget"}
    assert result.cost_usd is not None
    assert result.cost_usd <= plan_cost + 0.001
    assert "budget of $" in result.errors[0].error
