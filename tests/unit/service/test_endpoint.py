"""What a base URL's host says about where the key goes (endpoint.py), and who listens on a
port of this machine: the kernel's socket tables, as written, and a real listener of
another user's (a child dropped to ``nobody``)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from other_user import NOBODY, listening_as_nobody

from nanobanana_async.service.endpoint import (
    foreign_listener,
    reaches_this_machine,
    refused_listener,
)

_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"


def _word(hex8: str) -> str:
    """A 32-bit word as /proc/net/tcp prints it on this machine (host order)."""
    return (
        "".join(reversed([hex8[i : i + 2] for i in range(0, 8, 2)]))
        if (sys.byteorder == "little")
        else hex8
    )


def _v4(address: str) -> str:
    return _word("".join(f"{int(part):02X}" for part in address.split(".")))


def _v6(groups: str) -> str:
    return "".join(_word(groups[i : i + 8]) for i in range(0, 32, 8))


def _table(tmp_path: Path, name: str, *rows: tuple[str, int, str, int]) -> Path:
    """A socket table with rows of (address as printed, port, state, uid)."""
    lines = [
        f"   {n}: {address}:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 "
        f"00000000 {uid:>5}        0 {1000 + n} 1 0000000000000000 100 0 0 10 0"
        for n, (address, port, state, uid) in enumerate(rows)
    ]
    path = tmp_path / name
    path.write_text(_HEADER + "\n".join(lines) + "\n")
    return path


LOOPBACK = _v4("127.0.0.1")
ANY = _v4("0.0.0.0")
LAN = _v4("192.168.1.5")
V6_LOOPBACK = _v6("00000000000000000000000000000001")
V6_ANY = "0" * 32
V6_MAPPED = _v6("00000000000000000000FFFF7F000001")
LISTEN, ESTABLISHED = "0A", "01"


@pytest.mark.parametrize(
    ("url", "rows", "uid"),
    [
        ("http://127.0.0.1:8765", [(LOOPBACK, 8765, LISTEN, NOBODY)], NOBODY),
        ("http://localhost:8765", [(ANY, 8765, LISTEN, 1001)], 1001),
        ("https://[::1]:8765", [(V6_LOOPBACK, 8765, LISTEN, 1001)], 1001),
        ("http://127.0.0.1:8765", [(V6_ANY, 8765, LISTEN, 1001)], 1001),  # dual stack
        ("http://127.0.0.1:8765", [(V6_MAPPED, 8765, LISTEN, 1001)], 1001),
        ("http://0.0.0.0:8765", [(LOOPBACK, 8765, LISTEN, 1001)], 1001),
        ("http://localhost", [(LOOPBACK, 80, LISTEN, 1001)], 1001),
        ("https://localhost", [(LOOPBACK, 443, LISTEN, 1001)], 1001),
        # Nobody else where the connection lands.
        ("http://127.0.0.1:8765", [(LOOPBACK, 8766, LISTEN, 1001)], None),
        ("http://127.0.0.1:8765", [(LOOPBACK, 8765, ESTABLISHED, 1001)], None),
        ("http://127.0.0.1:8765", [(LAN, 8765, LISTEN, 1001)], None),
        ("http://127.0.0.1:8765", [(LOOPBACK, 8765, LISTEN, 0)], None),  # root's
        # Off this machine: not a port of this machine at all.
        ("https://proxy.example:8765", [(ANY, 8765, LISTEN, 1001)], None),
        ("http://192.168.1.5:8765", [(ANY, 8765, LISTEN, 1001)], None),
    ],
)
def test_who_listens_where_a_request_would_land(
    tmp_path: Path, url: str, rows: list[tuple[str, int, str, int]], uid: int | None
) -> None:
    table = _table(tmp_path, "tcp", *rows)
    assert foreign_listener(url, tables=(tmp_path / "missing", table)) == uid


def test_no_tables_no_knowledge(tmp_path: Path) -> None:
    assert foreign_listener("http://127.0.0.1:1", tables=(tmp_path / "none",)) is None
    (tmp_path / "garbled").write_text(_HEADER + "x y z 0A\n   0: zz:zz 0 0A 0 0 0 notanumber\n")
    assert foreign_listener("http://127.0.0.1:1", tables=(tmp_path / "garbled",)) is None


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", True),
        ("::", True),
        ("localhost.example", False),
        ("10.0.0.1", False),
        (None, False),
    ],
)
def test_what_reaches_this_machine(host: str | None, local: bool) -> None:
    assert reaches_this_machine(host) is local


def test_a_listener_of_this_users_own_is_no_other_users() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert foreign_listener(f"http://127.0.0.1:{port}") is None
        assert refused_listener(f"http://localhost:{port}") is None


def test_a_real_listener_of_another_user_is_named_by_its_uid() -> None:
    with listening_as_nobody() as listener:
        assert foreign_listener(listener.url) == NOBODY
        assert refused_listener(listener.url) == (
            f"port {listener.port} on this machine is another user's (uid {NOBODY}), who "
            "would read the key; nothing is sent there: use a server of your own, or another "
            "port"
        )
