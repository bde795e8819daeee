"""Suite-wide settings.

The suite runs in parallel (``make test``: pytest-xdist, a worker per core, at most 4):
every worker imports this file, so each has its own folders below, and nothing a test
writes is shared with another worker. After the run, a few lines say where the time went,
per room (``tests/`` subfolder), besides ``--durations``' slowest tests.

Hypothesis runs derandomized (the same examples every run, so a failure is reproducible
and CI is not flaky), without a deadline (a loaded CI machine must not fail a property for
being slow) and without an example database (nothing written into the checkout). Example
counts are set per test, small enough to keep the whole suite fast.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from redis_server import RedisServer, running_redis

settings.register_profile("nanobanana", deadline=None, derandomize=True, database=None)
settings.load_profile("nanobanana")

# The default run files ($TMPDIR/nano-banana-progress.json, its lock and log, the results)
# and the quota ledger ($XDG_RUNTIME_DIR, else $TMPDIR) are the user's: a real run may be
# using them right now. Before anything of ours is imported (the defaults are computed at
# import), point both at folders of the suite's own; every CLI run a test starts inherits
# them, so no test reads or writes the user's real files. The MCP server's runs folder
# ($XDG_STATE_HOME) likewise.
# An xdist worker names itself (gw0, gw1, ...) in its folder: one each, never shared.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_ROOT = tempfile.mkdtemp(prefix=f"nanobanana-tests-{_WORKER}{'-' if _WORKER else ''}")
_TMP = os.path.join(_ROOT, "tmp")
_RUNTIME = os.path.join(_ROOT, "runtime")
os.mkdir(_TMP)
os.mkdir(_RUNTIME, 0o700)
os.environ["TMPDIR"] = _TMP
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME
os.environ["XDG_STATE_HOME"] = os.path.join(_ROOT, "state")
# A user's shared quota ledger (a team's Redis) is theirs too: no test paces through it.
os.environ.pop("NANO_BANANA_LEDGER", None)
os.environ.pop("REDISCLI_AUTH", None)
tempfile.tempdir = None  # forget the temp dir already looked up
atexit.register(shutil.rmtree, _ROOT, True)


# Seconds spent and tests run per room, summed over the workers' reports.
_ROOMS: dict[str, tuple[float, int]] = {}


def _room(nodeid: str) -> str:
    """``tests/unit/engine/test_pacer.py::x`` -> ``unit/engine``; ``tests/e2e/...`` -> ``e2e``."""
    folders = nodeid.split("::", 1)[0].split("/")[1:-1]
    return "/".join(folders) or "tests"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    seconds, tests = _ROOMS.get(_room(report.nodeid), (0.0, 0))
    _ROOMS[_room(report.nodeid)] = (seconds + report.duration, tests + (report.when == "call"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if len(_ROOMS) < 2:  # one file or one folder: --durations says it all
        return
    terminalreporter.write_sep("-", "time per room, summed over the workers")
    for room, (seconds, tests) in sorted(_ROOMS.items(), key=lambda item: -item[1][0]):
        terminalreporter.write_line(f"{seconds:7.1f} s  {tests:4d} tests  {room}")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared, empty base directory for config tests that only read the file system.

    Every config test passes ``env=`` and ``base_dir=`` explicitly: nothing reads or changes
    the real environment or working directory.
    """
    return tmp_path_factory.mktemp("base")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server for the worker's session (tests name their own entries); a test
    that stops or breaks a server starts its own (:func:`redis_server.running_redis`)."""
    with running_redis() as server:
        yield server
