"""``nanobanana cancel``: cancel a Batch API run's batch at the service, in one line.

The batch is named by the run's progress file (``batch.name``), or by the deck's manifest
when ``--config`` says which deck (a run that died, or one started elsewhere). The
service stops the batch; a run waiting on it sees CANCELLED at its next look and ends with
the slides made so far, and ``--resume`` sends the rest as a new batch. The key and the
endpoint are the run's: the config's, else the environment's.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from ..batch.api import BatchApi
from ..config import environment
from ..config.loading import load_config
from ..engine.manifest import Manifest
from ..errors import ApiError, BatchNotFound, ConfigError
from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..follow.progress_file import NotAProgressFile, read_progress
from ..follow.summary import printable
from ..service.client import GeminiClient

__all__ = ["cancel_command"]

_TIMEOUT = 60.0


def cancel_command(progress_file: Path, config: Path | None) -> int:
    """Cancel the batch of the run at ``progress_file`` (or of ``config``'s deck)."""
    env = os.environ
    try:
        if config is not None:
            cfg = load_config(config, env=env)
            name = str((Manifest.read(cfg.output_dir).batch or {}).get("name") or "")
            key, no_key = cfg.api_key, cfg.key_problem
            base_url, where = cfg.base_url, printable(str(cfg.output_dir))
        else:
            progress = read_progress(progress_file)
            batch = (progress or {}).get("batch") or {}
            name = str(batch.get("name") or "")
            key, no_key = environment.api_key(None, env)
            base_url = environment.base_url(None, env)[0]
            where = printable(str(progress_file))
    except (ConfigError, NotAProgressFile) as error:
        print(f"nanobanana: error: {error}")
        return EXIT_USAGE
    if not name.startswith("batches/"):
        print(f"no batch to cancel at {where} (not a Batch API run, or not submitted yet)")
        return EXIT_FAILED
    if not key:
        print(f"nanobanana: error: {ConfigError(*(no_key or environment.NO_KEY))}")
        return EXIT_USAGE
    try:
        state = anyio.run(_cancel, key, base_url, name)
    except BatchNotFound:
        print(f"batch {printable(name)} is gone from the service (deleted or expired)")
        return EXIT_FAILED
    except ApiError as error:
        print(f"cannot cancel batch {printable(name)}: {error.message}")
        return EXIT_FAILED
    print(f"cancelled batch {printable(name)} (it was {state}); the run ends at its next look")
    return EXIT_OK


async def _cancel(key: str, base_url: str, name: str) -> str:
    async with GeminiClient(api_key=key, base_url=base_url, timeout=_TIMEOUT) as client:
        api = BatchApi(client, "", base_url)
        before = await api.get(name)
        await api.cancel(name)
    return before.state
