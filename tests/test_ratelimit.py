"""The pacer: shared 429 pause, learning the quota, AIMD, on a fake clock (no real sleeping)."""

from __future__ import annotations

import pytest

from nanobanana_async.ratelimit import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _pacer(time: FakeTime, rpm: float | None) -> Pacer:
    return Pacer(rpm=rpm, period=60.0, clock=time.clock, sleep=time.sleep, default_pause=5.0)


async def test_unlimited_until_the_first_429() -> None:
    time = FakeTime()
    pacer = _pacer(time, None)
    for _ in range(10):
        await pacer.acquire()
    assert time.slept == []
    assert pacer.rate is None


async def test_a_429_pauses_every_caller_until_the_delay_is_over() -> None:
    time = FakeTime()
    pacer = _pacer(time, None)
    for _ in range(20):
        await pacer.acquire()
    waited = pacer.on_rate_limited(12.5)
    assert waited == pytest.approx(12.5)
    assert pacer.rate_limit_waits == 1
    # A 429 naming no quota says nothing countable: a quarter below what was sent.
    assert pacer.rate == pytest.approx(15.0)
    start = time.now
    pacer._limiter = None  # look at the pause alone; aiolimiter keeps the loop's own clock
    await pacer.acquire()
    assert time.now - start >= 12.5


async def test_a_storm_of_429s_is_one_wait_and_one_decrease() -> None:
    time = FakeTime()
    pacer = _pacer(time, 20)
    for delay in (10.0, 9.9, 10.0, 9.8):
        pacer.on_rate_limited(delay)
    assert pacer.rate_limit_waits == 1
    assert pacer.rate == pytest.approx(20 * 0.75)
    # After the pause, a new 429 is a new signal.
    time.now += 11
    pacer.on_rate_limited(3.0)
    assert pacer.rate_limit_waits == 2
    assert pacer.rate == pytest.approx(20 * 0.75 * 0.75)


def test_a_429_without_delay_uses_the_default_pause() -> None:
    time = FakeTime()
    pacer = _pacer(time, 10)
    assert pacer.on_rate_limited(None) == pytest.approx(5.0)


def test_clean_traffic_climbs_back_to_the_ceiling_and_no_further() -> None:
    time = FakeTime()
    pacer = _pacer(time, 20)
    pacer.on_rate_limited(1.0)
    assert pacer.rate == pytest.approx(15.0)
    for _ in range(500):
        pacer.on_success()
    assert pacer.rate == pytest.approx(20.0)


def test_repr_shows_live_state() -> None:
    time = FakeTime()
    pacer = _pacer(time, 30)
    assert "30.00/60s" in repr(pacer)


async def test_a_known_rate_takes_a_whole_window_at_once_then_waits_for_it() -> None:
    time = FakeTime()
    pacer = _pacer(time, 5)
    for _ in range(5):
        await pacer.acquire()
    assert time.slept == []  # the sliding window admits five at once: no spacing
    first = time.now
    pacer._limiter = None  # the window alone (aiolimiter keeps the loop's own clock)
    await pacer.acquire()
    # The sixth waits until the first is a (margin-stretched) window old.
    assert time.now - first == pytest.approx(60.0 * 1.02)


async def test_a_per_minute_429_teaches_what_the_quota_admitted() -> None:
    time = FakeTime()
    pacer = _pacer(time, None)
    sends = [await pacer.acquire() for _ in range(32)]
    # A quota of 20: the last twelve come back refused, one by one, each refining the rate.
    seen = []
    for sent_at in sends[20:]:
        pacer.on_rate_limited(30.0, sent_at=sent_at, per_minute_requests=True)
        seen.append(pacer.rate)
    assert seen[0] == 31.0
    assert seen[-1] == 20.0  # exactly what was admitted, not what was sent
    assert pacer.rate_limit_waits == 1
    assert pacer.burst == 20


async def test_the_limit_the_service_states_caps_the_rate_for_good() -> None:
    time = FakeTime()
    pacer = _pacer(time, 40)  # told twice the real quota
    sends = [await pacer.acquire() for _ in range(32)]
    pacer.on_rate_limited(30.0, sent_at=sends[-1], per_minute_requests=True, limit=20)
    assert pacer.rate == 20.0  # the first 429 already knows, before the others come back
    assert pacer.ceiling == 20.0
    for _ in range(500):
        pacer.on_success()
    assert pacer.rate == 20.0  # never climbs back into the quota


async def test_a_lower_share_than_the_stated_limit_is_what_counts() -> None:
    time = FakeTime()
    pacer = _pacer(time, None)
    sends = [await pacer.acquire() for _ in range(12)]
    # Another client used 8 of the 20: only 12 of ours were admitted, and one refused.
    pacer.on_rate_limited(5.0, sent_at=sends[-1], per_minute_requests=True, limit=20)
    assert pacer.rate == 11.0
    assert pacer.ceiling == 20.0


async def test_a_refused_request_frees_its_place_in_the_window() -> None:
    time = FakeTime()
    pacer = _pacer(time, 5)
    sends = [await pacer.acquire() for _ in range(5)]
    # The quota was shared after all: the fifth was refused, so it does not count.
    pacer.on_rate_limited(2.0, sent_at=sends[-1], per_minute_requests=True)
    assert pacer.rate == 4.0
    pacer._limiter = None  # the window alone (aiolimiter keeps the loop's own clock)
    start = time.now
    await pacer.acquire()
    # Four admitted in the window, room for none more until the first is a window old.
    assert time.now - start == pytest.approx(60.0 * 1.02)


async def test_other_quotas_lower_the_rate_by_a_quarter_without_counting() -> None:
    time = FakeTime()
    pacer = _pacer(time, 20)
    sends = [await pacer.acquire() for _ in range(3)]
    pacer.on_rate_limited(1.0, sent_at=sends[-1], per_minute_requests=False, limit=None)
    assert pacer.rate == pytest.approx(15.0)  # not the 2 admitted: a concurrency quota, say
