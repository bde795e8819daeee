"""The Redis ledger: one quota's pacing state shared by the runs of many machines.

Google counts a quota per project, whatever machine asks, so runs on several machines
that share a key keep one :class:`~.state.QuotaState` in one Redis (or Valkey) server,
the same state the file ledger (:mod:`.file`) keeps for the runs of one machine, with
the same meaning.

**A decision is whole, and holds no lock.** Each run keeps the state as it last saw it,
with its version. The pacer decides on it; then one Lua script, atomic on the server,
keeps the decision only if the version is still the one it was made on, and returns the
new version, or else the newer state, which the pacer decides on again
(:class:`~.state.StateConflict`). So decisions of every machine are kept one after
another, none lost to a race; a decision is one round trip when nobody else decided
meanwhile; and a machine that stalls (descheduled, swapping, killed) holds nobody up, as
it would holding a lock. Why not ``WATCH``/``MULTI``: the same check, in three round
trips. Why not the whole decision in Lua: the pacer would be written twice.

**Clocks.** Machines' monotonic clocks share no origin, and their wall clocks may differ
by seconds. The state is kept on the server's clock: each call returns the server's
``TIME``, and its midpoint on this machine's clock gives the shift between the two, to
within half a round trip. The shift of the quickest of the last calls is used (the clocks
drift by microseconds a minute; a busy process's round trip may be milliseconds), so one
shift keeps this machine's sends in the order they were made. No two machines' clocks
are ever compared.

**Faults.** Redis is evidence, never a dependency. Every call waits at most ``timeout``
(0.1 s unless the URL's ``socket_timeout`` says more) and is never retried within a
decision. A server that cannot be reached, refuses a write (full: ``OOM``; a read-only
replica), refuses the password, or answers slowly leaves the run deciding on its own
state (the last it saw, and what it has done since), with one notice on stderr. It tries
again after 1, 2, 4 then every 8 seconds (times ``time_scale``); back, it adds what it
did alone (its sends, its pause, a window learned) to the shared state, or writes its
own state to a server that came back empty, and says so once. Decisions that keep
losing to others' for longer than ``timeout`` are made alone the same way, silently.

**What is stored.** One hash per quota, ``nano-banana:{<digest>}`` (one hash slot, for
Redis Cluster), named by :func:`~.file.entry_name` (a digest of endpoint, key and model:
the key is never stored): the state as JSON and its version. It expires a day after its
last write.
"""

from __future__ import annotations

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
from .state import QuotaState, StateConflict, shifted, state_from_json, state_to_json

if TYPE_CHECKING:
    import redis

__all__ = ["RedisLedger"]

# KEYS: the quota's hash (s: state JSON, v: version). ARGV: the version the decision was
# made on, the state to keep ('' when the decision changed nothing), its life in ms, a
# fresh token (a new hash's version, so a server that restarted never repeats one).
# Returns {kept, state or '', version, TIME seconds, TIME microseconds}: the newer state
# when not kept.
_COMMIT = """
local v = redis.call('HGET', KEYS[1], 'v') or ''
local t = redis.call('TIME')
if v ~= ARGV[1] then
  return {0, redis.call('HGET', KEYS[1], 's') or '', v, t[1], t[2]}
end
if ARGV[2] ~= '' then
  local n = 1
  if v ~= '' then n = tonumber(string.match(v, ':(%d+)$')) + 1 end
  v = (v == '' and ARGV[4] or string.match(v, '^(.*):')) .. ':' .. n
  redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', v)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {1, '', v, t[1], t[2]}
"""
_STATE_MS = 86_400_000  # as the file ledger: a day-old state says nothing of today's quota
_REJOIN = (1.0, 2.0, 4.0, 8.0)  # seconds alone before each try to rejoin
_SHIFTS = 64  # calls whose clock shift is remembered (a minute or so of decisions)
_UNSEEN = "?"  # the version of a state never read: every first decision reads it


class RedisLedger:
    """A :class:`~.state.StateStore` in a Redis server shared by many machines' runs.

    Args:
        address: the server (:func:`~.address.parse_ledger`).
        entry: this quota's name (:func:`~.file.entry_name`).
        clock: the pacer's clock: the state handed out is on it.
        timeout: the longest wait on one call to Redis, in real seconds.
        time_scale: multiplies the waits before trying to rejoin (an emulator's run).
        server_time: keep times on the server's ``TIME``, moved onto ``clock`` at each
            call. ``False`` keeps ``clock``'s own times, as the file ledger does: for runs
            that all read one clock (tests on virtual time).
        env: for ``REDISCLI_AUTH``, the password when the URL has none.
        notice: where the two notices go (stderr).
    """

    __slots__ = (
        "_alone",
        "_client",
        "_clock",
        "_commit",
        "_down",
        "_key",
        "_losing_since",
        "_rejoin_at",
        "_said",
        "_scale",
        "_secrets",
        "_server_time",
        "_shifts",
        "_state",
        "_strayed",
        "_timeout",
        "_token",
        "_tries",
        "_version",
        "address",
        "conflicts",
        "notice",
    )

    def __init__(
        self,
        address: RedisAddress,
        entry: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 0.1,
        time_scale: float = 1.0,
        server_time: bool = True,
        env: Mapping[str, str] | None = None,
        notice: Callable[[str], None] | None = None,
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
        self._scale = time_scale
        self._server_time = server_time
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
        self._commit = self._client.register_script(_COMMIT)
        self._key = f"nano-banana:{{{entry}}}"
        self._token = secrets.token_hex(6)
        self._state = QuotaState()  # as this run last saw it, on its clock
        self._version = _UNSEEN
        self._shifts: deque[tuple[float, float]] = deque(maxlen=_SHIFTS)
        self._alone: list[tuple[float, str]] = []  # sends decided alone, not yet shared
        self._strayed = False  # decisions were made alone since the last one kept
        self._down: str | None = None  # why Redis is out of reach, while it is
        self._rejoin_at = -float("inf")
        self._tries = 0
        self._losing_since: float | None = None
        self._said: set[str] = set()
        self.conflicts = 0  # decisions made again because another's was kept first

    def __repr__(self) -> str:
        how = f"alone: {self._down}" if self._down else f"shared, version {self._version}"
        return f"<RedisLedger {self.address.shown} entry={self._key[13:21]} {how}>"

    def close(self) -> None:
        """Close the connection (a run's end; a later decision would open another)."""
        with contextlib.suppress(Exception):
            self._client.close()

    @contextlib.contextmanager
    def open(self) -> Iterator[QuotaState]:
        """The state for one decision, kept if no other run's was kept meanwhile.

        Raises:
            StateConflict: as the block ends, when another's was: the decision is to be
                made again, on the newer state this store now holds.
        """
        if self._version == _UNSEEN and self._down is None:
            self._call(None)  # the first decision reads the shared state first
        state = self._state
        before = list(zip(state.sends, state.owners, strict=True))
        seen = orjson.dumps(state_to_json(state))
        yield state
        if (self._down is not None and self._clock() < self._rejoin_at) or self._losing():
            self._keep_alone(state, before)
            return
        changed = orjson.dumps(state_to_json(state)) != seen
        kept = self._call(state if changed or self._strayed else None)
        if kept is None:  # out of reach: the decision stands, alone
            self._keep_alone(state, before)
        elif not kept:
            self.conflicts += 1
            if self._state is state:  # nothing newer to decide on: undo this decision
                self._state = state_from_json(orjson.loads(seen))
            raise StateConflict
        else:
            self._alone.clear()
            self._strayed = False

    # -- the one call ----------------------------------------------------------------------

    def _call(self, state: QuotaState | None) -> bool | None:
        """Keep ``state`` (``None``: the decision changed nothing) if the version is still
        the one it was made on. ``True``: kept; ``False``: not, and the newer state is now
        this store's; ``None``: Redis is out of reach."""
        from redis.exceptions import RedisError

        data = b""
        if state is not None:  # a copy moved onto the server's clock; the run keeps its own
            copy = shifted(state_from_json(state_to_json(state)), -self._shift())
            if copy.sends != sorted(copy.sends):  # a shift that changed kept sends' order
                pairs = sorted(zip(copy.sends, copy.owners, strict=True))
                copy.sends, copy.owners = [t for t, _ in pairs], [o for _, o in pairs]
            data = orjson.dumps(state_to_json(copy))
        before = self._clock()
        try:
            reply = self._commit(
                keys=[self._key], args=[self._version, data, _STATE_MS, self._token]
            )
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return None
        after = self._clock()
        kept, raw, version, seconds, micros = reply
        self._measure(before, after, int(seconds) + int(micros) / 1e6)
        if self._down is not None:
            self._came_back()
        read_only = state is None and self._version == _UNSEEN  # a first read, no decision
        self._version = version.decode() if isinstance(version, bytes) else str(version)
        if kept:
            self._losing_since = None
            return True
        if self._losing_since is None and not read_only:
            self._losing_since = time.monotonic()  # this run's decisions began losing
        newer = None
        if raw:
            with contextlib.suppress(orjson.JSONDecodeError):
                newer = shifted(state_from_json(orjson.loads(raw)), self._shift())
        if newer is not None:  # else nothing shared (or the server came back empty): ours
            if self._strayed:
                self._merge_alone(newer)
            self._state = newer
        return False

    def _measure(self, before: float, after: float, server: float) -> None:
        if self._server_time:
            self._shifts.append((after - before, (before + after) / 2 - server))

    def _shift(self) -> float:
        """What to add to a server time to put it on this clock: the quickest recent
        call's measure (see the module's docstring)."""
        return min(self._shifts)[1] if self._server_time and self._shifts else 0.0

    def _losing(self) -> bool:
        """Whether this run's decisions have lost to others' for longer than ``timeout``
        (decide alone once; the next decision tries again)."""
        since = self._losing_since
        if since is None or time.monotonic() - since < self._timeout:
            return False
        self._losing_since = None
        return True

    # -- alone, and back -----------------------------------------------------------------

    def _keep_alone(self, state: QuotaState, before: list[tuple[float, str]]) -> None:
        """Keep a decision made alone, and the sends it made, for the shared state later."""
        self._state = state
        self._strayed = True
        new = Counter(zip(state.sends, state.owners, strict=True)) - Counter(before)
        self._alone.extend(new.elements())  # a multiset: a burst's sends share one time

    def _merge_alone(self, shared: QuotaState) -> None:
        """Add what this run did alone to the ``shared`` state: its sends, its pause, and
        the window it learned if it learned it later (a shared state that forgot nothing
        this run knew)."""
        mine = self._state
        for sent, owner in self._alone:
            shared.sends.append(sent)
            shared.owners.append(owner)
        pairs = sorted(zip(shared.sends, shared.owners, strict=True))
        shared.sends, shared.owners = [t for t, _ in pairs], [o for _, o in pairs]
        for name in ("pause_until", "announced_until", "probe_until", "storm_frees"):
            setattr(shared, name, max(getattr(shared, name), getattr(mine, name)))
        if mine.burst is not None and (shared.burst is None or mine.learned_at > shared.learned_at):
            shared.burst, shared.span, shared.limit = mine.burst, mine.span, mine.limit
            shared.learned_at, shared.grow_at = mine.learned_at, mine.grow_at

    def _went_down(self, exc: BaseException) -> None:
        self._down = _reason(exc, self._secrets, self._timeout)
        wait = _REJOIN[min(self._tries, len(_REJOIN) - 1)] * self._scale
        self._rejoin_at = self._clock() + wait
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
