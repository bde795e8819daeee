"""Where the Gemini API lives, and what a base URL's host says about where the key goes.

Three kinds of host: Google's (:data:`DEFAULT_BASE_URL`, and the embedded emulator that
plays it), this machine (loopback: the key does not leave it), and any other, which gets
the key and every prompt and reference image, and is worth saying so.

This machine is not one party: any user may listen on a free port of it, and a server of
another user's on ``127.0.0.1:8765`` reads the key as surely as one abroad. So before a
request goes to this machine, :func:`foreign_listener` asks the kernel who listens on that
port (``/proc/net/tcp`` and ``tcp6`` on Linux list each listening socket with the uid that
made it), and the client sends nothing when it is another user (root aside: root reads
the key anyway). A port can only change hands while nobody listens on it, so a look just
before each request leaves no room worth having. Elsewhere (no ``/proc``) nobody is known
and the notice the config gets says where the key goes.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_BASE_URL",
    "EMULATOR_BASE_URL",
    "GOOGLE_HOST",
    "foreign_listener",
    "is_embedded_emulator",
    "is_google",
    "is_loopback",
    "own_listener",
    "reaches_this_machine",
    "refused_listener",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
"""Google's endpoint, when nothing says otherwise (``GOOGLE_GEMINI_BASE_URL``)."""

GOOGLE_HOST = "generativelanguage.googleapis.com"

EMULATOR_BASE_URL = "http://emulator.invalid"
"""The emulator ``run --emulator`` embeds, reached through an in-process transport only.

Plain http and no notice are right for it alone, so its name must reach nothing else:
``.invalid`` is reserved never to resolve (RFC 6761), where a bare ``emulator`` could be
answered by a search domain, a container's DNS, or anyone on the LAN (LLMNR).
"""

_EMULATOR_HOSTS = frozenset({urlsplit(EMULATOR_BASE_URL).hostname})


def is_google(host: str | None) -> bool:
    """Whether ``host`` (lower case, as ``urlsplit`` gives it) is Google's endpoint: the
    Developer API's, or Vertex AI's (``aiplatform.googleapis.com``, a region's
    ``us-central1-aiplatform.googleapis.com``)."""
    if host == GOOGLE_HOST or host == "aiplatform.googleapis.com":
        return True
    return (
        host is not None
        and re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*-aiplatform\.googleapis\.com", host) is not None
    )


def is_embedded_emulator(host: str | None) -> bool:
    """Whether ``host`` names the embedded emulator, which plays Google's service."""
    return host in _EMULATOR_HOSTS


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost``, ``127.0.0.0/8`` or ``::1``.

    Only what is loopback by its spelling: a name that resolves there today (or an IPv4
    address mapped into IPv6, or ``0.0.0.0``) may not tomorrow, so it counts as elsewhere.
    """
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reaches_this_machine(host: str | None) -> bool:
    """Whether a connection to ``host`` lands on a port of this machine by its spelling:
    loopback, or the unspecified address (``0.0.0.0``, ``::``), which Linux connects to
    this machine too."""
    if is_loopback(host):
        return True
    try:
        return ipaddress.ip_address(host or "").is_unspecified
    except ValueError:
        return False


_PROC_NET = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"  # TCP_LISTEN in the ``st`` column


def foreign_listener(url: str, *, tables: tuple[Path, ...] = _PROC_NET) -> int | None:
    """The uid of another user listening where ``url`` connects on this machine, or ``None``.

    ``None`` also for a host off this machine, a port nobody listens on (the connection
    will be refused), a listener of this user's or root's, and a system without
    ``/proc/net`` (nothing is known there). Any listener on the port that a connection to
    this machine could reach counts: on a loopback or unspecified address, IPv4 or IPv6
    (a ``::`` socket takes IPv4 connections too).

    Args:
        tables: the kernel's socket tables to read (tests give their own).
    """
    trusted = {os.geteuid(), 0}
    return next((uid for uid in _listeners(url, tables) if uid not in trusted), None)


def own_listener(url: str, *, tables: tuple[Path, ...] = _PROC_NET) -> bool:
    """Whether a server of this user's (or root's) listens where ``url`` connects on this
    machine, and nobody else's does: the key then stays with the user's own programs.

    ``False`` when it cannot be told: no ``/proc/net``, nobody listening yet, a host off
    this machine.
    """
    uids = _listeners(url, tables)
    return bool(uids) and uids <= {os.geteuid(), 0}


def _listeners(url: str, tables: tuple[Path, ...]) -> set[int]:
    """The uids listening where ``url`` connects on this machine (none off it)."""
    parts = urlsplit(url)
    if not reaches_this_machine(parts.hostname):
        return set()
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    uids: set[int] = set()
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii", errors="replace").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            uid = _listener_uid(line.split(), port)
            if uid is not None:
                uids.add(uid)
    return uids


def refused_listener(url: str, *, tables: tuple[Path, ...] = _PROC_NET) -> str | None:
    """Why nothing may be sent to ``url`` (another user listens there), or ``None``.

    One sentence, said alike by the check before a run and by the client before a request.
    """
    uid = foreign_listener(url, tables=tables)
    if uid is None:
        return None
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    return (
        f"port {port} on this machine is another user's (uid {uid}), who would read the key; "
        "nothing is sent there: use a server of your own, or another port"
    )


def _listener_uid(columns: list[str], port: int) -> int | None:
    """The uid of the socket on one ``/proc/net/tcp`` line when it listens on ``port`` at
    an address this machine's connections reach; else ``None``."""
    if len(columns) < 8 or columns[3] != _LISTEN:
        return None
    address, _, port_hex = columns[1].partition(":")
    try:
        if int(port_hex, 16) != port:
            return None
        raw = bytes.fromhex(address)
        if sys.byteorder == "little":  # each 32-bit word is printed in the host's order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        ip = ipaddress.ip_address(raw)
        uid = int(columns[7])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return uid if ip.is_loopback or ip.is_unspecified else None
