"""A server of another user's on a loopback port: a process that drops to ``nobody`` first.

Loopback is not one party: any user may listen on a free port, and a client that takes
``127.0.0.1:PORT`` for "this machine, so mine" hands that user the key. The listener here
is made by a child that drops to uid/gid 65534 before it creates its socket, so the
kernel lists the socket as nobody's, as it would list another user's. Only root can drop
so (CI runs as root); as anyone else the tests that need it skip.

The child answers nothing: it records what each connection sent, and the test reads that
when it ends the child, to show that nothing (the key least of all) arrived.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

__all__ = ["NOBODY", "OTHER", "Listener", "listening_as_nobody"]

NOBODY = 65534
OTHER = 12345  # a uid nobody here has: a file chowned to it is another user's

_CHILD = f"""
import os, socket, sys
os.setgroups([])
os.setgid({NOBODY})
os.setuid({NOBODY})
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", 0))
server.listen()
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    conn.settimeout(5)
    try:
        data = conn.recv(65536)
    except OSError:
        data = b""
    print(data.hex() or "-", flush=True)
    conn.close()
"""


@dataclass
class Listener:
    """The port nobody listens on, and (once the block is over) what each connection sent."""

    port: int
    received: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def listening_as_nobody() -> Iterator[Listener]:
    """A listener of uid 65534 on a free loopback port, for the length of the block."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root, to listen as another user (uid 65534)")
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", _CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        listener = Listener(int(child.stdout.readline()))
        yield listener
    finally:
        child.kill()
        rest, _ = child.communicate(timeout=30)
    listener.received = [
        b"" if line == "-" else bytes.fromhex(line) for line in rest.decode().split()
    ]
