"""What an MCP client's config may set: a Redis ledger is the server's say, like the key's
endpoint (the server behind it would see when the key sends, and could stall the runs)."""

from __future__ import annotations

import pytest

from nanobanana_async.errors import ConfigError
from nanobanana_async.mcp.allowances import Allowances


@pytest.mark.parametrize("ledger", ["redis://attacker.example:6379/0", "rediss://h/0", 7, ""])
def test_a_client_may_not_name_a_redis_ledger(ledger: object) -> None:
    with pytest.raises(ConfigError) as raised:
        Allowances.of([], {}).check({"ledger": ledger})
    assert raised.value.field == "ledger"
    assert "NANO_BANANA_LEDGER" in raised.value.problem
    assert "attacker" not in str(raised.value)


@pytest.mark.parametrize("ledger", ["file", "off", " off "])
def test_a_client_may_keep_the_ledger_on_the_machine(ledger: str) -> None:
    assert Allowances.of([], {}).check({"ledger": ledger}) is None
