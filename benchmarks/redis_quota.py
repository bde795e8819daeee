"""Scenario 9, one quota shared across machines through Redis (issue 31).

"Machines", simulated honestly: each is a separate ``nanobanana run`` subprocess with its
own ``TMPDIR``, ``XDG_RUNTIME_DIR`` and ``HOME`` (temporary folders), so no file ledger,
progress or results file is shared. All use one API key (one quota), one emulator
subprocess (:class:`~.emulator_process.EmulatorProcess`, a sliding minute of
:data:`~.shapes.SHARED_RPM` as in scenario 5's shared-key runs, ``--time-scale``
:data:`~.quota.TIME_SCALE`; no rpm told to the clients) and, on the Redis runs, one real
``redis-server`` this scenario starts on a free loopback port (``--save '' --appendonly
no``, a folder of its own) and stops at the end; each machine gets
``--ledger redis://127.0.0.1:PORT/0``. Each machine's deck is scenario 5's small deck
(:data:`~.shapes.SMALL_DECK` slides of scenario 1's model at 2K, JPEG), its own output
folder, ``--no-contact-sheet``.

Runs, each after an emulator reset and on a key of its own (``bench-redis-<run>``):

* ``three_redis``: three machines started together on Redis;
* ``three_files``: the same, each on its own file ledger (nothing shared: the baseline);
* ``three_one_file``: the same, all three with one ``XDG_RUNTIME_DIR`` (three runs of one
  machine, sharing its file ledger): what the Redis runs should match;
* ``join_redis``: three machines on Redis, a fourth started once a third of the three's
  requests have been answered 200 (the emulator's arrivals, polled);
* ``join_files``: the same without Redis;
* ``redis_killed``: three machines on Redis; once a third of their requests are answered
  200, ``redis-server`` is killed (SIGKILL); once another third are, it is started again
  on the same port, empty.

Which machine sent which request: the emulator records each request's connection (the
client's loopback port); a thread polls ``/proc`` every :data:`POLL` s for the sockets each
machine's process holds, so every arrival is put down to its machine (keep-alive
connections live for a run; an arrival on a connection never seen is counted as
``unattributed``). Times are emulated seconds on the emulator's clock:

* a machine's **wall**: from the run's start (the first arrival of any machine; for the
  fourth, its own first arrival) to its last 200 answer;
* **together**: ``best / wall of all x saved / slides``, where the wall of all runs from the
  first arrival to the last 200 answer, and ``best`` is the best schedule for every slide
  of the run from that same first arrival (:func:`~.shapes.best_wall`, the emulator's own
  quota book, the run's latencies). For ``join_*`` the best schedule has the fourth's
  slides from the start too (the quota, not the fourth's late start, is what bounds the
  run: 80 requests are four windows);
* **slowest / fastest**: the ratio of the three first machines' walls;
* **in delay**: requests that arrived inside a delay a 429 announced
  (:func:`~.shapes.scenario._inside`, scenario 5's verdict, over the key);
* **429s after join**: 429s answered after the fourth machine's first request arrived.
  "Joins without a 429 storm" is defined as at most :data:`JOIN_429_AT_MOST` of them: a
  machine that reads the shared ledger before its first send needs none, and one probe
  per window of the three already running is a rounding the quota allows; a fourth that
  paced alone would find the window full and be refused a burst of requests (the
  ``join_files`` run shows how many);
* **notices**: lines on each machine's stderr naming ``quota ledger`` and ``on its own``,
  or ``quota ledger`` and ``back`` (the run going on alone when Redis is gone, and
  sharing again when it is back): the interface promises at most one of each per outage.

Targets: ``three_redis`` together >= 0.85, slowest / fastest <= 1.5, 0 in delay;
``join_redis`` 429s after the fourth's first request <= :data:`JOIN_429_AT_MOST`;
``redis_killed`` 0 slides lost and every machine exits 0, and each machine prints one
"on its own" line and at most one "back" line (one that ends first says no "back"). A
run over :data:`RUN_TIMEOUT` real seconds is stopped (its machines killed) and shown as
``timeout``, which misses its targets.

Run alone: ``python -m benchmarks.redis_quota`` (about 75 s); it prints its tables and
targets and updates the ``redis_quota`` key of ``latest.json``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from .deck import deck_config
from .emulator_process import EmulatorProcess
from .quota import FORMAT, IMAGE_SIZE, SEED, TIME_SCALE
from .redis_server import REDIS_SERVER, RedisServer
from .shapes import SHARED_RPM, SMALL_DECK, Seen, best_wall, compact_arrivals, emulator_settings
from .shapes.scenario import _inside

__all__ = [
    "JOIN_429_AT_MOST",
    "MACHINES",
    "RATIO_AT_MOST",
    "REDIS_SERVER",
    "RUNS",
    "RUN_TIMEOUT",
    "TOGETHER_AT_LEAST",
    "Machine",
    "RedisQuotaResult",
    "RedisRun",
    "run_redis_quota_scenario",
]

MACHINES = 3
RUN_TIMEOUT = 40.0
"""Real seconds a run may take; the slowest (four machines, 80 slides at 20 a minute: four
windows, about 210 emulated seconds) needs about 9."""
WARM_IMPORTS = (
    "nanobanana_async.cli.main",
    "nanobanana_async.cli.run",
    "nanobanana_async.engine.run",
    "nanobanana_async.ledger.redis_store",
    "nanobanana_async.cli.runs",
    "nanobanana_async.follow.progress_file",
    "nanobanana_async.follow.registry",
    "nanobanana_async.export.contact_sheet",
    "anyio._backends._asyncio",
    "PIL.JpegImagePlugin",
    "PIL.PngImagePlugin",
    "redis",
)
"""What a machine imports before it is told to go (a module that is not there is skipped)."""
POLL = 0.02
"""Real seconds between two looks at ``/proc`` (machines' sockets) or the emulator's stats."""
TOGETHER_AT_LEAST = 0.85
RATIO_AT_MOST = 1.5
JOIN_429_AT_MOST = 3
RUNS = (
    ("three_redis", "three together, Redis"),
    ("three_files", "three together, each its own file ledger"),
    ("three_one_file", "three together, one file ledger (one machine)"),
    ("join_redis", "a fourth joins mid-run, Redis"),
    ("join_files", "a fourth joins mid-run, file ledgers"),
    ("redis_killed", "Redis killed mid-run, back empty"),
)
_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Machine:
    """One ``nanobanana run`` of a run; emulated seconds.

    Attributes:
        name: ``m1`` to ``m4`` (``m4`` joins mid-run).
        exit_code: the process's, ``None`` when it was killed at the timeout.
        slides, saved, lost: its deck's size, images in its folder, slides without one.
        requests, http_429: arrivals put down to it, and of those the 429s.
        first_arrival_s: its first request, since the run's first arrival.
        go_to_first_ms: real milliseconds from its go to its first request's arrival (what
            it spent starting: reading its config, its files, its ledger).
        wall_s: see the module's doc.
        alone_notices, back_notices: stderr lines naming ``quota ledger`` and ``on its
            own``, and ``quota ledger`` and ``back`` (but not ``on its own``).
        notices: every stderr line naming ``quota ledger``, with the emulated second it
            was read at (``[12.3] ...``, since the run's first arrival; ``None`` unknown).
        stderr_tail: the last lines of its stderr when it did not exit 0.
    """

    name: str
    exit_code: int | None
    slides: int
    saved: int
    lost: int
    requests: int
    http_429: int
    first_arrival_s: float | None
    go_to_first_ms: float | None
    wall_s: float | None
    alone_notices: int
    back_notices: int
    notices: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RedisRun:
    """One run of scenario 9; emulated seconds (``None``: does not apply, or not measured).

    Attributes:
        key, label: stable name and table label (:data:`RUNS`).
        redis: whether the machines shared the Redis ledger.
        outcome: ``ok``, ``timeout``, ``no requests`` (every machine ended before sending
            one: see their ``stderr_tail``), or ``error: ...`` (the run could not be made).
        machines: each machine, in start order.
        slides, saved, lost: all machines together.
        requests, http_429, other_errors: the emulator's arrivals of the run's key.
        inside_announced_delay: requests inside a delay a 429 announced.
        wall_s: first arrival to last 200 answer, all machines.
        best_wall_s: the best schedule for ``slides`` from the same first arrival.
        efficiency: together, ``best_wall_s / wall_s x saved / slides``.
        ratio: slowest / fastest wall of the machines started together.
        joined_at_s: when the fourth was started, since the run's first arrival (``join_*``).
        http_429_after_join: 429s answered after the fourth's first arrival.
        redis_killed_at_s, redis_back_at_s: for ``redis_killed``, since the first arrival.
        unattributed: arrivals on a connection no machine was seen holding.
        arrivals: ``[t, answered, status, retry_delay, machine]`` per request.
    """

    key: str
    label: str
    redis: bool
    outcome: str
    machines: list[Machine]
    slides: int
    saved: int
    lost: int
    requests: int | None = None
    http_429: int | None = None
    other_errors: int | None = None
    inside_announced_delay: int | None = None
    wall_s: float | None = None
    best_wall_s: float | None = None
    efficiency: float | None = None
    ratio: float | None = None
    joined_at_s: float | None = None
    http_429_after_join: int | None = None
    redis_killed_at_s: float | None = None
    redis_back_at_s: float | None = None
    unattributed: int = 0
    arrivals: list[list[Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RedisQuotaResult:
    """Scenario 9: every run, in :data:`RUNS` order."""

    runs: list[RedisRun]
    duration_s: float
    time_scale: float = TIME_SCALE

    def run(self, key: str) -> RedisRun | None:
        return next((r for r in self.runs if r.key == key), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": {
                "machines": MACHINES,
                "slides_each": SMALL_DECK,
                "rpm": SHARED_RPM,
                "image_size": IMAGE_SIZE,
                "format": FORMAT,
                "time_scale": self.time_scale,
                "seed": SEED,
                "run_timeout_s": RUN_TIMEOUT * self.time_scale / TIME_SCALE,
            },
            "runs": {r.key: r.to_json() for r in self.runs},
            "duration_s": round(self.duration_s, 1),
        }


# -- redis-server ---------------------------------------------------------------------------


# -- machines -------------------------------------------------------------------------------


_WARM = """\
import importlib, os, sys
for name in %r:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
from nanobanana_async.cli import main
open(os.environ.pop("BENCH_READY_FILE"), "wb").close()
sys.stdin.readline()
raise SystemExit(main(sys.argv[1:]))
""" % (WARM_IMPORTS,)  # noqa: UP031
"""A machine's program: ``nanobanana``'s own ``main``, once its imports are done and the
bench says go (a line on stdin)."""


class _Launched:
    """One machine's process, its folders and its stderr file.

    The process imports what a run imports, says it is ready (a file), and waits for
    :meth:`go`: machines "started together" then start within milliseconds, where a cold
    start of each (0.3 to 1 s of real time on 2 loaded cores, 8 to 25 emulated seconds at
    x0.04) would stagger them by a third of a quota window.
    """

    def __init__(
        self,
        name: str,
        folder: Path,
        env: dict[str, str],
        ledger: str | None,
        runtime: Path | None = None,
        *,
        scale: float = TIME_SCALE,
    ) -> None:
        self.name = name
        self.folder = folder
        for part in ("tmp", "run", "home", "deck"):
            (folder / part).mkdir(parents=True, mode=0o700, exist_ok=True)
        config = deck_config(SMALL_DECK, folder / "deck", image_size=IMAGE_SIZE, fmt=FORMAT)
        (folder / "slides.json").write_bytes(orjson.dumps(config) + b"\n")
        own = dict(env)
        runtime = runtime or folder / "run"
        own |= {"TMPDIR": str(folder / "tmp"), "XDG_RUNTIME_DIR": str(runtime)}
        own |= {"HOME": str(folder / "home"), "BENCH_READY_FILE": str(folder / "ready")}
        command = [
            sys.executable, "-c", _WARM, "run", str(folder / "slides.json"),
            "--time-scale", repr(scale), "--quiet", "--no-contact-sheet",
        ]  # fmt: skip
        if ledger is not None:
            command += ["--ledger", ledger]
        self._stderr: IO[bytes] = open(folder / "stderr.txt", "wb")  # noqa: SIM115
        self.started: float | None = None
        self.stamps: list[float] = []  # when each stderr line was first seen
        self.process = subprocess.Popen(
            command,
            cwd=folder,
            env=own,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def ready(self) -> bool:
        """Whether it waits for :meth:`go` (or has ended: it never will)."""
        return (self.folder / "ready").exists() or self.process.poll() is not None

    def go(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):
            stdin.write(b"go\n")
            stdin.close()
        self.started = time.monotonic()

    def finish(self, deadline: float) -> int | None:
        """Its exit code, or ``None`` after killing it at ``deadline`` (monotonic)."""
        try:
            code = self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=3)
            code = None
        self._stderr.close()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        return code

    def saved(self) -> int:
        return sum(1 for p in (self.folder / "deck").glob(f"*.{FORMAT}") if p.name[0] != ".")

    def stderr_lines(self) -> list[str]:
        return (self.folder / "stderr.txt").read_text(errors="replace").splitlines()

    def watch(self) -> None:
        """Stamp the stderr lines that appeared since the last look (``time.monotonic()``)."""
        with contextlib.suppress(OSError):
            lines = self.stderr_lines()
            now = time.monotonic()
            self.stamps += [now] * (len(lines) - len(self.stamps))


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    found.add(target[8:-1])
    return found


def _local_ports() -> dict[str, str]:
    """Socket inode -> ``127.0.0.1:port`` of every IPv4 TCP socket on this machine."""
    ports = {}
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            parts = line.split()
            address, port = parts[1].split(":")
            host = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
            ports[parts[9]] = f"{host}:{int(port, 16)}"
    return ports


class _Owners:
    """Which machine holds which client address, from ``/proc``, polled in a thread."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}
        self._machines: list[_Launched] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="sockets", daemon=True)

    def __enter__(self) -> _Owners:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def add(self, machine: _Launched) -> None:
        with self._lock:
            self._machines.append(machine)

    def _poll(self) -> None:
        while not self._stop.wait(POLL):
            with self._lock:
                machines = list(self._machines)
            for m in machines:
                m.watch()
            running = [m for m in machines if m.process.poll() is None]
            if not running:
                continue
            inodes = {m.name: _socket_inodes(m.process.pid) for m in running}
            ports = _local_ports()
            for name, held in inodes.items():
                for inode in held:
                    address = ports.get(inode)
                    if address is not None:
                        self.owner.setdefault(address, name)


def _answered_200(emulator: EmulatorProcess) -> int:
    arrivals = emulator.stats()["arrivals"]
    return sum(1 for a in arrivals if a["status"] == 200 and a["answered"] is not None)


def _wait_answered(
    emulator: EmulatorProcess, count: int, deadline: float, machines: Sequence[_Launched]
) -> bool:
    """Wait until ``count`` requests are answered 200; ``False`` at ``deadline``, or as soon
    as every machine has exited (they will send no more)."""
    while time.monotonic() < deadline:
        if _answered_200(emulator) >= count:
            return True
        if all(m.process.poll() is not None for m in machines):
            return False
        time.sleep(POLL)
    return False


def _cell(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _notices(lines: Sequence[str], word: str) -> int:
    """Lines naming the quota ledger and ``word`` (``back``: and not ``on its own``, whose
    line may say "until it is back")."""
    return sum(
        1
        for line in lines
        if "quota ledger" in line
        and word in line
        and (word == "on its own" or "on its own" not in line)
    )


def _machine_row(
    launched: _Launched,
    code: int | None,
    arrivals: Sequence[dict[str, Any]],
    owner: dict[str, str],
    start: float | None,
    *,
    own_start: bool,
    emulator_now: float,
    scale: float,
) -> Machine:
    mine = [a for a in arrivals if owner.get(a.get("conn", "")) == launched.name]
    seen = Seen.of(mine)
    begin = seen.first if own_start else start
    wall = first = None
    if begin is not None and seen.last_answer is not None:
        wall = (seen.last_answer - begin) / scale
    if start is not None and seen.first is not None:
        first = (seen.first - start) / scale
    lines = launched.stderr_lines()
    saved = launched.saved()
    # The emulator's clock is this process's monotonic clock less its origin.
    offset = time.monotonic() - emulator_now
    go_ms = None
    if launched.started is not None and seen.first is not None:
        go_ms = (seen.first - (launched.started - offset)) * 1000
    notices = []
    for i, line in enumerate(lines):
        if "quota ledger" in line:
            at = None
            if i < len(launched.stamps) and start is not None:
                at = (launched.stamps[i] - offset - start) / scale
            notices.append(f"[{_cell(at)}] {line}")
    return Machine(
        name=launched.name,
        exit_code=code,
        slides=SMALL_DECK,
        saved=saved,
        lost=SMALL_DECK - saved,
        requests=seen.requests,
        http_429=seen.http_429,
        first_arrival_s=first,
        go_to_first_ms=go_ms,
        wall_s=wall,
        alone_notices=_notices(lines, "on its own"),
        back_notices=_notices(lines, "back"),
        notices=notices,
        stderr_tail=[] if code == 0 else lines[-5:],
    )


def _run(
    key: str,
    emulator: EmulatorProcess,
    tmp: Path,
    redis: RedisServer | None,
    log: Callable[[str], None],
    scale: float = TIME_SCALE,
) -> RedisRun:
    """One run of :data:`RUNS` (``redis``: the server for the Redis runs, running)."""
    label = dict(RUNS)[key]
    folder = tmp / key
    emulator.reset()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANO_BANANA_")}
    env |= {"GEMINI_API_KEY": f"bench-redis-{key}", "GOOGLE_GEMINI_BASE_URL": emulator.base_url}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    ledger = redis.url if redis is not None else None
    joins = key.startswith("join")
    runtime = None
    if key == "three_one_file":  # three runs of one machine: one runtime folder, one ledger
        runtime = folder / "run"
        runtime.mkdir(parents=True, mode=0o700)
    launched: list[_Launched] = []
    joined_at = killed_at = back_at = None
    third = MACHINES * SMALL_DECK // 3
    timeout = RUN_TIMEOUT * scale / TIME_SCALE
    deadline = time.monotonic() + timeout

    def answered(count: int) -> bool:
        return _wait_answered(emulator, count, deadline, launched)

    with _Owners() as owners:
        try:
            for n in range(MACHINES + joins):
                name = f"m{n + 1}"
                launched.append(_Launched(name, folder / name, env, ledger, runtime, scale=scale))
                owners.add(launched[-1])
            while not all(m.ready() for m in launched) and time.monotonic() < deadline:
                time.sleep(POLL)
            deadline = time.monotonic() + timeout  # from the go: a cold start is not timed
            for m in launched[:MACHINES]:
                m.go()
            if joins and answered(third):
                joined_at = emulator.now()
                launched[MACHINES].go()
            if key == "redis_killed" and redis is not None and answered(third):
                redis.kill()
                killed_at = emulator.now()
                log(f"  {key}: redis-server killed")
                if answered(2 * third):
                    redis.start()
                    back_at = emulator.now()
                    log(f"  {key}: redis-server back, empty")
            codes = [m.finish(deadline) for m in launched]
        except BaseException:
            for m in launched:
                m.finish(time.monotonic())
            raise
        time.sleep(3 * POLL)
    arrivals: list[dict[str, Any]] = emulator.settle()["arrivals"]
    owner = dict(owners.owner)
    seen = Seen.of(arrivals)
    start = seen.first
    now = emulator.now()
    machines = [
        _machine_row(
            m, c, arrivals, owner, start, own_start=i >= MACHINES, emulator_now=now, scale=scale
        )
        for i, (m, c) in enumerate(zip(launched, codes, strict=True))
    ]
    slides = SMALL_DECK * len(launched)
    saved = sum(m.saved for m in machines)
    wall = best = efficiency = None
    if start is not None and seen.last_answer is not None and seen.latency is not None:
        wall = (seen.last_answer - start) / scale
        settings = emulator_settings(("--rpm", str(SHARED_RPM)), time_scale=scale)
        best = best_wall(settings, slides, seen.latency, start, [], seen.latencies) / scale
        efficiency = best / wall * saved / slides if wall > 0 else None
    walls = [m.wall_s for m in machines[:MACHINES]]
    ratio = None
    if all(w is not None and w > 0 for w in walls):
        known = [w for w in walls if w is not None]
        ratio = max(known) / min(known)
    after_join = None
    fourth = machines[MACHINES].first_arrival_s if len(machines) > MACHINES else None
    if joins and fourth is not None and start is not None:
        first = start + fourth * scale
        after_join = sum(
            1
            for a in arrivals
            if a["status"] == 429 and a["answered"] is not None and a["answered"] >= first
        )
    outcome = "ok"
    if any(c is None for c in codes) or (joins and joined_at is None):
        outcome = "timeout"
    elif not arrivals:
        outcome = "no requests"  # every machine ended before sending: see their stderr
    names = [owner.get(a.get("conn", "")) for a in arrivals]
    rows = _compact(arrivals, scale)
    return RedisRun(
        key=key,
        label=label,
        redis=redis is not None,
        outcome=outcome,
        machines=machines,
        slides=slides,
        saved=saved,
        lost=slides - saved,
        requests=seen.requests,
        http_429=seen.http_429,
        other_errors=seen.other_errors,
        inside_announced_delay=_inside(arrivals),
        wall_s=wall,
        best_wall_s=best,
        efficiency=efficiency,
        ratio=ratio,
        joined_at_s=_since(joined_at, start, scale),
        http_429_after_join=after_join,
        redis_killed_at_s=_since(killed_at, start, scale),
        redis_back_at_s=_since(back_at, start, scale),
        unattributed=sum(1 for name in names if name is None),
        arrivals=[[*row, name] for row, name in zip(rows, names, strict=True)],
    )


def _since(moment: float | None, start: float | None, scale: float) -> float | None:
    """``moment`` (the emulator's clock, real seconds) in emulated seconds since ``start``."""
    return None if moment is None or start is None else (moment - start) / scale


def _compact(arrivals: Sequence[dict[str, Any]], scale: float) -> list[list[Any]]:
    """:func:`~.shapes.compact_arrivals` at ``scale``."""
    if scale == TIME_SCALE:
        return compact_arrivals(arrivals)

    def emulated(value: float | None) -> float | None:
        return None if value is None else round(value / scale, 3)

    return [
        [emulated(a["t"]), emulated(a["answered"]), a["status"], emulated(a["retry_delay"])]
        for a in arrivals
    ]


def _failed(key: str, redis: bool, why: str) -> RedisRun:
    return RedisRun(key, dict(RUNS)[key], redis, f"error: {why}", [], 0, 0, 0)


def run_redis_quota_scenario(
    keys: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
    *,
    scale: float = TIME_SCALE,
) -> RedisQuotaResult:
    """Every run of :data:`RUNS` (or those named by ``keys``), against one emulator.

    ``scale``: the emulator's and the machines' ``--time-scale`` (the run timeout grows
    with it); :data:`~.quota.TIME_SCALE` in ``make bench``.
    """
    began = time.perf_counter()
    chosen = [k for k, _ in RUNS if keys is None or k in keys]
    found: list[RedisRun] = []
    with (
        tempfile.TemporaryDirectory(prefix="nanobanana-bench-redis-") as tmp,
        EmulatorProcess(time_scale=scale, seed=SEED, extra=("--rpm", str(SHARED_RPM))) as emu,
    ):
        redis = RedisServer(Path(tmp) / "redis")
        try:
            for key in chosen:
                uses_redis = "redis" in key
                if uses_redis and not REDIS_SERVER:
                    found.append(_failed(key, True, "no redis-server or valkey-server on PATH"))
                    continue
                if uses_redis:
                    redis.stop()
                    redis.start()  # empty: every run starts from a fresh server
                run = _run(key, emu, Path(tmp), redis if uses_redis else None, log, scale)
                found.append(run)
                eff = "-" if run.efficiency is None else f"{run.efficiency:.3f}"
                log(
                    f"  {key}: {run.outcome}, {run.saved}/{run.slides} saved, "
                    f"{run.http_429} 429s, together {eff}"
                )
        finally:
            redis.stop()
    return RedisQuotaResult(found, time.perf_counter() - began, scale)


def main(argv: Sequence[str] | None = None) -> int:
    """Run scenario 9 alone (or the runs named): its tables, targets and ``latest.json`` key."""
    import argparse

    from .report import RESULTS_DIR, log, redis_quota_tables, redis_quota_targets, update_json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_quota")
    parser.add_argument("runs", nargs="*", metavar="RUN", help=f"of {', '.join(dict(RUNS))}")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=TIME_SCALE,
        help=f"the emulator's and the machines' (default {TIME_SCALE:g}; a larger one "
        "shrinks what the machines' own start and CPU weigh against the quota's window)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.runs) - set(dict(RUNS)))
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}")
    result = run_redis_quota_scenario(args.runs or None, log, scale=args.time_scale)
    found = redis_quota_targets(result)
    path = RESULTS_DIR / "latest.json"
    update_json(path, "redis_quota", result.to_json(), found)
    print(redis_quota_tables(result, found))
    print(f"\n{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
