"""What is known of a quota, and where it is kept: in memory for one run, in a file for the
runs of one machine, in Redis for the runs of many (docs/design.md, "The ledger").

The engine's pacer owns what the state means; this room owns only keeping it, sharing it
whole, and moving its times between clocks.
"""

from __future__ import annotations

from .address import LEDGER_ENV, LedgerChoice, RedisAddress, parse_ledger, shown_url
from .file import LEDGER_NAME, QuotaLedger, default_ledger_path, entry_name
from .state import MemoryStore, QuotaState, StateStore

__all__ = [
    "LEDGER_ENV",
    "LEDGER_NAME",
    "LedgerChoice",
    "MemoryStore",
    "QuotaLedger",
    "QuotaState",
    "RedisAddress",
    "StateStore",
    "default_ledger_path",
    "entry_name",
    "parse_ledger",
    "shown_url",
]
