"""The quota ledger: one file through which the runs of one machine share what they know.

Every run's pacer keeps its :class:`~.state.QuotaState` here, one
entry per endpoint, key and model (named by a digest: the key is never written), read and
written under an exclusive ``flock`` that nothing awaits while holding, so decisions of
several runs interleave whole. Times are the monotonic clock, one per boot, so the file
records the boot id. It is evidence, never a promise: a corrupt file starts afresh, one that
cannot be opened leaves the run pacing alone. Why: docs/design.md, "The ledger".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from ..files.runtime import runtime_folder
from .state import QuotaState, state_from_json, state_to_json

__all__ = ["LEDGER_NAME", "QuotaLedger", "default_ledger_path", "entry_name"]

LEDGER_NAME = "quota-ledger.json"
_VERSION = 1
# Entries nobody has touched for a day say nothing about today's quota.
_STALE = 86_400.0
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def entry_name(base_url: str, api_key: str, model: str) -> str:
    """The ledger's name for one quota: a digest, so the key is never written."""
    digest = hashlib.sha256(f"{base_url}\0{api_key}\0{model}".encode()).hexdigest()
    return digest[:24]


def default_ledger_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The ledger in the user's private runtime folder (:func:`~..files.runtime.runtime_folder`:
    ``$XDG_RUNTIME_DIR/nano-banana/``, else ``$TMPDIR/nano-banana-<uid>/``); ``None`` if unsafe.

    A folder that belongs to someone else or is writable by others is not used, since
    whoever can write the ledger can stall runs.
    """
    folder = runtime_folder(env)
    return None if folder is None else folder / LEDGER_NAME


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


class QuotaLedger:
    """A :class:`~.state.StateStore` in a file shared by this machine's runs.

    Args:
        path: the ledger file (see :func:`default_ledger_path`).
        entry: this quota's name in it (see :func:`entry_name`).
        clock: the pacer's clock, to age out stale entries.
    """

    __slots__ = ("_broken", "_clock", "_entry", "_fallback", "path")

    def __init__(
        self, path: Path, entry: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._entry = entry
        self._clock = clock
        self._fallback = QuotaState()
        self._broken: str | None = None

    def __repr__(self) -> str:
        where = f"broken: {self._broken}" if self._broken else str(self.path)
        return f"<QuotaLedger {where} entry={self._entry[:8]}>"

    @contextlib.contextmanager
    def open(self) -> Iterator[QuotaState]:
        """This quota's state, locked against every other run until the block ends."""
        if self._broken is not None:
            yield self._fallback
            return
        try:
            fd = os.open(self.path, _OPEN_FLAGS, 0o600)
        except OSError as exc:
            self._give_up(exc)
            yield self._fallback
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = _read_all(fd)
            document = self._document(raw)
            entries: dict[str, Any] = document["entries"]
            stored = entries.get(self._entry)
            state = state_from_json(stored)
            # As bytes: the dump shares the state's lists, which the decision may change.
            before = orjson.dumps(state_to_json(state)) if stored is not None else None
            yield state
            self._fallback = state
            entry = state_to_json(state)
            if orjson.dumps(entry) == before:
                return  # a decision that changed nothing (a read, a wait) writes nothing
            entry["seen"] = self._clock()
            entries[self._entry] = entry
            now = self._clock()
            for name in [n for n, e in entries.items() if _stale(e, now)]:
                del entries[name]
            data = orjson.dumps(document)
            if data != raw:
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, data)
                os.ftruncate(fd, len(data))
        except OSError as exc:
            self._give_up(exc)
        finally:
            os.close(fd)  # releases the lock

    def _document(self, raw: bytes) -> dict[str, Any]:
        boot = _boot_id()
        try:
            document = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            document = {}
        if (
            not isinstance(document, dict)
            or document.get("version") != _VERSION
            or document.get("boot") != boot
            or not isinstance(document.get("entries"), dict)
        ):
            document = {"version": _VERSION, "boot": boot, "entries": {}}
        return document

    def _give_up(self, exc: OSError) -> None:
        """Pace alone from now on; say so once, on stderr (the run itself goes on)."""
        self._broken = exc.strerror or type(exc).__name__
        print(
            f"nanobanana: quota ledger {self.path} unusable ({self._broken}); "
            "pacing this run on its own",
            file=sys.stderr,
        )


def _stale(entry: object, now: float) -> bool:
    seen = entry.get("seen") if isinstance(entry, dict) else None
    return not isinstance(seen, int | float) or not now - _STALE <= seen <= now + 1.0


def _read_all(fd: int) -> bytes:
    chunks = []
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)
