"""The emulator in its own process, so it never shares a GIL with the client being measured.

``nanobanana emulate --port 0`` runs as a subprocess; its first stdout line names the base
URL. It prints one line per answered request on stderr
(``POST /v1beta/models/M:generateContent 200 M 1153ms``); a reader thread keeps the status
and duration of every ``generateContent`` line, which is how a benchmark learns the latency
the emulator really applied (the ceiling of a run is computed from it, not from the
catalogue's nominal range). Counts, 429s and arrival times come from
``GET /_emulator/stats``.

Between runs, :meth:`EmulatorProcess.reset` clears stats and quotas and re-seeds the
emulator's random generator, so every run draws the same latency for its k-th admitted
request: the runs of a scenario are compared on identical luck. The emulator's reset also
forgets its fault script, so a script given here is sent again after every reset.

The emulator stamps arrivals in seconds since its own start (where fixed quota windows
count from too; a reset does not move that origin). On entry, one request to an unknown
model (a 404, answered at once, forgotten by the reset that follows) places that origin
on this process's monotonic clock, which on Linux is the emulator's clock too:
:meth:`EmulatorProcess.now` is then the emulator's time, to a millisecond or two.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO, Any, Self

import httpx2
import orjson

__all__ = ["EmulatorProcess", "cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK")
_LINE = re.compile(r"^POST \S+:generateContent (\d{3}) \S+ (\d+)ms")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far, from ``/proc`` (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class EmulatorProcess:
    """``nanobanana emulate`` on a free loopback port, for the length of a ``with`` block.

    Args:
        rpm: the per-minute quota per key and model (``None``: none).
        time_scale: the emulator's ``--time-scale``; the client must be told the same.
        latency: ``False`` answers at once (``--no-latency``).
        seed: seeds the emulator's latency jitter and ids.
        extra: more ``nanobanana emulate`` arguments, as given on its command line
            (e.g. ``["--quota", "fixed:20/60s+30s"]``).
        script: a fault script (request ordinal to fault kind), given as ``--script``
            and sent again after every :meth:`reset`.
    """

    __slots__ = (
        "_answers",
        "_args",
        "_lock",
        "_origin",
        "_process",
        "_reader",
        "_script",
        "base_url",
    )

    def __init__(
        self,
        *,
        rpm: int | None = None,
        time_scale: float = 1.0,
        latency: bool = True,
        seed: int = 0,
        extra: Sequence[str] = (),
        script: Mapping[str, str] | None = None,
    ) -> None:
        args = ["--host", "127.0.0.1", "--port", "0", "--time-scale", repr(time_scale)]
        # Identical requests get identical, cached images (no "#k" mark): a benchmark warms
        # the emulator once and re-sends the same deck, and must not pay its renders again.
        args += ["--seed", str(seed), "--same-repeats"]
        if rpm is not None:
            args += ["--rpm", str(rpm)]
        if not latency:
            args.append("--no-latency")
        args += list(extra)
        self._script = dict(script) if script else None
        if self._script:
            args += ["--script", orjson.dumps(self._script).decode()]
        self._args = args
        self._lock = threading.Lock()
        self._answers: list[tuple[int, float]] = []
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._origin = 0.0
        self.base_url = ""

    def __repr__(self) -> str:
        pid = self._process.pid if self._process else None
        return f"<EmulatorProcess {self.base_url or 'stopped'} pid={pid}>"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Self:
        command = [sys.executable, "-m", "nanobanana_async", "emulate", *self._args]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self._process = process
        assert process.stdout is not None
        assert process.stderr is not None
        line = process.stdout.readline()
        match = re.search(r"http://\S+", line)
        if match is None:
            self._stop()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.base_url = match.group(0)
        self._reader = threading.Thread(
            target=self._read, args=(process.stderr,), name="emulator-log", daemon=True
        )
        self._reader.start()
        try:
            self._locate_origin()
            self.reset()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            match = _LINE.match(line)
            if match is not None:
                with self._lock:
                    self._answers.append((int(match.group(1)), int(match.group(2)) / 1000))

    def _request(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        response = httpx2.request(method, self.base_url + path, content=body, timeout=30)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def _locate_origin(self) -> None:
        """Place the emulator's time origin on our monotonic clock (see the module doc)."""
        path = "/v1beta/models/bench-clock:generateContent"
        sent = time.monotonic()
        httpx2.post(
            self.base_url + path,
            headers={"x-goog-api-key": "bench-clock"},
            content=b"{}",
            timeout=30,
        )
        back = time.monotonic()
        stamped = self.settle()["arrivals"][-1]["t"]
        self._origin = (sent + back) / 2 - stamped

    def now(self) -> float:
        """The emulator's clock: seconds (scaled, real) since it started."""
        return time.monotonic() - self._origin

    def reset(self) -> None:
        """Forget stats, quotas and the request log; re-seed the emulator; re-send the script."""
        self.settle()
        self._request("POST", "/_emulator/reset")
        if self._script:
            self._request("POST", "/_emulator/script", orjson.dumps(self._script))
        with self._lock:
            self._answers.clear()

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats`` as it stands."""
        return self._request("GET", "/_emulator/stats")

    def settle(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until nothing is in flight and every request is in the log; the stats then."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            with self._lock:
                logged = len(self._answers)
            if stats["in_flight"] == 0 and logged >= stats["requests"]:
                return stats
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not settle: {stats['in_flight']} in flight")
            time.sleep(0.02)

    def latencies(self, status: int = 200) -> list[float]:
        """Seconds (real time) from arrival to the end of each answer with ``status``."""
        with self._lock:
            return [seconds for code, seconds in self._answers if code == status]
