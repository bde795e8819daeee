"""``ideal_starts``: the fastest schedule each quota shape allows, and that the emulator
agrees with it."""

from __future__ import annotations

from collections import Counter

import pytest
from emulator_testing import FakeClock, client_for, generate

from nanobanana_async.emulator import (
    Emulator,
    EmulatorSettings,
    OtherClient,
    RateQuota,
    ideal_starts,
)
from nanobanana_async.errors import RateLimited
from nanobanana_async.service import protocol


def _bunches(starts: list[float]) -> dict[float, int]:
    return dict(Counter(round(t, 9) for t in starts))


@pytest.mark.parametrize(
    ("quotas", "n", "expected"),
    [
        ([RateQuota("sliding", 10, 60.0)], 25, {0.0: 10, 60.0: 10, 120.0: 5}),
        ([RateQuota("fixed", 10, 60.0)], 25, {0.0: 10, 60.0: 10, 120.0: 5}),
        # The first window closes 15 s in: a whole second window's worth goes then.
        ([RateQuota("fixed", 10, 60.0, phase=15.0)], 25, {0.0: 10, 15.0: 10, 75.0: 5}),
        # The burst at once, then one token every 6 s.
        ([RateQuota("bucket", 10, 60.0, burst=5)], 8, {0.0: 5, 6.0: 1, 12.0: 1, 18.0: 1}),
        ([RateQuota("sliding", 4, 5.0)], 9, {0.0: 4, 5.0: 4, 10.0: 1}),
        (
            [RateQuota("sliding", 3, 10.0), RateQuota("fixed", 5, 60.0)],
            8,
            {0.0: 3, 10.0: 2, 60.0: 3},
        ),
    ],
)
def test_each_shape(quotas: list[RateQuota], n: int, expected: dict[float, int]) -> None:
    assert _bunches(ideal_starts(n, quotas)) == expected


def test_start_is_the_first_moment_allowed() -> None:
    assert ideal_starts(3, [RateQuota("sliding", 2, 60.0)], start=7.0) == [7.0, 7.0, 67.0]
    assert ideal_starts(0, [RateQuota("sliding", 2, 60.0)]) == []
    assert ideal_starts(3, []) == [0.0, 0.0, 0.0]


def test_concurrency_cap_and_latency() -> None:
    settings = EmulatorSettings(max_concurrent=2)
    assert ideal_starts(5, settings, latency=10.0) == [0.0, 0.0, 10.0, 10.0, 20.0]


def test_settings_are_scaled_and_include_the_shortcuts() -> None:
    settings = EmulatorSettings(rpm=2, quotas=(RateQuota("fixed", 3, 600.0),), time_scale=0.01)
    assert _bunches(ideal_starts(5, settings)) == {0.0: 2, 0.6: 1, 6.0: 2}


def test_the_other_client_takes_its_share() -> None:
    # It tries at 30, is refused, retries at 60 and goes first: one of every window's two.
    settings = EmulatorSettings(rpm=2, other_client=OtherClient(1, 60.0, latency=0.0))
    assert ideal_starts(5, settings) == [0.0, 0.0, 60.0, 120.0, 180.0]


async def test_the_emulator_admits_exactly_that_schedule() -> None:
    quotas = (RateQuota("fixed", 3, 20.0, phase=5.0), RateQuota("bucket", 2, 10.0, burst=2))
    clock = FakeClock()
    settings = EmulatorSettings(latency=False, quotas=quotas, clock=clock)
    emulator = Emulator(settings)
    admitted: list[float] = []
    async with client_for(emulator) as client:
        while len(admitted) < 7:
            response = await generate(client)
            if response.status_code == 200:
                admitted.append(clock.now - 1000.0)
                continue
            error = protocol.classify_error(response.status_code, response.content)
            assert isinstance(error, RateLimited)
            assert error.retry_delay is not None
            clock.advance(error.retry_delay)  # rounded up to the microsecond on the wire
    ideal = ideal_starts(7, settings)
    assert admitted == pytest.approx(ideal, abs=1e-5)
    assert emulator.stats()["inside_announced_delay"] == 0


def test_earlier_admissions_on_the_key_delay_the_best_schedule() -> None:
    quotas = [RateQuota("sliding", 10, 60.0)]
    earlier = [(0.0, 20.0)] * 6  # an earlier deck's six, still in the window
    starts = ideal_starts(8, quotas, start=30.0, admitted=earlier)
    assert starts == [30.0] * 4 + [60.0] * 4


def test_each_request_may_hold_its_slot_for_its_own_latency() -> None:
    settings = EmulatorSettings(max_concurrent=1, seed=0)
    # The run drew 2 s, then 5 s: the third request waits for the second's own end.
    starts = ideal_starts(3, settings, latency=3.0, latencies=[2.0, 5.0])
    assert starts == pytest.approx([0.0, 2.0, 7.0])
    # Past the run's draws, the mean stands in.
    assert ideal_starts(3, settings, latency=3.0, latencies=[2.0]) == pytest.approx([0.0, 2.0, 5.0])
