"""``nanobanana cancel``: cancel a Batch API run's batch at the service, in one line.

The batch is named by the run's progress file (``batch.name``), or by the deck's manifest
when ``--config`` says which deck (a run that died, or one started elsewhere); a manifest
holding only the display name (the create's answer was lost) is looked up by it. The
service stops the batch. The line says what happens next, as it is: a run waiting on the
batch sees CANCELLED at its next look and ends with the slides made so far; with no run
waiting, the deck's next run keeps what the batch made and sends the rest again. The key
and the endpoint are the run's: the config's, else the environment's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import anyio

from ..batch.api import BatchApi
from ..config import environment
from ..config.loading import load_config
from ..engine.manifest import Manifest
from ..errors import ApiError, BatchNotFound, ConfigError
from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..files.lock import deck_holder
from ..follow.progress_file import NotAProgressFile, read_progress, run_holder
from ..follow.summary import printable
from ..service.client import GeminiClient

__all__ = ["cancel_command"]

_TIMEOUT = 60.0


class _Outcome(NamedTuple):
    name: str  # the batch's name ("" when none was found by display name)
    state: str  # its state before the cancel
    cancelled: bool  # False: it was over already


def cancel_command(progress_file: Path, config: Path | None) -> int:
    """Cancel the batch of the run at ``progress_file`` (or of ``config``'s deck)."""
    env = os.environ
    display = ""
    try:
        if config is not None:
            cfg = load_config(config, env=env)
            record = Manifest.read(cfg.output_dir, cfg.api_key).batch or {}
            name = str(record.get("name") or "")
            display = str(record.get("display_name") or "")
            key, no_key = cfg.api_key, cfg.key_problem
            base_url, where = cfg.base_url, printable(str(cfg.output_dir))
            waiting = deck_holder(cfg.output_dir) is not None
        else:
            progress = read_progress(progress_file)
            batch = (progress or {}).get("batch") or {}
            name = str(batch.get("name") or "")
            key, no_key = environment.api_key(None, env)
            base_url = environment.base_url(None, env)[0]
            where = printable(str(progress_file))
            waiting = run_holder(progress_file) is not None
    except (ConfigError, NotAProgressFile) as error:
        print(f"nanobanana: error: {error}")
        return EXIT_USAGE
    if not name.startswith("batches/") and not display:
        print(f"no batch to cancel at {where} (not a Batch API run, or not submitted yet)")
        return EXIT_FAILED
    if not key:
        print(f"nanobanana: error: {ConfigError(*(no_key or environment.NO_KEY))}")
        return EXIT_USAGE
    shown = printable(name or display)
    try:
        outcome = anyio.run(_cancel, key, base_url, name, display)
    except BatchNotFound:
        print(f"batch {shown} is gone from the service (deleted or expired)")
        return EXIT_FAILED
    except ApiError as error:
        print(f"cannot cancel batch {shown}: {error.message}")
        return EXIT_FAILED
    if not outcome.name:
        print(f"no batch to cancel at {where}: the service has no batch {shown} (never created)")
        return EXIT_FAILED
    batch = printable(outcome.name)
    if not outcome.cancelled:
        then = "the run waiting on it collects it" if waiting else "the deck's next run collects it"
        print(f"batch {batch} is already over ({outcome.state}), nothing to cancel; {then}")
        return EXIT_FAILED
    if waiting:
        then = "the run waiting on it ends at its next look, with the slides made so far"
    else:
        then = (
            "no run is waiting on it: the deck's next run keeps what it made "
            "and sends the rest again"
        )
    print(f"cancelled batch {batch} (it was {outcome.state}); {then}")
    return EXIT_OK


async def _cancel(key: str, base_url: str, name: str, display: str) -> _Outcome:
    async with GeminiClient(api_key=key, base_url=base_url, timeout=_TIMEOUT) as client:
        api = BatchApi(client, "", base_url)
        if not name:
            found = await api.find(display)
            if found is None:
                return _Outcome("", "", cancelled=False)
            name = found.name
        before = await api.get(name)
        if before.over:
            return _Outcome(name, before.state, cancelled=False)
        await api.cancel(name)
    return _Outcome(name, before.state, cancelled=True)
