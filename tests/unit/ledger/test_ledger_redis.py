"""The Redis ledger, against a real Redis server: one quota's state shared whole by the runs
of many machines, on clocks that share no origin; a server that fails leaves each run
pacing alone, said once, and taken back when it returns."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import orjson
import pytest
from redis_server import RedisServer, running_redis

from nanobanana_async.engine.pacer import Pacer
from nanobanana_async.errors import ConfigError
from nanobanana_async.ledger import entry_name, parse_ledger
from nanobanana_async.ledger.address import RedisAddress
from nanobanana_async.ledger.redis_store import RedisLedger
from nanobanana_async.ledger.state import QuotaState, StateConflict

KEY = "AIzaSyRedisLedgerTest-0123456789abcdefghi"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _entry() -> str:
    """Each test its own quota on the worker's shared server."""
    return entry_name("http://127.0.0.1:1", f"{KEY}-{secrets.token_hex(4)}", "gemini-3-pro-image")


def _address(url: str) -> RedisAddress:
    address = parse_ledger(url, "--ledger")
    assert isinstance(address, RedisAddress)
    return address


def _store(url: str, entry: str, **kwargs: Any) -> tuple[RedisLedger, list[str]]:
    said: list[str] = []
    kwargs.setdefault("env", {})
    return RedisLedger(_address(url), entry, notice=said.append, **kwargs), said


def _virtual(url: str, entry: str, time: FakeTime, **kwargs: Any) -> RedisLedger:
    """On the test's virtual clock (server_time=False), as the file ledger keeps times."""
    store, _ = _store(url, entry, clock=time.clock, server_time=False, **kwargs)
    return store


def _read(url: str, entry: str, **kwargs: Any) -> QuotaState:
    """The shared state as a machine that never saw it reads it (its first decision)."""
    store, _ = _store(url, entry, **kwargs)
    with store.open() as state:
        return state


def _pacer(store: RedisLedger, time: FakeTime) -> Pacer:
    return Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)


async def test_runs_on_two_machines_share_sends_pause_and_model(
    redis_server: RedisServer,
) -> None:
    time, entry = FakeTime(), _entry()
    first = _pacer(_virtual(redis_server.url, entry, time), time)
    second = _pacer(_virtual(redis_server.url, entry, time), time)
    sends = [await first.acquire() for _ in range(3)] + [await second.acquire() for _ in range(3)]
    time.now += 0.1
    first.on_rate_limited(59.9, sent_at=sends[-1], limit=5)
    second.refresh()
    model = second.model
    assert model is not None
    assert model[0] == 5  # the other machine's sends were in the same window
    assert second.paused_for() == pytest.approx(59.9)
    assert await second.acquire() >= 1060.0


def test_times_are_kept_on_the_server_s_clock_not_a_machine_s(redis_server: RedisServer) -> None:
    # Two machines whose monotonic clocks are 1,000 s apart see one send at one moment.
    entry = _entry()
    here, _ = _store(redis_server.url, entry)
    there, _ = _store(redis_server.url, entry, clock=lambda: time.monotonic() + 1000.0)
    with here.open() as state:
        sent = time.monotonic()
        state.sends.append(sent)
        state.owners.append("run-a")
        state.pause_until = sent + 30.0
    with there.open() as state:
        assert state.sends[0] == pytest.approx(sent + 1000.0, abs=0.05)
        assert state.pause_until == pytest.approx(sent + 1030.0, abs=0.05)
    stored = orjson.loads(redis_server.client().hget(f"nano-banana:{{{entry}}}", "s"))
    assert stored["sends"][0] == pytest.approx(time.time(), abs=5.0)  # the server's TIME


def test_decisions_of_many_machines_interleave_whole(redis_server: RedisServer) -> None:
    # Read-modify-write races would lose sends; four "machines" add 50 each, at once, each
    # made again on the newer state when another's was kept first (as the pacer does).
    entry = _entry()
    stores: list[RedisLedger] = []

    def machine(n: int) -> None:
        store, _ = _store(redis_server.url, entry, timeout=5.0)
        stores.append(store)
        for i in range(50):
            while True:
                try:
                    with store.open() as state:
                        state.sends.append(time.monotonic())
                        state.owners.append(f"m{n}-{i}")
                    break
                except StateConflict:
                    continue

    threads = [threading.Thread(target=machine, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = _read(redis_server.url, entry)
    assert sorted(state.owners) == sorted(f"m{n}-{i}" for n in range(4) for i in range(50))
    assert state.sends == sorted(state.sends)
    assert sum(store.conflicts for store in stores) > 0  # they did race, and none was lost


def test_a_decision_on_a_state_another_machine_changed_is_made_again(
    redis_server: RedisServer,
) -> None:
    time, entry = FakeTime(), _entry()
    first = _pacer(_virtual(redis_server.url, entry, time), time)
    second = _pacer(_virtual(redis_server.url, entry, time), time)
    sent = first.try_send().sent_at
    assert second.try_send().sent_at is not None  # both have seen the state now
    time.now += 0.2
    first.on_rate_limited(30.0, sent_at=sent)  # the second has not seen this pause
    note = second.try_send()
    assert note.sent_at is None  # decided again on the newer state: it waits
    assert note.wait == pytest.approx(30.0)
    assert second.rate_limit_waits == 1  # counted once, not once per try
    assert second._store.conflicts == 1  # type: ignore[attr-defined]


def test_the_entry_is_a_digest_expires_and_never_holds_the_key(redis_server: RedisServer) -> None:
    key = f"AIzaSyNeverStored-{secrets.token_hex(8)}"
    entry = entry_name("https://generativelanguage.googleapis.com", key, "gemini-3-pro-image")
    store, _ = _store(redis_server.url, entry)
    with store.open() as state:
        state.sends.append(time.monotonic())
        state.owners.append("run")
    client = redis_server.client()
    names = [name for name in client.scan_iter("nano-banana:*") if entry.encode() in name]
    assert names == [f"nano-banana:{{{entry}}}".encode()]
    for name in client.scan_iter("*"):
        assert key.encode() not in name
        for value in client.hgetall(name).values():
            assert key.encode() not in value
    assert 0 < client.pttl(names[0]) <= 86_400_000


def test_a_planted_state_is_read_field_by_field(redis_server: RedisServer) -> None:
    entry = _entry()
    client = redis_server.client()
    name = f"nano-banana:{{{entry}}}"
    planted = [b"{not json", b"[1, 2]", orjson.dumps({"sends": "x", "burst": "lots"})]
    for n, state_bytes in enumerate(planted):
        client.hset(name, mapping={"s": state_bytes, "v": f"planted:{n}"})
        store, said = _store(redis_server.url, entry)
        with store.open() as state:
            assert state.sends == []
            assert state.burst is None
            state.sends.append(time.monotonic())
            state.owners.append("run")
        assert said == []  # a bad entry is not a bad server
        assert _read(redis_server.url, entry).owners == ["run"]  # a good one replaced it


def test_an_unreachable_server_leaves_the_run_alone_then_takes_it_back() -> None:
    with running_redis() as server:
        time, entry = FakeTime(), _entry()
        server.kill()
        store, said = _store(server.url, entry, clock=time.clock, server_time=False)
        pacer = Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)
        alone = [pacer.try_send().sent_at for _ in range(3)]
        assert None not in alone
        assert len(said) == 1
        assert said[0].startswith(f"nanobanana: quota ledger {server.url} unreachable (")
        assert said[0].endswith("pacing this run on its own until it is back")
        server.start()  # back, and empty
        time.now += 10.0  # past the next try
        pacer.try_send()
        assert (
            said[1]
            == f"nanobanana: quota ledger {server.url} is back; pacing with the other runs again"
        )
        state = _read(server.url, entry, server_time=False, clock=time.clock)
        assert state.sends[:3] == alone  # what the run sent alone is shared now
        assert len(state.sends) == 4


def test_a_server_killed_mid_run_is_said_once_and_its_sends_rejoin_the_others() -> None:
    with running_redis() as server:
        time, entry = FakeTime(), _entry()
        store, said = _store(server.url, entry, clock=time.clock, server_time=False)
        other = _virtual(server.url, entry, time)
        pacer = Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)
        pacer.try_send()
        server.kill()
        for _ in range(5):  # failing again and again, said once
            pacer.try_send()
            time.now += 0.5
        assert [line for line in said if "unreachable" in line] == said
        assert len(said) == 1
        server.start()
        with other.open() as state:  # another machine wrote first, after the restart
            state.sends.append(time.now)
            state.owners.append("other")
        time.now += 10.0
        pacer.try_send()
        state = _read(server.url, entry, server_time=False, clock=time.clock)
        # The other's, the five alone, now. The send before the kill went with the
        # server's memory: another machine wrote first, and only what a run did alone is
        # carried back.
        assert len(state.sends) == 1 + 5 + 1
        assert state.owners.count("other") == 1


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_server_counts_as_unreachable(fault: str) -> None:
    with running_redis() as server:
        client, entry = server.client(), _entry()
        if fault == "full":
            client.config_set("maxmemory", "1")
            client.config_set("maxmemory-policy", "noeviction")
        else:
            client.execute_command("REPLICAOF", "127.0.0.1", "1")  # nobody: stays read-only
        store, said = _store(server.url, entry)
        with store.open() as state:
            state.sends.append(time.monotonic())
            state.owners.append("run")
        with store.open() as state:
            assert len(state.sends) == 1  # kept alone
        assert len(said) == 1
        assert f"unreachable ({fault}: " in said[0]


def test_a_slow_server_costs_a_decision_at_most_its_timeout(redis_server: RedisServer) -> None:
    # The server holds every client's commands for 0.3 s; a decision with a 0.05 s
    # bound goes alone instead of waiting.
    entry = _entry()
    store, said = _store(redis_server.url, entry, timeout=0.05)
    with store.open():
        pass  # connected, script loaded
    other = redis_server.client()
    other.execute_command("CLIENT", "PAUSE", "300", "ALL")  # answered, then all wait
    try:
        with store.open() as state:
            state.sends.append(time.monotonic())
            state.owners.append("run")
    finally:
        other.execute_command("CLIENT", "UNPAUSE")  # waits for the pause's end itself
    assert len(said) == 1
    assert "unreachable (Timeout" in said[0]
    assert state.owners == ["run"]  # the decision stood, alone


def test_a_pause_recorded_alone_is_shared_when_the_server_is_back() -> None:
    with running_redis() as server:
        time, entry = FakeTime(), _entry()
        store, said = _store(server.url, entry, clock=time.clock, server_time=False)
        pacer = _pacer(store, time)
        sent = pacer.try_send().sent_at
        server.kill()
        pacer.on_rate_limited(30.0, sent_at=sent)  # no send alone: only a pause
        server.start()
        other = _pacer(_virtual(server.url, entry, time), time)
        assert other.try_send().sent_at is not None  # the server came back empty
        time.now += 5.0
        assert pacer.try_send().sent_at is None  # back: its pause still holds it
        assert said[1].endswith("is back; pacing with the other runs again")
        note = other.try_send()
        assert note.sent_at is None  # and now holds the other machine too
        assert note.wait == pytest.approx(25.0)


def test_a_password_is_never_said() -> None:
    secret = f"pw-{secrets.token_hex(6)}"
    with running_redis(password=secret) as server:
        entry = _entry()
        wrong = f"redis://:{secret}-wrong@127.0.0.1:{server.port}/0"
        store, said = _store(wrong, entry)
        with store.open():
            pass
        assert len(said) == 1
        assert secret not in said[0]
        assert said[0].startswith(
            f"nanobanana: quota ledger redis://127.0.0.1:{server.port}/0 unreachable "
            "(password refused)"
        )
        assert secret not in repr(store)
        assert secret not in repr(_address(wrong))
        # The password from REDISCLI_AUTH, as redis-cli reads it.
        store, said = _store(server.url, entry, env={"REDISCLI_AUTH": secret})
        with store.open() as state:
            state.sends.append(time.monotonic())
            state.owners.append("run")
        assert said == []
        assert server.client().exists(f"nano-banana:{{{entry}}}")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("redis:/nohost", "names no host"),
        ("redis://h:port/0", "names no host"),
        ("redis://h/zero", "names no host"),
        ("memcached://h:11211", 'expected "file", "off", or a Redis URL'),
        ("sometimes", 'expected "file", "off", or a Redis URL'),
    ],
)
def test_a_bad_address_is_one_line_naming_the_field(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_ledger(value, "ledger")
    assert raised.value.field == "ledger"
    assert problem in raised.value.problem


def test_an_address_is_shown_without_its_password() -> None:
    address = _address("rediss://team:s3cret@redis.example:6380/2?socket_timeout=0.5")
    assert address.shown == "rediss://redis.example:6380/2"
    assert "s3cret" not in repr(address)
    assert parse_ledger(" off ", "ledger") == "off"
