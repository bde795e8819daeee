"""A stop asked from outside (the first SIGINT or SIGTERM, ``nanobanana stop``): drain, then cut.

A generation the service has started is very likely billed, so a stop does not throw
away the requests on the wire: the run stops admitting (:meth:`.Run.drain`: nothing new is
sent, no retry starts, a Batch API job is left at the service for ``--resume``), waits for
those requests and saves their images, for ``grace`` seconds at most, then cuts what is
left. A second signal is the caller's: it cancels the run's task, which cuts at once. The
wait is slept through the engine's injected ``sleep``, so tests never wait for it. Why:
docs/design.md, "Stops".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..results import RunState, StopReport
from .attempt import Run
from .events import Stopping

__all__ = ["DEFAULT_GRACE_CAP", "Stopper", "stop_grace"]

# The longest a stop waits for requests on the wire when not told: a pro 4K image can take
# minutes, but a user who asked to stop should not wait five of them.
DEFAULT_GRACE_CAP = 120.0


def stop_grace(grace: float | None, timeout: float) -> float:
    """The stop's wait: ``grace`` as given, else the request timeout capped at two minutes."""
    return grace if grace is not None else min(timeout, DEFAULT_GRACE_CAP)


class Stopper:
    """Carries out a stop for one run: waits for it to be asked, drains, cuts at ``grace``.

    Args:
        run: the run's shared state.
        grace: seconds the requests on the wire may take to finish once the stop is asked.
        sleep: the engine's injected sleep.
    """

    __slots__ = ("_run", "_sleep", "_watching", "asked", "grace", "sending")

    def __init__(self, run: Run, grace: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._run = run
        self._sleep = sleep
        self.grace = grace
        self.asked = False  # the drain began
        self._watching = anyio.CancelScope()
        # What the drain cancels outright: sending that is not a request on the wire (a
        # Batch API job's create, looks and downloads; the batch stays at the service).
        self.sending = anyio.CancelScope()

    def __repr__(self) -> str:
        return f"<Stopper asked={self.asked} grace={self.grace:g}s>"

    def begin(self) -> None:
        """Drain now: nothing new is sent; the wait for the requests on the wire begins."""
        if self.asked:
            return
        self.asked = True
        run = self._run
        run.drain()
        self.sending.cancel()
        now = run.clock()
        run.emit(Stopping(now + self.grace, now))

    async def watch(self, stop: anyio.Event, slides: anyio.CancelScope) -> None:
        """Once ``stop`` is set, drain; ``grace`` seconds later, cancel ``slides``.

        Ends when :meth:`close` is called (the slides ended first).
        """
        with self._watching:
            await stop.wait()
            self.begin()
            await self._sleep(self.grace)
            slides.cancel()

    async def guard(self, function: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run ``function`` until it ends or the drain begins (see :attr:`sending`)."""
        with self.sending:
            await function(*args)

    def close(self) -> None:
        """The slides are over: stop watching."""
        self._watching.cancel()

    def report(self, state: RunState) -> StopReport | None:
        """For a run that ended ``cancelled``, what became of its requests on the wire."""
        if state != "cancelled":
            return None
        return StopReport(finished=self._run.saved_while_stopping, cut=len(self._run.cut))
