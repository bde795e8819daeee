"""The options a run uses: settings merged over the config once, under one rule.

A setting given explicitly wins over the config; ``None`` means "not given"; 0 is a value.
The table holds each option with the config's value, the setting's, and what the run uses;
the budget of nothing (``max_cost=0.0``) is then followed through a whole run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from nanobanana_async.config.loading import DeckConfig, load_config
from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.engine.options import DEFAULT_MAX_CONNECTIONS, RunOptions, run_options
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.errors import ConfigError

KEY = "test-key-0123456789"
ENV = {"GEMINI_API_KEY": KEY}


def _config(tmp_path: Path, **fields: Any) -> DeckConfig:
    raw = {"slides": [{"number": 1, "prompt": "Slide 1"}], "output_dir": str(tmp_path / "deck")}
    return load_config({**raw, **fields}, env=ENV)


@pytest.mark.parametrize(
    ("field", "configured", "setting", "used"),
    [
        # Given in the settings: it wins, whatever the config says, 0 included.
        ("max_cost", 5.0, 0.0, 0.0),
        ("max_cost", None, 0.0, 0.0),
        ("max_cost", 5.0, 2.5, 2.5),
        ("rpm", 10.0, 3.0, 3.0),
        ("concurrency", 4, 1, 1),
        ("timeout", 90.0, 5.0, 5.0),
        # Not given (None): the config's.
        ("max_cost", 5.0, None, 5.0),
        ("max_cost", None, None, None),
        ("rpm", 10.0, None, 10.0),
        ("rpm", None, None, None),
        ("concurrency", 4, None, 4),
        ("concurrency", None, None, None),
        ("timeout", 90.0, None, 90.0),
    ],
)
def test_a_setting_given_wins_and_none_is_not_given(
    tmp_path: Path, field: str, configured: object, setting: object, used: object
) -> None:
    fields = {} if configured is None else {field: configured}
    given: dict[str, Any] = {field: setting}
    settings = EngineSettings(**given)
    options = run_options(_config(tmp_path, **fields), settings)
    assert getattr(options, field) == used


@pytest.mark.parametrize(
    ("mode", "flag", "used"),
    [("standard", False, False), ("standard", True, True), ("batch-api", False, True)],
)
def test_the_batch_api_is_the_configs_mode_or_asked_for(
    tmp_path: Path, mode: str, flag: bool, used: bool
) -> None:
    options = run_options(_config(tmp_path, mode=mode), EngineSettings(batch_api=flag))
    assert options.batch_api is used


def test_the_client_keeps_as_many_connections_as_the_concurrency_given() -> None:
    fixed = RunOptions(rpm=None, concurrency=3, timeout=1.0, max_cost=None, batch_api=False)
    free = RunOptions(rpm=None, concurrency=None, timeout=1.0, max_cost=None, batch_api=False)
    assert (fixed.max_connections, free.max_connections) == (3, DEFAULT_MAX_CONNECTIONS)


async def test_a_budget_of_nothing_refuses_a_paid_plan_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    # EngineSettings(max_cost=0.0) once meant "no budget" to the check before the run
    # (0.0 or the config's None) and "nothing" to the run: the plan went through and every
    # slide failed over budget one by one. One budget now, refused where budgets are.
    emulator = Emulator(EmulatorSettings(latency=False))
    config = {
        "slides": [{"number": n, "prompt": f"Slide {n}"} for n in (1, 2, 3)],
        "output_dir": str(tmp_path / "deck"),
    }
    settings = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0, max_cost=0.0)
    with pytest.raises(ConfigError) as refused:
        await generate_deck(
            config, settings=settings, transport=httpx2.ASGITransport(app=emulator), env=ENV
        )
    assert refused.value.field == "max_cost"
    assert "over the budget of $0.00" in str(refused.value)
    assert emulator.stats()["requests"] == 0
    assert not list((tmp_path / "deck").glob("slide*"))
