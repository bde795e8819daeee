"""The service tiers end to end: a deck on Flex through the CLI against the emulator over HTTP.

The emulator sheds Flex requests at a rate (all of them here, or none), reports the tier it
served in ``usageMetadata.serviceTier``, and refuses a tier that is not one; the CLI runs as
a subprocess. Every check reads what a user reads: the final line, the results file, the
files on disk, and the emulator's own record of what was asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_testing import (
    RecordingEmulator,
    check_results_match_disk,
    environment,
    files_args,
    read_json,
    run_cli,
)

from nanobanana_async.cost import image_cost
from nanobanana_async.emulator import EmulatorSettings, serve_in_thread

KEY = "tier-test-key-abcdef0123"
# The emulator's times and the run's (its backoff before a shed is retried) at a hundredth:
# a shed deck otherwise waits seconds of real backoff.
SCALE = 0.01
FAST = ("--time-scale", str(SCALE))


@contextmanager
def emulator(**settings: Any) -> Iterator[tuple[RecordingEmulator, str]]:
    settings.setdefault("latency", False)
    settings.setdefault("signature_bytes", 0)
    settings.setdefault("time_scale", SCALE)
    recording = RecordingEmulator(EmulatorSettings(**settings))
    with serve_in_thread(recording) as url:
        yield recording, url


def write_config(tmp_path: Path, count: int = 3, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "slides": [{"number": n, "prompt": f"Slide {n}"} for n in range(1, count + 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        **extra,
    }
    path = tmp_path / "slides.json"
    path.write_bytes(orjson.dumps(config))
    return path


def tiers_asked(recording: RecordingEmulator) -> list[str]:
    """The ``serviceTier`` of every generateContent body the emulator received, in order."""
    return [exchange.tier for exchange in sorted(recording.exchanges, key=lambda e: e.arrived)]


def test_a_flex_deck_is_asked_on_flex_and_priced_at_half(tmp_path: Path) -> None:
    config = write_config(tmp_path, service_tier="flex")
    with emulator(flex_shed_rate=0.0) as (recording, url):
        done = run_cli("run", str(config), *FAST, *files_args(tmp_path), env=environment(url, KEY))
    assert done.returncode == 0, done.stderr
    assert set(tiers_asked(recording)) == {"flex"}
    results = read_json(tmp_path / "results.json")
    check_results_match_disk(results, tmp_path / "deck", 3)
    standard = image_cost("gemini-3-pro-image", "1K") or 0.0
    for output in results["outputs"]:
        assert output["service_tier"] == "flex"
        # The image tokens at half price (the prompt's few tokens aside).
        assert output["cost_usd"] == pytest.approx(standard / 2, rel=0.05)
        assert "fell_back" not in output


def test_shed_flex_slides_fall_back_to_standard_and_say_so(tmp_path: Path) -> None:
    config = write_config(tmp_path, service_tier="flex", max_cost=5.0)
    with emulator(flex_shed_rate=1.0) as (recording, url):
        done = run_cli("run", str(config), *FAST, *files_args(tmp_path), env=environment(url, KEY))
    assert done.returncode == 0, done.stderr
    asked = tiers_asked(recording)
    # Each slide: retried on Flex within the bound (2 retries), then once at standard.
    assert asked.count("flex") == 3 * 3
    assert asked.count("standard") == 3
    results = read_json(tmp_path / "results.json")
    check_results_match_disk(results, tmp_path / "deck", 3)
    standard = image_cost("gemini-3-pro-image", "1K") or 0.0
    for output in results["outputs"]:
        assert output["fell_back"] is True
        assert output["service_tier"] == "standard"
        assert output["cost_usd"] == pytest.approx(standard, rel=0.05)
    line = done.stdout.decode().strip().splitlines()[-1]
    assert "3 slides fell back from Flex to standard (1-3), $" in line, line


def test_shed_flex_slides_fail_when_the_config_says_fail(tmp_path: Path) -> None:
    config = write_config(tmp_path, count=2, service_tier="flex", flex_fallback="fail")
    with emulator(flex_shed_rate=1.0) as (recording, url):
        done = run_cli("run", str(config), *FAST, *files_args(tmp_path), env=environment(url, KEY))
    assert done.returncode == 1
    assert set(tiers_asked(recording)) == {"flex"}
    assert len(recording.exchanges) == 2 * 3  # the first try and the two retries on Flex
    results = read_json(tmp_path / "results.json")
    assert [e["kind"] for e in results["errors"]] == ["FlexShed", "FlexShed"]


def test_a_flex_request_served_at_standard_is_priced_at_standard(tmp_path: Path) -> None:
    config = write_config(tmp_path, count=2, service_tier="flex")
    with emulator(flex_shed_rate=0.0, flex_standard_rate=1.0) as (_, url):
        done = run_cli("run", str(config), *FAST, *files_args(tmp_path), env=environment(url, KEY))
    assert done.returncode == 0, done.stderr
    results = read_json(tmp_path / "results.json")
    standard = image_cost("gemini-3-pro-image", "1K") or 0.0
    assert [o["cost_usd"] for o in results["outputs"]] == [pytest.approx(standard, rel=0.05)] * 2
    said = [n for n in results["notices"] if "served at another tier" in n]
    assert said == ["slides 1-2 asked flex, served at another tier: priced as served"]


def test_tier_flag_overrides_the_config_and_a_slide_keeps_its_own(tmp_path: Path) -> None:
    config = write_config(tmp_path, count=2)
    raw = orjson.loads(config.read_bytes())
    raw["slides"][1]["service_tier"] = "priority"
    config.write_bytes(orjson.dumps(raw))
    with emulator() as (recording, url):
        done = run_cli("run", str(config), *FAST, *files_args(tmp_path), env=environment(url, KEY))
        assert done.returncode == 0, done.stderr
        assert sorted(tiers_asked(recording)) == ["priority", "standard"]
        again = run_cli(
            "run", str(config), "--force", "--tier", "flex", *files_args(tmp_path),
            env=environment(url, KEY),
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert tiers_asked(recording)[2:] == ["flex", "flex"]


@pytest.mark.parametrize(
    ("extra", "args", "field"),
    [
        ({"service_tier": "turbo"}, (), "service_tier"),
        ({"flex_fallback": "maybe"}, (), "flex_fallback"),
        ({"mode": "batch-api", "service_tier": "flex"}, (), "service_tier"),
        ({"mode": "batch-api"}, ("--tier", "priority"), "--tier"),
    ],
)
def test_bad_tier_input_is_one_line_exit_2(
    tmp_path: Path, extra: dict[str, Any], args: tuple[str, ...], field: str
) -> None:
    config = write_config(tmp_path, **extra)
    with emulator() as (recording, url):
        done = run_cli("run", str(config), *args, *files_args(tmp_path), env=environment(url, KEY))
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert field in lines[0]
    assert not recording.exchanges


def test_plan_prices_all_four_side_by_side(tmp_path: Path) -> None:
    config = write_config(tmp_path, count=4)
    done = run_cli("plan", str(config), "--json", env=environment("http://127.0.0.1:9", KEY))
    assert done.returncode == 0, done.stderr
    plan = orjson.loads(done.stdout)
    standard = plan["cost_usd"]
    assert plan["tier_costs_usd"] == {
        "standard": pytest.approx(standard),
        "priority": pytest.approx(standard * 2),
        "flex": pytest.approx(standard / 2),
        "batch": pytest.approx(standard / 2),
    }
    text = run_cli("plan", str(config), env=environment("http://127.0.0.1:9", KEY))
    assert text.returncode == 0, text.stderr
    first = text.stdout.decode().splitlines()[0]
    assert "about $0.54 standard at list prices" in first, first
    assert "(Priority $1.08, Flex $0.27, $0.27 through the Batch API)" in first, first


def test_plan_of_a_flex_deck_leads_with_flex_and_its_budget_is_at_flex(tmp_path: Path) -> None:
    # Four slides: $0.54 standard, $0.27 on Flex. A budget of $0.40 holds on Flex only.
    config = write_config(tmp_path, count=4, service_tier="flex", max_cost=0.40)
    env = environment("http://127.0.0.1:9", KEY)
    done = run_cli("run", str(config), "--dry-run", *files_args(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    first = done.stdout.decode().splitlines()[0]
    assert "about $0.27 on Flex at list prices" in first, first
    assert "(standard $0.54, Priority $1.08, $0.27 through the Batch API)" in first, first
    dearer = run_cli(
        "run", str(config), "--dry-run", "--tier", "priority", *files_args(tmp_path), env=env
    )
    assert dearer.returncode == 2
    assert "max_cost" in dearer.stderr.decode()


def test_a_detached_flex_run_sheds_falls_back_and_says_so_when_followed(tmp_path: Path) -> None:
    config = write_config(tmp_path, count=2)
    with emulator(flex_shed_rate=1.0) as (recording, url):
        env = environment(url, KEY)
        started = run_cli(
            "run", str(config), "--detach", "--tier", "flex", *FAST, *files_args(tmp_path), env=env
        )
        assert started.returncode == 0, started.stderr
        for _ in range(20):
            waited = run_cli("wait", "--progress-file", str(tmp_path / "progress.json"), env=env)
            if waited.returncode != 124:
                break
    assert waited.returncode == 0, waited.stderr
    line = waited.stdout.decode().strip().splitlines()[-1]
    assert line.startswith("done 2/2"), line
    assert "2 slides fell back from Flex to standard (1-2), $" in line, line
    assert (
        sorted(exchange.tier for exchange in recording.exchanges) == ["flex"] * 6 + ["standard"] * 2
    )


def test_max_cost_holds_across_fallbacks(tmp_path: Path) -> None:
    # On Flex the deck plans at about $0.21, under the budget; at standard a slide costs
    # $0.137. Every Flex request is shed: a slide that falls back counts at standard before
    # it is sent again, so one fits and the others are not sent (counted at Flex's price,
    # a second would be sent and take the run to $0.27).
    config = write_config(tmp_path, service_tier="flex", max_cost=0.25)
    with emulator(flex_shed_rate=1.0) as (recording, url):
        done = run_cli("run", str(config), *FAST, *files_args(tmp_path), env=environment(url, KEY))
    assert done.returncode == 0, done.stderr
    results = read_json(tmp_path / "results.json")
    assert results["cost_usd"] <= 0.25
    assert [o["fell_back"] for o in results["outputs"]] == [True]
    assert [e["kind"] for e in results["errors"]] == ["OverBudget", "OverBudget"]
    assert sum(1 for e in recording.exchanges if e.tier == "standard") == 1
