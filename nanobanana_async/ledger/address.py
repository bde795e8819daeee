"""Where a run keeps its quota's pacing state: what ``--ledger``, ``"ledger"`` and
``NANO_BANANA_LEDGER`` may say, read once.

* ``"file"``: the file in the user's private runtime folder, shared by the runs of this
  machine (the command line's default);
* ``"off"``: nowhere shared: the run paces on its own;
* ``redis://[user:password@]host[:port][/db]`` or ``rediss://`` (TLS): a Redis (or Valkey)
  server shared by the runs of every machine pointed at it. A password may also come from
  ``REDISCLI_AUTH``, the variable ``redis-cli`` reads. Query options redis-py knows
  (``?socket_timeout=0.5`` for a far server) are passed on.

A URL may hold a password, so an address is shown (in a notice, an error, a repr) without
its user part.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal, TypeAlias
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["LEDGER_ENV", "LedgerChoice", "RedisAddress", "parse_ledger", "shown_url"]

LEDGER_ENV = "NANO_BANANA_LEDGER"
_SCHEMES = ("redis", "rediss")
_EXPECTED = 'expected "file", "off", or a Redis URL such as redis://host:6379/0'


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """A Redis server for the ledger: ``url`` as given (it may hold a password, so it is
    never shown), ``shown`` without the user part."""

    url: str = field(repr=False)
    shown: str


LedgerChoice: TypeAlias = Literal["file", "off"] | RedisAddress


def shown_url(url: str) -> str:
    """``url`` without user and password (``redis://host:6379/0``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def parse_ledger(value: object, where: str) -> LedgerChoice:
    """``value`` as a ledger choice.

    Raises:
        ConfigError: named ``where``, with the fix: not a string, an unknown word, a URL
            of another scheme or with no host, or a Redis URL without the ``redis`` extra.
    """
    if not isinstance(value, str):
        raise ConfigError(where, f"{_EXPECTED}, got {type(value).__name__}")
    text = value.strip()
    if text == "file":
        return "file"
    if text == "off":
        return "off"
    parts = urlsplit(text)
    if parts.scheme not in _SCHEMES:
        shown = shown_url(text) if "://" in text else text[:40]
        raise ConfigError(where, f"{_EXPECTED}, got {shown!r}")
    try:
        host, db = parts.hostname, parts.path.strip("/")
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        host, db = None, "?"
    if not host or (db and not db.isdigit()):
        raise ConfigError(
            where,
            f"{shown_url(text)!r} names no host, or a database that is not a number; "
            "write redis://host:6379/0",
        )
    if not _have_redis():
        raise ConfigError(
            where,
            "a Redis ledger needs the redis extra: pip install 'nanobanana-async[redis]'",
        )
    return RedisAddress(url=text, shown=shown_url(text))


def _have_redis() -> bool:
    try:
        return importlib.util.find_spec("redis") is not None
    except (ImportError, ValueError):  # a module set to None, or a broken one
        return False
