"""Another client on the same key: its share, its retries at the announced free time, and
that it shows in the stats but not among the requests."""

from __future__ import annotations

import pytest
from emulator_testing import FakeClock, client_for, generate

from nanobanana_async.emulator import Emulator, EmulatorSettings, OtherClient, RateQuota
from nanobanana_async.emulator.other_client import parse_other_client
from nanobanana_async.emulator.quotas import QuotaBook

K, M = "key", "model"


def _admitted(book: QuotaBook, now: float) -> bool:
    if book.check(K, M, now) is not None:
        return False
    book.admit(K, M, now, now)
    return True


def test_it_takes_its_steady_share() -> None:
    # 2 per 60 s: tries at 15 and 45 after the pair's first use (half an interval in).
    book = QuotaBook([RateQuota("sliding", 3, 60.0)], other_client=OtherClient(2, 60.0, 0.0))
    assert _admitted(book, 0.0)
    breach = book.check(K, M, 50.0)
    assert breach is not None
    assert breach.delay == 10.0  # 0, 15 and 45 fill the window; t=0 leaves at 60
    assert book.other_client_counts() == {"admitted": 2, "refused": 0}


def test_refused_it_retries_at_the_free_time_and_drops_missed_tries() -> None:
    book = QuotaBook([RateQuota("sliding", 2, 60.0)], other_client=OtherClient(2, 60.0, 0.0))
    assert _admitted(book, 0.0)
    assert _admitted(book, 1.0)
    # Its try at 15 is refused (free at 60); it retries at 60, not at 45 as well, and is
    # admitted; its next steady try is at 75, when t=1 has left: admitted too.
    book.catch_up(59.0)
    assert book.other_client_counts() == {"admitted": 0, "refused": 1}
    breach = book.check(K, M, 76.0)
    assert breach is not None
    assert breach.delay == 44.0  # its 60 and 75 hold the window; 60 leaves at 120
    assert book.other_client_counts() == {"admitted": 2, "refused": 1}


def test_it_goes_first_on_a_tie() -> None:
    book = QuotaBook([RateQuota("fixed", 1, 60.0)], other_client=OtherClient(1, 60.0, 0.0))
    assert _admitted(book, 0.0)
    assert not _admitted(book, 30.0)  # its try at 30 is refused; it will retry at 60
    assert not _admitted(book, 60.0)
    assert book.other_client_counts() == {"admitted": 1, "refused": 1}


def test_it_holds_a_concurrency_slot_for_its_latency() -> None:
    quotas = [RateQuota("sliding", 100, 60.0)]
    book = QuotaBook(quotas, max_concurrent=1, other_client=OtherClient(1, 60.0, latency=10.0))
    assert _admitted(book, 0.0)
    breach = book.check(K, M, 35.0)  # its try at 30 holds the slot until 40
    assert breach is not None
    assert (breach.label, breach.delay) == ("concurrent", 5.0)
    assert _admitted(book, 40.0)


def test_it_counts_against_every_quota() -> None:
    bucket = RateQuota("bucket", 1, 60.0, burst=2)  # a token a minute, two at most
    book = QuotaBook([bucket], max_concurrent=1, other_client=OtherClient(1, 60.0, 10.0))
    assert _admitted(book, 0.0)
    assert _admitted(book, 0.0)
    # Its try at 30 finds no token (one is whole at 60), so it retries at 60 and takes it.
    breach = book.check(K, M, 61.0)
    assert breach is not None
    # Both limits are breached: the bucket is named, and the delay waits for both.
    assert (breach.quota, breach.delay) == (bucket, 59.0)
    assert book.other_client_counts() == {"admitted": 1, "refused": 1}


def test_it_uses_the_time_scale() -> None:
    book = QuotaBook(
        [RateQuota("sliding", 1, 60.0)], other_client=OtherClient(1, 60.0, 0.0), time_scale=0.01
    )
    assert _admitted(book, 0.0)
    book.catch_up(0.3)
    assert book.other_client_counts() == {"admitted": 0, "refused": 1}  # its try at 0.3
    book.catch_up(0.6)
    assert book.other_client_counts() == {"admitted": 1, "refused": 1}  # retried at 0.6


async def test_the_emulator_counts_it_apart_from_real_requests() -> None:
    clock = FakeClock()
    settings = EmulatorSettings(
        latency=False, rpm=3, other_client=OtherClient(2, 60.0), clock=clock
    )
    emulator = Emulator(settings)
    async with client_for(emulator) as client:
        assert (await generate(client)).status_code == 200
        clock.advance(20.0)  # its try at 15 was admitted
        assert (await generate(client)).status_code == 200
        clock.advance(10.0)
        refused = await generate(client)
        assert refused.status_code == 429
        clock.advance(20.0)  # its try at 45 is refused, to retry at 60: seen by the stats
        stats = emulator.stats()
    assert stats["requests"] == 3
    assert stats["by_status"] == {"200": 2, "429": 1}
    assert stats["other_client"] == {"admitted": 1, "refused": 1}
    emulator.reset()
    assert emulator.stats()["other_client"] == {"admitted": 0, "refused": 0}


def test_no_other_client_counts_zero() -> None:
    assert Emulator(EmulatorSettings(latency=False)).stats()["other_client"] == {
        "admitted": 0,
        "refused": 0,
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("8/60s", OtherClient(8, 60.0)),
        ("100/1h", OtherClient(100, 3600.0)),
        ("3/500ms", OtherClient(3, 0.5)),
    ],
)
def test_parse_other_client(spec: str, expected: OtherClient) -> None:
    assert parse_other_client(spec) == expected


@pytest.mark.parametrize("spec", ["8", "8/60", "0/60s", "x/60s", "8/0s"])
def test_parse_other_client_rejects(spec: str) -> None:
    with pytest.raises(ValueError, match=r"RATE/WINDOW|duration|positive"):
        parse_other_client(spec)
