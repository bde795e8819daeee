"""The config a run reads, and what ``run --emulator`` makes of it: a deck written beside
the real one, never over it, with the emulator's endpoint and key.

Its own module, light to import: ``status --config`` and the choice of a run's files ask
it without loading the engine that ``run`` brings, and the config loaded here for the
choice of files is the one the run then uses (read once).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ..config.loading import DeckConfig, load_config
from ..service.endpoint import EMULATOR_BASE_URL

__all__ = ["DRY_RUN_SUFFIX", "dry_run_dir", "run_config", "run_env"]

DRY_RUN_SUFFIX = ".dry-run"
_EMULATOR_KEY = "emulator-dry-run"


def run_env(emulator: bool) -> dict[str, str]:
    """The environment ``run`` reads its config in: under ``--emulator``, a key when none is
    set (the emulator takes any) and the emulator's endpoint."""
    env = dict(os.environ)
    if emulator:
        if not (env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")):
            env["GEMINI_API_KEY"] = _EMULATOR_KEY
        env["GOOGLE_GEMINI_BASE_URL"] = EMULATOR_BASE_URL
    return env


def run_config(source: Path, env: Mapping[str, str], *, emulator: bool) -> DeckConfig:
    """The config ``run`` uses, as it uses it (:func:`_for_emulator` under ``--emulator``).

    Raises:
        ConfigError: the config is invalid.
    """
    config = load_config(source, env=env)
    return _for_emulator(config) if emulator else config


def _for_emulator(config: DeckConfig) -> DeckConfig:
    """A dry run never touches the real service, nor the deck's real images.

    Whatever the config's base_url says, the requests go to the embedded emulator; and the
    placeholders go to a folder of the dry run's own beside ``output_dir``
    (:func:`dry_run_dir`), so no real image is ever replaced by one.
    """
    return replace(
        config,
        base_url=EMULATOR_BASE_URL,
        api_key=_EMULATOR_KEY,
        output_dir=dry_run_dir(config.output_dir),
    )


def dry_run_dir(output_dir: Path) -> Path:
    """Where ``run --emulator`` writes a deck meant for ``output_dir``: ``<output_dir>.dry-run``."""
    if not output_dir.name:  # the root of a file system
        return output_dir / f"deck{DRY_RUN_SUFFIX}"
    return output_dir.with_name(f"{output_dir.name}{DRY_RUN_SUFFIX}")
