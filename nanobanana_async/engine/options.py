"""The options one run uses, merged once from the config and the engine settings.

A deck's config says what it would like (``rpm``, ``concurrency``, ``timeout``, ``max_cost``,
``mode``); the caller's :class:`~.settings.EngineSettings` (the CLI's flags, an embedding
program) may say otherwise. They meet here, under one rule, and nowhere else:

    a setting given explicitly wins over the config; ``None`` means "not given";
    0 (or any other falsy number) is a value.

So ``--max-cost 0`` is a budget of nothing, not "no budget". ``batch_api`` is a switch the
settings can only turn on (``False`` is "not given"): the config's ``"mode": "batch-api"``
holds unless the caller asks for the Batch API too. Everything after the merge (the budget
check, the client, the pacer and gate, the plan's wording) reads only :class:`RunOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from ..config.loading import DeckConfig
from ..errors import ConfigError
from .settings import EngineSettings

__all__ = ["DEFAULT_MAX_CONNECTIONS", "RunOptions", "run_options"]

DEFAULT_MAX_CONNECTIONS = 32
"""Connections the client keeps when no concurrency is given (the gate sizes the rest)."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one run uses, once the config and the settings are merged.

    Attributes:
        rpm: the quota's requests per minute, if known.
        concurrency: requests in flight at most, if fixed; ``None``: the gate sizes it.
        timeout: the deadline of one whole request, in seconds.
        max_cost: the run's budget in USD; ``None``: no budget (0.0 is one: nothing paid).
        batch_api: the slides to generate go to the Batch API as one job.
        fix_text: fix rounds for every checked slide (``--fix-text``); ``None``: each
            slide's own ``fix_text``.
        service_tier: the tier every slide asks for (``--tier``), over the config's;
            ``None``: each slide's own.
    """

    rpm: float | None
    concurrency: int | None
    timeout: float
    max_cost: float | None
    batch_api: bool
    fix_text: int | None = None
    service_tier: str | None = None

    @property
    def max_connections(self) -> int:
        """The client's connection pool: the fixed concurrency, else a default."""
        return self.concurrency if self.concurrency is not None else DEFAULT_MAX_CONNECTIONS


def _given(setting: _T | None, configured: _T) -> _T:
    """The one rule: the setting when given (not ``None``), else the config's."""
    return setting if setting is not None else configured


def run_options(config: DeckConfig, settings: EngineSettings) -> RunOptions:
    """Merge ``settings`` over ``config``: the only place the two meet.

    Raises:
        ConfigError: a tier other than standard asked with the Batch API (its price is its
            own, and a batch takes no tier).
    """
    batch_api = settings.batch_api or config.mode == "batch-api"
    tiers = (
        {settings.service_tier}
        if settings.service_tier
        else {s.service_tier for s in config.slides}
    )
    if batch_api and tiers - {"standard"}:
        raise ConfigError(
            "--tier" if settings.service_tier else "service_tier",
            f"{sorted(tiers - {'standard'})[0]} does not go with the Batch API (a batch is "
            "billed at its own half price); drop the tier, or run without --batch-api",
        )
    return RunOptions(
        rpm=_given(settings.rpm, config.rpm),
        concurrency=_given(settings.concurrency, config.concurrency),
        timeout=_given(settings.timeout, config.timeout),
        max_cost=_given(settings.max_cost, config.max_cost),
        batch_api=batch_api,
        fix_text=settings.fix_text,
        service_tier=settings.service_tier,
    )
