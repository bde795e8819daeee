"""Helpers for the config tests: a minimal deck to override, and ``load_config`` around it.

Every test passes ``env=`` and ``base_dir=`` explicitly: nothing here reads or changes the
real environment or working directory. The ``base`` fixture is in this folder's conftest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from nanobanana_async.config.loading import DeckConfig, SlideSpec, load_config
from nanobanana_async.errors import ConfigError

__all__ = ["DROP", "KEY", "S_AT", "S", "deck", "key_refusal", "load", "one", "refusal"]

KEY = "AIzaSyD-test-key-not-real-0123456789abc"
DROP = object()
"""An override value meaning "leave this field out"."""
S = "slide 1 (slides[0])"
"""The first slide, as messages name it: the prefix of its fields in the REFUSED tables."""
S_AT = "slides[0]"
"""The first slide by its place alone, as messages name it when its number is the problem."""


def deck(slide: Mapping[str, Any] | None = None, /, **top: Any) -> dict[str, Any]:
    """A minimal valid config, with top-level and first-slide overrides applied."""
    first: dict[str, Any] = {"number": 1, "prompt": "A title slide"}
    for name, value in (slide or {}).items():
        first.pop(name) if value is DROP else first.__setitem__(name, value)
    raw: dict[str, Any] = {"slides": [first], "output_dir": "deck"}
    for name, value in top.items():
        raw.pop(name) if value is DROP else raw.__setitem__(name, value)
    return raw


def load(raw: Any, base: Path, env: Mapping[str, str] | None = None) -> DeckConfig:
    return load_config(raw, env=env or {}, base_dir=base)


def refusal(raw: Any, base: Path, env: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(raw, base, env)
    return info.value


def key_refusal(raw: Any, base: Path, env: Mapping[str, str] | None = None) -> ConfigError:
    """The deck loads (a plan needs no key), and what would send is refused: why, in one line."""
    config = load(raw, base, env)
    assert config.api_key is None
    with pytest.raises(ConfigError) as info:
        config.require_key()
    return info.value


def check_refused(
    base: Path, top: dict[str, Any], slide: dict[str, Any], where: str, problem: str
) -> None:
    """A deck with ``top`` and first-slide overrides is refused with one line naming ``where``."""
    error = refusal(deck(slide, **top), base)
    assert error.field == where
    assert problem in error.problem
    assert str(error) == f"{where}: {error.problem}"
    assert "\n" not in str(error)


def one(raw: dict[str, Any], base: Path, env: Mapping[str, str] | None = None) -> SlideSpec:
    return load(raw, base, env).slides[0]
