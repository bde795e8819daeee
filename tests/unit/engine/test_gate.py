"""The concurrency gate: fixed limits, Little's law, and opening on stop."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from nanobanana_async.engine.gate import ConcurrencyGate


async def test_fixed_limit_is_never_exceeded() -> None:
    gate = ConcurrencyGate(fixed=3)
    active = 0
    peak = 0

    async def worker() -> None:
        nonlocal active, peak
        async with gate:
            active += 1
            peak = max(peak, active)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            active -= 1

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(worker)
    assert peak == 3
    assert gate.peak == 3
    assert gate.in_use == 0


@pytest.mark.parametrize(
    ("rate_per_second", "latency", "expected"),
    [
        (20 / 60, 20.0, 9),  # ceil(0.333 * 20 * 1.25) = 9
        (1.0, 5.6, 7),
        (100.0, 30.0, 32),  # capped by the upper bound
        (0.01, 1.0, 1),  # at least one
    ],
)
def test_littles_law(rate_per_second: float, latency: float, expected: int) -> None:
    gate = ConcurrencyGate(typical_latency=latency)
    gate.retune(rate_per_second)
    assert gate.limit == expected


def test_a_sliding_window_opens_the_gate_to_a_whole_window() -> None:
    gate = ConcurrencyGate(typical_latency=23.0)
    gate.retune(20 / 60, burst=20)
    assert gate.limit == 20  # not Little's 10: the quota admits twenty at once
    gate.retune(100.0, burst=500)
    assert gate.limit == 32  # still within the bounds


def test_observed_latency_replaces_the_assumption() -> None:
    gate = ConcurrencyGate(typical_latency=20.0)
    gate.observe(2.0, rate_per_second=1.0, success=True)
    assert gate.limit == 3  # ceil(1.0 * 2.0 * 1.25)


def test_unknown_rate_grows_one_per_success() -> None:
    gate = ConcurrencyGate(initial=4)
    for _ in range(3):
        gate.observe(1.0, rate_per_second=None, success=True)
    assert gate.limit == 7


def test_a_fixed_gate_ignores_observations() -> None:
    gate = ConcurrencyGate(fixed=2)
    gate.observe(100.0, rate_per_second=10.0, success=True)
    assert gate.limit == 2


async def test_open_all_admits_every_waiter() -> None:
    gate = ConcurrencyGate(fixed=1)
    entered = 0

    async def waiter() -> None:
        nonlocal entered
        async with gate:
            entered += 1
            await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert entered == 1
        gate.open_all()
        await anyio.wait_all_tasks_blocked()
        assert entered == 5
        group.cancel_scope.cancel()


def test_three_storms_at_one_count_in_progress_cap_the_gate() -> None:
    gate = ConcurrencyGate(initial=20)
    for _ in range(2):
        gate.on_quota_refused(6)
    assert (gate.cap, gate.limit) == (None, 20)  # two could be a coincidence
    gate.on_quota_refused(6)
    assert (gate.cap, gate.limit) == (6, 6)
    gate.retune(None)
    assert gate.limit == 6  # nothing reopens it but successes...
    for _ in range(6):
        gate.observe(1.0, rate_per_second=None, success=True)
    assert gate.cap == 7  # ...a cap's worth of them, one slot at a time


def test_counts_one_apart_are_one_cap_and_explain_its_refusals() -> None:
    gate = ConcurrencyGate(initial=20)
    explained = [gate.on_quota_refused(n) for n in (6, 5, 6)]  # an answer was leaving
    assert explained == [False, False, True]
    assert gate.cap == 6
    assert gate.on_quota_refused(6)
    assert gate.on_quota_refused(5)


def test_a_refusal_well_below_the_cap_drops_it() -> None:
    gate = ConcurrencyGate(initial=20)
    for _ in range(3):
        gate.on_quota_refused(8)
    assert gate.cap == 8
    assert not gate.on_quota_refused(3)  # a rate quota refuses at whatever count it meets
    assert gate.cap is None
    gate.retune(None)
    assert gate.limit == 20


def test_refusals_with_nothing_in_progress_are_no_cap() -> None:
    gate = ConcurrencyGate(initial=20)
    for _ in range(5):
        gate.on_quota_refused(0)
    assert (gate.cap, gate.limit) == (None, 20)


def test_a_fixed_concurrency_learns_no_cap() -> None:
    gate = ConcurrencyGate(fixed=8)
    for _ in range(3):
        gate.on_quota_refused(3)
    assert (gate.cap, gate.limit) == (None, 8)
