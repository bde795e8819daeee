"""The pacer on a fake clock: 429 bodies and send histories in, decisions out (no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from nanobanana_async.emulator import VirtualTime
from nanobanana_async.engine.pacer import Pacer
from nanobanana_async.ledger.state import MemoryStore


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _pacer(time: FakeTime, rpm: float | None = None, **kwargs: object) -> Pacer:
    options: dict[str, object] = {
        "period": 60.0,
        "margin": 0.0,
        "first_pause": 2.0,
        "probe_grace": 1.0,
    }
    options.update(kwargs)
    return Pacer(rpm=rpm, clock=time.clock, sleep=time.sleep, **options)  # type: ignore[arg-type]


def _model(pacer: Pacer) -> tuple[int, float] | None:
    model = pacer.model
    return None if model is None else (model[0], round(model[1], 6))


async def _send(pacer: Pacer, n: int) -> list[float]:
    return [await pacer.acquire() for _ in range(n)]


async def test_unlimited_until_the_first_429() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    await _send(pacer, 30)
    assert time.slept == []
    assert (pacer.model, pacer.rate_per_second, pacer.burst) == (None, None, None)


@pytest.mark.parametrize("overload", [False, True])
async def test_nothing_leaves_inside_the_announced_delay(overload: bool) -> None:
    """The pause alone holds it: neither an overload 429 nor a lone quota 429 that states no
    limit teaches a window that could hide it."""
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 5)
    time.now += 0.2
    note = pacer.on_rate_limited(12.5, sent_at=sends[-1], overload=overload)
    assert note.pause == pytest.approx(12.5)
    assert note.new_wait
    assert pacer.model is None
    sent = await pacer.acquire()
    assert sent == pytest.approx(100.2 + 12.5)


@pytest.mark.parametrize(
    ("name", "sent", "refused", "delay", "model"),
    [
        # A sliding minute: 20 went together, 10 were refused, the window frees a minute on.
        ("sliding minute", 20, 10, 60.0, (10, 60.0)),
        # A "per-minute" quota that frees again after 1.5 s: the evidence, not the label.
        ("short window", 6, 2, 1.5, (4, 1.5)),
        # A fixed window met 20 s before its end: right for now, corrected a window later.
        ("fixed window", 12, 2, 20.0, (10, 20.0)),
    ],
)
async def test_a_quota_429_teaches_the_window_it_reveals(
    name: str, sent: int, refused: int, delay: float, model: tuple[int, float]
) -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, sent)
    notes = [pacer.on_rate_limited(delay, sent_at=s) for s in sends[-refused:]]
    assert [n.new_wait for n in notes] == [True] + [False] * (refused - 1), name
    assert pacer.rate_limit_waits == 1
    learned = pacer.model
    assert learned is not None
    assert learned[0] == model[0]
    assert learned[1] == pytest.approx(model[1])


async def test_a_fixed_window_is_right_one_window_later() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 12)  # at 100, 40 s into a fixed 60 s window of 10
    for sent in sends[-2:]:
        pacer.on_rate_limited(20.0, sent_at=sent)
    assert _model(pacer) == (10, 20.0)
    wave = await _send(pacer, 10)  # the window reset at 120: all 10 admitted
    assert wave[0] == pytest.approx(120.0)
    # The model now says 140; the window really frees at 180.
    early = await pacer.acquire()
    assert early == pytest.approx(140.0)
    pacer.on_rate_limited(40.0, sent_at=early)
    # Read as sliding, the window holds both waves: 20 in 80 s, too fast, and kept, since a
    # model too fast is corrected by the next 429 and one too slow would crawl.
    assert _model(pacer) == (20, 80.0)
    wave = await _send(pacer, 10)
    assert wave[0] == pytest.approx(180.0)  # the reset at 180 admits them
    early = await pacer.acquire()
    assert early == pytest.approx(200.0)
    pacer.on_rate_limited(40.0, sent_at=early)
    assert _model(pacer) == (10, 60.0)  # one window later, the fixed window itself


async def test_the_window_counts_from_the_storms_sends_not_from_reading_its_refusals() -> None:
    """The way back (the answer's write, the loop's lag) is in no window; the way out is in
    every send alike. The service counts ours 0.1 s after they leave, so the window frees
    at 110.1 in our time: what the first refusal, decided at once, says from its send."""
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 6)  # 4 admitted, 2 refused
    time.now = 100.6  # decided at 100.1, read 0.5 s later: frees in 10 s
    first = pacer.on_rate_limited(10.0, sent_at=sends[-2])
    assert first.pause == pytest.approx(10.0)  # obeyed from its reading: 110.6
    time.now = 101.4  # queued at the service, decided at 100.9: frees in 9.2 s
    pacer.on_rate_limited(9.2, sent_at=sends[-1])
    # Not 4 per 10.6 s (read + delay), nor 4 per 9.2 s (the queued one's send + delay).
    assert _model(pacer) == (4, 10.0)
    assert await pacer.acquire() == pytest.approx(110.6)  # the pause still holds


async def test_a_delay_shorter_than_its_round_trip_teaches_no_shorter_window() -> None:
    """Free again by the time it was read (a bucket's next token): the window is the round
    trip, not nothing (read as nothing, the next burst went out whole and was refused)."""
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 6)
    time.now += 0.1
    for sent in sends[-2:]:
        pacer.on_rate_limited(0.0, sent_at=sent)
    assert _model(pacer) == (4, 0.1)


async def test_a_transient_429_does_not_shrink_the_window_that_follows() -> None:
    """A 429 with a short delay early in a burst, then the real per-minute quota."""
    time = FakeTime()
    pacer = _pacer(time)
    early = await _send(pacer, 3)
    pacer.on_rate_limited(6.0, sent_at=early[-1])  # transient: frees in 6 s
    burst = await _send(pacer, 18)  # the rest of the burst, after the pause: admitted
    assert burst[0] == pytest.approx(106.0)
    late = await _send(pacer, 2)
    time.now += 0.1
    for sent in late:  # the per-minute quota, full: it frees when the first sends age out
        pacer.on_rate_limited(53.9 - (time.now - 106.1), sent_at=sent)
    model = _model(pacer)
    assert model is not None
    assert model[0] == 20  # not the one send since the transient pause ended


async def test_a_window_the_service_counted_late_refines_the_model() -> None:
    """A refusal just before our log says the window frees: the known window, not a tiny one."""
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 12)
    for sent in sends[-2:]:
        pacer.on_rate_limited(60.0, sent_at=sent)
    assert _model(pacer) == (10, 60.0)
    wave = await _send(pacer, 9)
    assert wave[0] == pytest.approx(160.0)
    # The service admitted our first wave a little after we sent it: one more second.
    time.now += 0.2
    refused = await pacer.acquire()
    pacer.on_rate_limited(0.8, sent_at=refused)
    assert _model(pacer) == (10, 61.0)  # not "9 in a second" from the nine just sent


async def test_a_burst_of_other_clients_teaches_nothing() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 3)
    for sent in sends:  # every one refused: the window was full before we came
        pacer.on_rate_limited(30.0, sent_at=sent)
    assert pacer.model is None
    assert pacer.paused_for() == pytest.approx(30.0)


async def test_an_overload_429_pauses_and_teaches_nothing() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 8)
    note = pacer.on_rate_limited(None, sent_at=sends[-1], overload=True)
    assert note.pause == pytest.approx(2.0)
    assert pacer.model is None
    sent = await pacer.acquire()
    assert sent == pytest.approx(102.0)


async def test_the_stated_limit_caps_the_model() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 20)
    pacer.on_rate_limited(60.0, sent_at=sends[-1], limit=12)
    assert _model(pacer) == (12, 60.0)
    assert pacer.burst == 12


async def test_a_configured_rpm_is_a_ceiling_over_every_minute() -> None:
    time = FakeTime()
    pacer = _pacer(time, rpm=5)
    sends = await _send(pacer, 11)
    assert sends[:5] == [100.0] * 5
    assert sends[5:10] == [pytest.approx(160.0)] * 5
    assert sends[10] == pytest.approx(220.0)
    assert pacer.burst == 5
    assert pacer.rate_per_second == pytest.approx(5 / 60)


async def test_the_model_grows_when_it_held_requests_back_for_a_whole_window() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 6)
    for refused in sends[-2:]:
        pacer.on_rate_limited(10.0, sent_at=refused)  # 4 per 10 s
    assert _model(pacer) == (4, 10.0)
    wave = await _send(pacer, 4)  # at 110, held back by nothing but the pause
    assert wave[0] == pytest.approx(110.0)
    # Held back past the window again with no 429 in between: the model grows by half.
    await _send(pacer, 6)
    model = pacer.model
    assert model is not None
    assert model[0] == 6


async def test_a_growth_the_service_refutes_makes_the_next_probe_wait_longer() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 6)
    for sent in sends[-2:]:
        pacer.on_rate_limited(10.0, sent_at=sent)
    await _send(pacer, 4)  # wave at 110
    grown = await _send(pacer, 6)  # at 120, after the growth to 6
    assert _model(pacer) == (6, 10.0)
    for sent in grown[-2:]:  # the service admits 4, as before
        pacer.on_rate_limited(10.0, sent_at=sent)
    assert _model(pacer) == (4, 10.0)
    with pacer._store.open() as state:  # the store is the pacer's memory
        assert state.probe_wait == 2
        assert state.grow_at == pytest.approx(130.0 + 2 * 10.0)


async def test_a_429_without_a_delay_probes_at_a_tenth_of_the_windows_age() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    sends = await _send(pacer, 10)
    assert pacer.on_rate_limited(None, sent_at=sends[-1]).pause == pytest.approx(2.0)
    probe = await pacer.acquire()
    assert probe == pytest.approx(102.0)  # at least the first pause
    time.now = 130.0
    assert pacer.on_rate_limited(None, sent_at=probe).pause == pytest.approx(3.0)
    probe = await pacer.acquire()
    assert probe == pytest.approx(133.0)
    assert pacer.on_rate_limited(None, sent_at=probe).pause == pytest.approx(3.3)
    probe = await pacer.acquire()
    assert probe == pytest.approx(136.3)
    # Nobody else goes until the lone probe has gone unrefused for the grace period...
    follower = await pacer.acquire()
    assert follower == pytest.approx(137.3)
    # ...and then the probe's send time stands in for when the window freed.
    assert _model(pacer) == (9, 36.3)


async def test_runs_sharing_a_store_share_the_pause_and_the_model() -> None:
    time = FakeTime()
    store = MemoryStore()
    told: list[float] = []
    first = _pacer(time, store=store)
    second = _pacer(time, store=store, on_wait=told.append)
    sends = await _send(first, 5)
    await _send(second, 5)
    first.on_rate_limited(60.0, sent_at=sends[-1], limit=9)
    assert _model(second) is None  # read at decisions only: no store opened for a property
    second.refresh()
    assert _model(second) == (9, 60.0)  # both runs' sends were in the window
    sent = await second.acquire()
    assert sent >= 160.0
    assert told == [pytest.approx(60.0)]
    assert (first.rate_limit_waits, second.rate_limit_waits) == (1, 1)


async def test_runs_that_both_want_to_send_split_each_window() -> None:
    time = VirtualTime()
    store = MemoryStore()
    first = Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)
    second = Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)
    sends = [await first.acquire() for _ in range(11)]
    first.on_rate_limited(60.0, sent_at=sends[-1], limit=10)  # 10 per minute
    log: list[tuple[float, str]] = []

    async def take(pacer: Pacer, name: str) -> None:
        for _ in range(10):
            log.append((await pacer.acquire(), name))

    await time.run(take(first, "first"), take(second, "second"))
    # Each window is split five and five, not taken whole by whoever woke first.
    windows = {round(at) for at, _ in log}
    assert windows == {160, 220}
    for window in windows:
        assert (
            sorted(name for at, name in log if round(at) == window)
            == ["first"] * 5 + ["second"] * 5
        )


async def test_three_runs_split_a_window_that_three_do_not_divide_using_all_of_it() -> None:
    time = VirtualTime()
    store = MemoryStore()
    runs = [Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)]
    runs += [Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)]
    runs += [Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)]
    sends = [await runs[0].acquire() for _ in range(21)]
    runs[0].on_rate_limited(60.0, sent_at=sends[-1], limit=20)  # 20 per minute
    log: list[tuple[float, int]] = []

    async def take(n: int) -> None:
        for _ in range(20):
            log.append((await runs[n].acquire(), n))

    await time.run(take(0), take(1), take(2))
    # 20 for three runs: 7, 7 and 6 of every window; 18 (6 each) left two slots unused.
    first = sorted(n for at, n in log if round(at) == 160)
    assert len(first) == 20
    assert sorted(first.count(n) for n in range(3)) == [6, 7, 7]


async def test_runs_sharing_a_state_split_a_first_burst_no_faster_than_they_hear() -> None:
    # Nothing known: a lone probe, then 20 at a time split between the three runs, each 20
    # held for presumed_span (the time another run needs to hear of a refusal), not for
    # the probe's grace: at x0.04 that grace (40 ms) was shorter than the way back.
    time = VirtualTime()
    store = MemoryStore()
    options: dict[str, Any] = {"probe_grace": 0.04, "presumed_span": 0.25, "probe_first": True}
    runs = [
        Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep, **options)
        for _ in range(3)
    ]
    sends: list[float] = []

    async def take(pacer: Pacer) -> None:
        for _ in range(20):
            sends.append(await pacer.acquire())

    start = time.clock()
    await time.run(*(take(pacer) for pacer in runs))
    first = [t for t in sends if t < start + 0.04 + 0.25 - 1e-9]
    assert len(first) == 1 + 20  # the probe, then one burst split three ways
    assert len(sends) == 60


async def test_a_refused_send_is_found_though_its_time_came_back_a_little_off() -> None:
    # A state kept on a shared server's clock gives back 1e-7 s off what acquire returned.
    time = FakeTime()
    pacer = _pacer(time, store=MemoryStore())
    sent = await pacer.acquire()
    pacer.on_rate_limited(5.0, sent_at=sent + 1e-7, limit=1)
    with pacer._store.open() as state:
        assert state.sends == []  # taken out: the refused request used no quota


class CountingStore(MemoryStore):
    """A store that counts its decisions (each a locked file or a Redis call when shared)."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0

    def open(self):  # type: ignore[no-untyped-def]
        self.opened += 1
        return super().open()


async def test_slides_waiting_on_a_pause_wait_their_turn_not_on_the_store() -> None:
    time = VirtualTime()
    store = CountingStore()
    pacer = Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)
    sent = await pacer.acquire()
    pacer.on_rate_limited(30.0, sent_at=sent)
    store.opened = 0
    sends: list[float] = []

    async def slide() -> None:
        sends.append(await pacer.acquire())

    await time.run(*(slide() for _ in range(20)))
    assert len(sends) == 20
    assert min(sends) >= 130.0
    # The first in line decides: wait the pause, send the lone probe the pause asks for;
    # the second: wait the probe's grace, send; every other once, when its turn comes: 22
    # decisions, where every slide polling the store made 40 or more.
    assert store.opened == 22


def test_repr_shows_the_live_state() -> None:
    time = FakeTime()
    pacer = _pacer(time, rpm=20)
    pacer.on_rate_limited(3.0)
    text = repr(pacer)
    assert "ceiling=20" in text
    assert "paused_for=3.00s" in text
    assert "waits=1" in text
