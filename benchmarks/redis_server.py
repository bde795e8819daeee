"""A real Redis server on loopback, for scenario 9 and for the tests that share a quota
through it (``tests/redis_server.py`` skips where it cannot start one).

``redis-server`` (or ``valkey-server``, or ``$BENCH_REDIS_SERVER``) on a free port, in a
folder of its own, saving nothing to disk: started again on the same port, it comes back
empty, as a restarted server without persistence does.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["REDIS_SERVER", "RedisServer"]

REDIS_SERVER = (
    os.environ.get("BENCH_REDIS_SERVER")
    or shutil.which("redis-server")
    or shutil.which("valkey-server")
    or ""
)
"""The server binary: ``$BENCH_REDIS_SERVER``, else ``redis-server`` or ``valkey-server``."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    """It answers a PING (with a password set, by asking for it)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on a loopback port, no persistence, in a folder of its own."""

    def __init__(self, folder: Path, port: int | None = None, password: str | None = None) -> None:
        self.folder = folder
        self.port = port or _free_port()
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        up = self._process is not None and self._process.poll() is None
        return f"<RedisServer {self.url} {'up' if up else 'down'}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (again, empty, on the same port) and wait until it answers.

        Raises:
            RuntimeError: it did not start within 10 s.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no",
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        with open(self.folder / "redis.log", "ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{REDIS_SERVER} did not start on port {self.port}")
            time.sleep(0.01)  # the server's own start-up

    def kill(self) -> None:
        """SIGKILL, as a machine losing its Redis would see it."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=5)

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
