"""nanobanana-async: a deck of slide prompts in, finished images out, as fast as the quota allows.

The public surface is small::

    result = await nanobanana_async.generate_deck("slides.json")

``generate_batch``, ``BatchConfig`` and ``BatchResult``, the seed design's names, are the
same objects: "batch" otherwise means Google's Batch API only.

Names are imported lazily (PEP 562), so ``import nanobanana_async`` and the ``nanobanana``
command start without loading the HTTP stack or Pillow until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ApiError",
    "BatchConfig",
    "BatchResult",
    "ConfigError",
    "DeckConfig",
    "DeckResult",
    "EngineSettings",
    "FatalApiError",
    "NanoBananaError",
    "Progress",
    "RetryPolicy",
    "RunLockedError",
    "SlideError",
    "SlideFailure",
    "SlideOutput",
    "SlideSpec",
    "__version__",
    "config_schema",
    "generate_batch",
    "generate_deck",
    "load_config",
]

# Where each public name lives; ``tests/unit/test_exported_members.py`` keeps this table, the
# list above and the ``TYPE_CHECKING`` imports below in step.
_HOMES = {
    "ApiError": "errors",
    "DeckConfig": "config",
    "DeckResult": "results",
    "ConfigError": "errors",
    "EngineSettings": "engine",
    "FatalApiError": "errors",
    "NanoBananaError": "errors",
    "Progress": "engine.progress",
    "RetryPolicy": "engine.retry",
    "RunLockedError": "errors",
    "SlideError": "errors",
    "SlideFailure": "results",
    "SlideOutput": "results",
    "SlideSpec": "config",
    "config_schema": "config",
    "generate_deck": "engine",
    "load_config": "config",
}

# The seed design's spellings of three of them: the same objects, under their old names.
_SEED_NAMES = {
    "BatchConfig": "DeckConfig",
    "BatchResult": "DeckResult",
    "generate_batch": "generate_deck",
}

if TYPE_CHECKING:
    from .config.loading import DeckConfig, SlideSpec, config_schema, load_config
    from .config.loading import DeckConfig as BatchConfig
    from .engine.progress import Progress
    from .engine.retry import RetryPolicy
    from .engine.run import EngineSettings, generate_deck
    from .engine.run import generate_deck as generate_batch
    from .errors import (
        ApiError,
        ConfigError,
        FatalApiError,
        NanoBananaError,
        RunLockedError,
        SlideError,
    )
    from .results import DeckResult, SlideFailure, SlideOutput
    from .results import DeckResult as BatchResult


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from ._version import version

        return version()
    own = _SEED_NAMES.get(name, name)
    home = _HOMES.get(own)
    if home is None:
        raise AttributeError(f"module 'nanobanana_async' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), own)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
