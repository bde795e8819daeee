"""A real Redis server for the tests that share a quota through it: scenario 9's
(:mod:`benchmarks.redis_server`), with the client the tests read it with.

:func:`redis_or_skip` says why a test cannot have one (no server binary, no ``redis``
package); ``.ci/run`` installs the server where it is missing.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.redis_server import REDIS_SERVER
from benchmarks.redis_server import RedisServer as _Server

__all__ = ["RedisServer", "redis_or_skip", "running_redis"]


def redis_or_skip() -> None:
    """Skip the test, saying what is missing, unless a server can be started."""
    pytest.importorskip("redis", reason="the redis extra (redis-py) is not installed")
    if not REDIS_SERVER:
        pytest.skip("no redis-server or valkey-server on PATH (apt install redis-server)")


class RedisServer(_Server):
    """The server, and a client of the test's own on it."""

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)


@contextlib.contextmanager
def running_redis(*, password: str | None = None) -> Iterator[RedisServer]:
    """A server of its own, for a test that kills it, fills it or makes it read-only."""
    redis_or_skip()
    with tempfile.TemporaryDirectory(prefix="nanobanana-redis-") as folder:
        server = RedisServer(Path(folder), password=password)
        try:
            server.start()
        except RuntimeError as error:
            pytest.skip(str(error))
        try:
            yield server
        finally:
            server.kill()
