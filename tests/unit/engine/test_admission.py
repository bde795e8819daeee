"""Admission's rule as a table: what each report does to the next admission, on a fake clock.

Then its waiters: first come, first served, only as many woken as fit, and a halt that
wakes them all with nothing to send.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import anyio.lowlevel
import pytest

from nanobanana_async.emulator import VirtualTime
from nanobanana_async.engine.admission import Admission, Ticket
from nanobanana_async.engine.gate import ConcurrencyGate
from nanobanana_async.errors import RateLimited


class FakeTime:
    """A clock that a sleep moves on at once: one task asks at a time here."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def _admission(time: FakeTime | VirtualTime, concurrency: int | None = None) -> Admission:
    return Admission(rpm=None, concurrency=concurrency, clock=time.clock, sleep=time.sleep)


def _refusal(
    delay: float | None, limit: float | None = None, *, overload: bool = False
) -> RateLimited:
    return RateLimited("429", retry_delay=delay, limit=limit, overload=overload)


async def _ask(admission: Admission) -> Ticket:
    ticket = await admission.ask()
    assert ticket is not None
    return ticket


@dataclass(frozen=True)
class Case:
    """``sent`` requests leave at 100; after ``after`` s the last ``refused`` are refused
    (``delay``, ``limit``, ``overload``) and ``answered`` of the first are answered."""

    name: str
    sent: int
    refused: int
    delay: float | None
    limit: float | None = None
    overload: bool = False
    answered: int = 0
    after: float = 0.1
    concurrency: int = 64
    # What follows: when the next two requests leave, the window learned, the slots.
    next_at: float = 0.0
    then_at: float = 0.0
    model: tuple[int, float] | None = None


CASES = [
    Case(
        "answers free their slots: the next leave at once",
        sent=3,
        refused=0,
        delay=None,
        answered=2,
        after=20.0,
        next_at=120.0,
        then_at=120.0,
        concurrency=3,
    ),
    Case(
        "a lone 429 stating no limit: obeyed, nothing learned, the next goes alone",
        sent=20,
        refused=1,
        delay=31.7,
        next_at=131.8,
        then_at=132.8,
    ),
    Case(
        "a 429 stating the limit: the window it shows is learned",
        sent=20,
        refused=10,
        delay=60.0,  # counted from the service's decision, as the requests arrived
        limit=10,
        next_at=161.5,  # the window, stretched by the margin for the service's counting
        then_at=161.5,
        model=(10, 60.0),
    ),
    Case(
        "a storm of 429s: the second refusal confirms the first",
        sent=20,
        refused=10,
        delay=60.0,
        next_at=161.5,  # the window, stretched by the margin for the service's counting
        then_at=161.5,
        model=(10, 60.0),
    ),
    Case(
        "refusals read late: obeyed from their reading, the window counted from their sends",
        sent=20,
        refused=16,
        delay=10.0,  # decided as they arrived, read a second later (a slow way back)
        after=1.0,
        next_at=111.0,
        then_at=111.0,
        model=(4, 10.0),  # not 4 per 11 s: the way back is in no window
    ),
    Case(
        "an overload 429: a short pause, nothing learned",
        sent=8,
        refused=1,
        delay=None,
        overload=True,
        next_at=102.1,
        then_at=102.1,
    ),
    Case(
        "a 429 with no delay: a pause of its own, then a lone probe",
        sent=10,
        refused=1,
        delay=None,
        next_at=102.1,
        then_at=103.1,
        model=(9, 2.1),  # the probe went unrefused: the window freed by then
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_what_each_report_does_to_the_next_admission(case: Case) -> None:
    time = FakeTime()
    admission = _admission(time, case.concurrency)
    tickets = [await _ask(admission) for _ in range(case.sent)]
    assert {t.sent_at for t in tickets} == {100.0}
    await time.sleep(case.after)
    for ticket in tickets[len(tickets) - case.refused :]:
        await admission.refused(ticket, _refusal(case.delay, case.limit, overload=case.overload))
    for ticket in tickets[: case.answered]:
        admission.answered(ticket)
    following = [await _ask(admission), await _ask(admission)]
    assert following[0].sent_at == pytest.approx(case.next_at)
    assert following[1].sent_at == pytest.approx(case.then_at)
    model = admission.model
    learned = None if model is None else (model[0], round(model[1], 6))
    assert learned == case.model


async def test_a_cap_is_learned_when_the_quota_frees_as_one_of_ours_ends() -> None:
    time = FakeTime()
    admission = _admission(time)
    tickets = [await _ask(admission) for _ in range(10)]
    await time.sleep(0.1)
    for ticket in tickets[6:]:  # six admitted; the first ends 17.5 s on, and frees the cap
        await admission.refused(ticket, _refusal(17.4, limit=6))
    await time.sleep(17.4)
    admission.answered(tickets[0])
    assert admission.cap == 6
    assert admission.limit <= 6
    await _ask(admission)
    assert admission.model is None  # the window learned from the cap's refusals is dropped


async def test_an_answer_long_before_the_free_time_is_no_cap() -> None:
    time = FakeTime()
    admission = _admission(time)
    tickets = [await _ask(admission) for _ in range(20)]
    await time.sleep(17.0)
    admission.answered(tickets[0])
    late = await _ask(admission)
    await admission.refused(late, _refusal(43.0, limit=20))  # a sliding minute, full
    await time.sleep(1.0)
    admission.answered(tickets[1])  # ends at 118; the quota said 160
    assert admission.cap is None
    model = admission.model
    assert model is not None
    assert model[0] == 20
    assert model[1] == pytest.approx(60.0)


async def test_waiters_are_served_first_come_first_served() -> None:
    time = VirtualTime()
    admission = _admission(time, concurrency=1)
    first = await _ask(admission)
    order: list[int] = []

    async def waiter(number: int) -> None:
        ticket = await _ask(admission)
        order.append(number)
        admission.answered(ticket)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for number in range(5):
                group.start_soon(waiter, number)
                await anyio.lowlevel.checkpoint()
            await time.sleep(1.0)
            admission.answered(first)

    await time.run(main())
    assert order == [0, 1, 2, 3, 4]


async def test_a_freed_slot_wakes_one_waiter_and_a_wider_limit_only_as_many_as_fit() -> None:
    gate = ConcurrencyGate(initial=1, bounds=(1, 32), typical_latency=1.0)
    await gate.__aenter__()
    woken: list[int] = []

    async def waiter(number: int) -> None:
        async with gate:
            woken.append(number)
            await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        for number in range(6):
            group.start_soon(waiter, number)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        assert woken == []
        gate.release()
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        assert woken == [0]  # one slot, one waiter: the rest sleep on
        gate.retune(3.0)  # 3 per second x 1 s x 1.25: four slots, three more
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        assert woken == [0, 1, 2, 3]
        assert gate.in_use == 4
        group.cancel_scope.cancel()


async def test_a_halt_wakes_every_waiter_with_nothing_to_send() -> None:
    time = VirtualTime()
    admission = _admission(time, concurrency=1)
    results: list[Ticket | None] = []

    async def waiter() -> None:
        results.append(await admission.ask())

    async def main() -> None:
        first = await _ask(admission)
        await admission.refused(first, _refusal(None, overload=True))  # a pause runs
        async with anyio.create_task_group() as group:
            for _ in range(3):  # one waits out the pause holding the slot, two the slot
                group.start_soon(waiter)
            await anyio.lowlevel.checkpoint()
            admission.halt()

    await time.run(main())
    assert results == [None, None, None]
    assert time.clock() < 102.0  # nobody waited the pause out
    assert await admission.ask() is None


async def test_a_freed_slot_goes_to_the_first_waiter_not_to_a_newcomer() -> None:
    gate = ConcurrencyGate(fixed=1)
    await gate.__aenter__()
    entered: list[str] = []

    async def enter(name: str) -> None:
        async with gate:
            entered.append(name)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(enter, "waiting")
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        gate.release()
        await enter("newcomer")  # asks the moment the slot frees, before the waiter runs
    assert entered == ["waiting", "newcomer"]
