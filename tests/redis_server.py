"""A real Redis server for the tests that share a quota through it.

``redis-server`` (or ``valkey-server``) from the distribution, on loopback, on a free
port, in a folder of its own, saving nothing to disk. :func:`redis_or_skip` says why a
test cannot have one (no server binary, no ``redis`` package); ``.ci/run`` installs the
server where it is missing.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RedisServer", "redis_or_skip", "running_redis"]

_BINARIES = ("redis-server", "valkey-server")


def _binary() -> str | None:
    return next((found for name in _BINARIES if (found := shutil.which(name))), None)


def redis_or_skip() -> str:
    """The server binary, or skip the test saying what is missing."""
    pytest.importorskip("redis", reason="the redis extra (redis-py) is not installed")
    binary = _binary()
    if binary is None:
        pytest.skip("no redis-server or valkey-server on PATH (apt install redis-server)")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process; :meth:`stop` and :meth:`start` again on the same port
    (it comes back empty, as a restarted server without persistence does)."""

    def __init__(self, binary: str, folder: Path, *, password: str | None = None) -> None:
        self.binary = binary
        self.folder = folder
        self.password = password
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} {'up' if self.process else 'down'}>"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        args += ["--enable-debug-command", "local"]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder
        )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.01)  # the server's own start-up, not a wait on our code
        self.stop()
        pytest.skip(f"{self.binary} did not start on port {self.port}")

    def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients) and wait for it to go."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)


@contextlib.contextmanager
def running_redis(*, password: str | None = None) -> Iterator[RedisServer]:
    """A server of its own, for a test that stops it, fills it or makes it read-only."""
    binary = redis_or_skip()
    with tempfile.TemporaryDirectory(prefix="nanobanana-redis-") as folder:
        server = RedisServer(binary, Path(folder), password=password)
        server.start()
        try:
            yield server
        finally:
            server.stop()
