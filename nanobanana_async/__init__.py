"""nanobanana-async: a deck of slide prompts in, finished images out, as fast as the quota allows.

The public surface is small::

    result = await nanobanana_async.generate_batch("slides.json")

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
    "load_config",
]

# Where each public name lives; ``tests/unit/test_exported_members.py`` keeps this table, the
# list above and the ``TYPE_CHECKING`` imports below in step.
_HOMES = {
    "ApiError": "errors",
    "BatchConfig": "config",
    "BatchResult": "results",
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
    "generate_batch": "engine",
    "load_config": "config",
}

if TYPE_CHECKING:
    from .config.loading import BatchConfig, SlideSpec, config_schema, load_config
    from .engine.progress import Progress
    from .engine.retry import RetryPolicy
    from .engine.run import EngineSettings, generate_batch
    from .errors import (
        ApiError,
        ConfigError,
        FatalApiError,
        NanoBananaError,
        RunLockedError,
        SlideError,
    )
    from .results import BatchResult, SlideFailure, SlideOutput


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from ._version import version

        return version()
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'nanobanana_async' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
