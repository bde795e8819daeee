"""Where the Gemini API lives, and what a base URL's host says about where the key goes.

Three kinds of host: Google's (:data:`DEFAULT_BASE_URL`, and the embedded emulator that
plays it), this machine (loopback: the key does not leave it), and any other, which gets
the key and every prompt and reference image, and is worth saying so.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_BASE_URL",
    "EMULATOR_BASE_URL",
    "GOOGLE_HOST",
    "is_embedded_emulator",
    "is_google",
    "is_loopback",
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
    """Whether ``host`` (lower case, as ``urlsplit`` gives it) is Google's endpoint."""
    return host == GOOGLE_HOST


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
