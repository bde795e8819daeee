"""The Redis ledger: one quota's pacing state shared by the runs of many machines.

Google counts a quota per project, whatever machine asks, so runs on several machines
that share a key keep one :class:`~.state.QuotaState` in one Redis (or Valkey) server,
the same state the file ledger (:mod:`.file`) keeps for the runs of one machine, with
the same meaning. A decision is whole:

1. a script takes the entry's lock (``SET NX PX``, a token of this decision's) and, in the
   same call, returns the state and the server's ``TIME``;
2. the pacer decides on it, on this machine's clock;
3. a script writes the state back and frees the lock, only if the lock is still this
   decision's (one that ran past the lock's life writes nothing: its sends are carried
   into the next decision instead).

So decisions of every machine interleave whole, and none is lost to a race.

**Clocks.** Machines' monotonic clocks share no origin, and their wall clocks may differ
by seconds. The state is kept on the server's clock: each decision reads ``TIME`` in the
call that takes the lock and moves every time in the state onto this machine's clock by
the difference (measured at the call's midpoint, so off by at most half a round trip),
and back when it writes. No two machines' clocks are ever compared.

**Faults.** Redis is evidence, never a dependency. Every call waits at most
``timeout`` (0.1 s unless the URL's ``socket_timeout`` says more), and is never retried
within a decision. A server that cannot be reached, refuses a write (full: ``OOM``; a
read-only replica), refuses the password, or answers slowly leaves the run pacing on its
own state (the last it saw, and what it has learned since), with one notice on stderr.
It tries again after 1, 2, 4 then every 8 seconds; back, it adds the sends and pause it
made alone to the shared state (or writes its own, if the server came back empty) and
says so once. A lock held past its life (its holder killed) is waited for a moment, then
the decision is made alone.

**What is stored.** The entry is named by :func:`~.file.entry_name` (a digest of
endpoint, key and model: the key is never stored), under ``nano-banana:{<digest>}:``
(one hash slot, for Redis Cluster). It expires a day after its last write.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import secrets
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import orjson

from .address import RedisAddress
from .state import QuotaState, shifted, state_from_json, state_to_json

if TYPE_CHECKING:
    import redis

__all__ = ["RedisLedger"]

# KEYS: state, lock. ARGV: token, lock ms. The lock and TIME in one call: the state is read
# only by the decision that holds the lock, and its times are moved by TIME read then.
_TAKE = """
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local t = redis.call('TIME')
  return {1, redis.call('GET', KEYS[1]) or '', t[1], t[2]}
end
return {0, redis.call('PTTL', KEYS[2])}
"""
# KEYS: state, lock. ARGV: token, state ('' for unchanged), state ms. Only the lock's holder
# writes: a decision whose lock expired under it (a stalled process) changes nothing.
_PUT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
redis.call('DEL', KEYS[2])
return 1
"""
_LOCK_MS = 1000  # a decision holds it for two round trips; a killed holder's lock lasts this
_STATE_MS = 86_400_000  # as the file ledger: a day-old state says nothing of today's quota
_SPIN = 0.001  # between two tries for a lock another machine holds (a decision's length)
_REJOIN = (1.0, 2.0, 4.0, 8.0)  # seconds alone before each try to rejoin
_SHIFTS = 64  # calls whose clock shift is remembered (a minute or so of decisions)


class RedisLedger:
    """A :class:`~.state.StateStore` in a Redis server shared by many machines' runs.

    Args:
        address: the server (:func:`~.address.parse_ledger`).
        entry: this quota's name (:func:`~.file.entry_name`).
        clock: the pacer's clock: the state handed out is on it.
        timeout: the longest wait on one call to Redis, in real seconds.
        server_time: keep times on the server's ``TIME``, moved onto ``clock`` at each
            decision. ``False`` keeps ``clock``'s own times, as the file ledger does: for
            runs that all read one clock (tests on virtual time).
        env: for ``REDISCLI_AUTH``, the password when the URL has none.
        notice: where the two notices go (stderr).
        pause: the wait between two tries for a held lock.
    """

    __slots__ = (
        "_alone",
        "_client",
        "_clock",
        "_down",
        "_fallback",
        "_keys",
        "_pause",
        "_put",
        "_rejoin_at",
        "_said",
        "_secrets",
        "_server_time",
        "_shifts",
        "_take",
        "_timeout",
        "_token",
        "_tries",
        "address",
        "busy",
        "notice",
    )

    def __init__(
        self,
        address: RedisAddress,
        entry: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 0.1,
        server_time: bool = True,
        env: Mapping[str, str] | None = None,
        notice: Callable[[str], None] | None = None,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        import redis  # the extra, checked when the address was read
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        env = os.environ if env is None else env
        password = urlsplit(address.url).password
        self._secrets = tuple(
            s for s in (unquote(password or ""), env.get("REDISCLI_AUTH", "")) if s
        )
        self.address = address
        self._clock = clock
        self._server_time = server_time
        self._pause = pause
        self.notice = notice or _to_stderr
        self._client: redis.Redis = redis.Redis.from_url(
            address.url,
            password=env.get("REDISCLI_AUTH") or None,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a decision never waits on retries
            health_check_interval=0,
            client_name="nanobanana",
        )
        # The URL's own socket_timeout, if it has one, is what the client waits.
        kwargs = self._client.connection_pool.connection_kwargs
        self._timeout = float(kwargs.get("socket_timeout") or timeout)
        self._take = self._client.register_script(_TAKE)
        self._put = self._client.register_script(_PUT)
        self._keys = [f"nano-banana:{{{entry}}}:state", f"nano-banana:{{{entry}}}:lock"]
        self._token = secrets.token_hex(8)
        self._fallback = QuotaState()
        self._shifts: deque[tuple[float, float]] = deque(maxlen=_SHIFTS)
        self._alone: list[tuple[float, str]] = []  # sends made alone, not yet shared
        self._down: str | None = None  # why Redis is out of reach, while it is
        self._rejoin_at = -float("inf")
        self._tries = 0
        self._said: set[str] = set()
        self.busy = 0  # decisions made alone because another held the lock too long

    def __repr__(self) -> str:
        how = f"alone: {self._down}" if self._down else "shared"
        return f"<RedisLedger {self.address.shown} entry={self._keys[0][13:21]} {how}>"

    def close(self) -> None:
        """Close the connection (a run's end; a later decision would open another)."""
        with contextlib.suppress(Exception):
            self._client.close()

    @contextlib.contextmanager
    def open(self) -> Iterator[QuotaState]:
        """This quota's state, locked against every machine's runs until the block ends."""
        taken = self._take_state()
        if taken is None:
            state = self._fallback
            sends = list(zip(state.sends, state.owners, strict=True))
            yield state
            self._keep_alone(state, sends)
            return
        state, delta, shared = taken
        sends = list(zip(state.sends, state.owners, strict=True))
        try:
            yield state
        except BaseException:
            self._write(None, delta, sends, state)  # frees the lock; nothing decided
            raise
        self._fallback = state
        after = orjson.dumps(state_to_json(state))
        self._write(None if after == shared else state, delta, sends, state)

    # -- the two calls -------------------------------------------------------------------

    def _take_state(self) -> tuple[QuotaState, float, bytes | None] | None:
        """The shared state on this clock, its time shift, and its bytes as read (``None``
        when it must be written whatever the decision does); ``None`` to decide alone."""
        if self._down is not None and self._clock() < self._rejoin_at:
            return None
        from redis.exceptions import RedisError

        deadline = time.monotonic() + self._timeout
        try:
            while True:
                before = self._clock()
                reply = self._take(keys=self._keys, args=[self._token, _LOCK_MS])
                after = self._clock()
                if reply[0] == 1:
                    break
                if time.monotonic() >= deadline:
                    self.busy += 1
                    return None
                self._pause(_SPIN)
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return None
        _, raw, seconds, micros = reply
        delta = self._shift(before, after, int(seconds) + int(micros) / 1e6)
        state = None
        if raw:
            with contextlib.suppress(orjson.JSONDecodeError):
                state = shifted(state_from_json(orjson.loads(raw)), delta)
        if self._down is not None:
            self._came_back()
        if state is None:  # nothing shared yet, or the server came back empty
            return self._fallback, delta, None
        if self._alone:
            self._merge_alone(state)
            return state, delta, None
        return state, delta, orjson.dumps(state_to_json(state))

    def _write(
        self,
        state: QuotaState | None,
        delta: float,
        sends: list[tuple[float, str]],
        decided: QuotaState,
    ) -> None:
        """Write ``state`` back (``None``: unchanged) and free the lock."""
        from redis.exceptions import RedisError

        data = b""
        if state is not None:  # a copy moved onto the server's clock; the run keeps its own
            copy = shifted(state_from_json(state_to_json(state)), -delta)
            if copy.sends != sorted(copy.sends):  # a shift that changed kept sends' order
                pairs = sorted(zip(copy.sends, copy.owners, strict=True))
                copy.sends, copy.owners = [t for t, _ in pairs], [o for _, o in pairs]
            data = orjson.dumps(state_to_json(copy))
        try:
            written = self._put(keys=self._keys, args=[self._token, data, _STATE_MS])
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            written = 0
        if written:
            self._alone.clear()
        else:
            self._keep_alone(decided, sends)

    def _shift(self, before: float, after: float, server: float) -> float:
        """What to add to a server time to put it on this clock.

        Each call measures it to within half its round trip; a busy process's round trip
        may be milliseconds. The two clocks drift by microseconds a minute, so the shift of
        the quickest of the last calls is the truest, and one shift keeps this machine's
        sends in the order they were made.
        """
        if not self._server_time:
            return 0.0
        self._shifts.append((after - before, (before + after) / 2 - server))
        return min(self._shifts)[1]

    # -- alone, and back -----------------------------------------------------------------

    def _keep_alone(self, state: QuotaState, before: list[tuple[float, str]]) -> None:
        """Remember the sends this decision made that no shared state holds yet."""
        self._fallback = state
        new = Counter(zip(state.sends, state.owners, strict=True)) - Counter(before)
        self._alone.extend(new.elements())  # a multiset: a burst's sends share one time

    def _merge_alone(self, state: QuotaState) -> None:
        """Add what this run did alone to the shared ``state``: its sends, its pause, and
        its window if the others know none (a shared state that forgot nothing it knew)."""
        for sent, owner in self._alone:
            at = bisect.bisect_right(state.sends, sent)
            state.sends.insert(at, sent)
            state.owners.insert(at, owner)
        mine = self._fallback
        state.pause_until = max(state.pause_until, mine.pause_until)
        if state.burst is None and mine.burst is not None:
            state.burst, state.span, state.limit = mine.burst, mine.span, mine.limit

    def _went_down(self, exc: BaseException) -> None:
        self._down = _reason(exc, self._secrets, self._timeout)
        self._rejoin_at = self._clock() + _REJOIN[min(self._tries, len(_REJOIN) - 1)]
        self._tries += 1
        self._say(
            "down",
            f"nanobanana: quota ledger {self.address.shown} unreachable ({self._down}); "
            "pacing this run on its own until it is back",
        )

    def _came_back(self) -> None:
        self._down = None
        self._tries = 0
        self._say(
            "back",
            f"nanobanana: quota ledger {self.address.shown} is back; "
            "pacing with the other runs again",
        )

    def _say(self, what: str, line: str) -> None:
        """Each notice once a run: a server that comes and goes is said once, not each time."""
        if what not in self._said:
            self._said.add(what)
            self.notice(line)


def _reason(exc: BaseException, secrets: tuple[str, ...], timeout: float) -> str:
    """``exc`` in a few words, never with a password."""
    from redis import exceptions

    if isinstance(exc, exceptions.OutOfMemoryError):
        return "full: used memory is over maxmemory"
    if isinstance(exc, exceptions.ReadOnlyError):
        return "read-only: a replica"
    if isinstance(exc, exceptions.TimeoutError):
        return f"Timeout: no answer within {timeout:g} s"
    if isinstance(exc, exceptions.AuthenticationError):
        return "password refused"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = text.split(" script: ", 1)[0]  # a script's error names its digest and line
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:120]


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)
