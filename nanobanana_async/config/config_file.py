"""The config file, read: a JSON object, of the reader's own, of a config's size.

The file must be its reader's: one another user owns, or anyone may write, could be
rewritten between the writing and the run (a fixed name in a shared ``/tmp`` is the
classic trap), so it is refused, checked on the open file. Each refusal is one line naming
the file and what to do.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ..errors import ConfigError
from . import fields

__all__ = ["MAX_CONFIG_BYTES", "read_json"]

MAX_CONFIG_BYTES = 10 * 1024 * 1024
"""A config larger than this is refused unread: it is not a deck, it is the wrong file."""

_TOO_BIG = "configs over 10 MB are refused (is this the right file?)"


def read_json(path: Path) -> Mapping[str, Any]:
    """Parse the config file, refusing what cannot be a config with a one-line reason."""
    where = str(path)
    try:
        # Checked on the open file, not the name: what is read is what was checked.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        hint = " (pass a dict, not JSON text)" if where.lstrip().startswith("{") else ""
        raise ConfigError(where, f"file not found; check the config path{hint}") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(where, "is a directory; give the path of the config JSON file")
        _check_trusted(info, where)
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(where, f"is {_megabytes(info.st_size)}; {_TOO_BIG}")
        with open(fd, "rb", closefd=False) as handle:
            # Read one byte past the limit: st_size is 0 for pipes and devices.
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(where, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(where, f"is over {_megabytes(MAX_CONFIG_BYTES)}; {_TOO_BIG}")
    data = data.removeprefix(b"\xef\xbb\xbf")  # Windows editors add a BOM; orjson refuses it
    if not data.strip():
        raise ConfigError(where, 'is empty; a config is a JSON object like {"slides": [...]}')
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(
            where, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(
            where,
            f'must hold a JSON object {{"slides": ...}} at the top, got {fields.json_kind(parsed)}',
        )
    return parsed


def _check_trusted(info: os.stat_result, where: str) -> None:
    """Refuse a config someone else could have rewritten: the deck, its key and its URL.

    Another user's file is refused whoever runs, root too (root would run a deck anyone
    wrote); root's own files are trusted, as root could change anything anyway. A file
    any user may write is refused. A group-writable one is not: its group is one its owner
    chose, usually (with umask 002) the owner's own private group.
    """
    if not hasattr(os, "geteuid"):  # Windows: ownership is ACLs, not these bits
        return
    if info.st_uid not in (os.geteuid(), 0):
        raise ConfigError(
            where,
            f"is owned by another user (uid {info.st_uid}), who could rewrite it; "
            "copy it to a file of your own",
        )
    if info.st_mode & stat.S_IWOTH:
        raise ConfigError(
            where,
            "is writable by every user, who could rewrite it between writing and running; "
            f"chmod o-w {shlex.quote(where)}",
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
