"""The quota ledger: runs of one machine share one quota's state through a locked file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from nanobanana_async.engine.pacer import Pacer
from nanobanana_async.ledger.file import QuotaLedger, default_ledger_path, entry_name

KEY = "AIzaSyLedgerTest-0123456789abcdefghijklm"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _ledger(path: Path, time: FakeTime, model: str = "gemini-3-pro-image") -> QuotaLedger:
    return QuotaLedger(path, entry_name("http://127.0.0.1:1", KEY, model), clock=time.clock)


def _pacer(store: QuotaLedger, time: FakeTime) -> Pacer:
    return Pacer(rpm=None, margin=0.0, store=store, clock=time.clock, sleep=time.sleep)


async def test_two_runs_share_sends_pause_and_model(tmp_path: Path) -> None:
    time = FakeTime()
    path = tmp_path / "ledger.json"
    first, second = _pacer(_ledger(path, time), time), _pacer(_ledger(path, time), time)
    sends = [await first.acquire() for _ in range(3)] + [await second.acquire() for _ in range(3)]
    time.now += 0.1
    first.on_rate_limited(59.9, sent_at=sends[-1], limit=5)
    second.refresh()  # properties read what the last decision saw
    model = second.model
    assert model is not None
    assert model[0] == 5  # the other run's sends were in the same window
    assert second.paused_for() == pytest.approx(59.9)
    assert await second.acquire() >= 1060.0


async def test_other_models_and_keys_are_other_quotas(tmp_path: Path) -> None:
    time = FakeTime()
    path = tmp_path / "ledger.json"
    pro = _pacer(_ledger(path, time), time)
    flash = _pacer(_ledger(path, time, model="gemini-2.5-flash-image"), time)
    sent = await pro.acquire()
    pro.on_rate_limited(30.0, sent_at=sent)
    flash.refresh()
    assert flash.paused_for() == 0.0


async def test_the_file_is_private_and_never_holds_the_key(tmp_path: Path) -> None:
    time = FakeTime()
    path = tmp_path / "ledger.json"
    pacer = _pacer(_ledger(path, time), time)
    sent = await pacer.acquire()
    pacer.on_rate_limited(5.0, sent_at=sent)
    data = path.read_bytes()
    assert KEY.encode() not in data
    assert KEY[-12:].encode() not in data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_corrupt_or_foreign_file_is_started_afresh(tmp_path: Path) -> None:
    time = FakeTime()
    path = tmp_path / "ledger.json"
    path.write_bytes(b'{"version": 1, "entries": {')
    pacer = _pacer(_ledger(path, time), time)
    pacer.refresh()
    assert pacer.paused_for() == 0.0
    entry = entry_name("http://127.0.0.1:1", KEY, "gemini-3-pro-image")
    # A pause recorded under another boot's clock means nothing in this one.
    stale = {"seen": 1000.0, "pause_until": 5000.0}
    path.write_bytes(
        orjson.dumps({"version": 1, "boot": "another-boot", "entries": {entry: stale}})
    )
    pacer.refresh()
    assert pacer.paused_for() == 0.0


async def test_entries_untouched_for_a_day_are_dropped(tmp_path: Path) -> None:
    time = FakeTime()
    path = tmp_path / "ledger.json"
    old = _pacer(_ledger(path, time, model="old-model"), time)
    await old.acquire()
    time.now += 90_000.0
    _pacer(_ledger(path, time), time).refresh()
    entries = orjson.loads(path.read_bytes())["entries"]
    assert len(entries) == 1


def test_an_unusable_ledger_leaves_the_run_pacing_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    time = FakeTime()
    path = tmp_path / "ledger.json"
    path.mkdir()  # a directory where the file should be
    pacer = _pacer(_ledger(path, time), time)
    pacer.on_rate_limited(3.0)
    assert pacer.paused_for() == pytest.approx(3.0)
    err = capsys.readouterr().err
    assert err.count("quota ledger") == 1
    assert "pacing this run on its own" in err


def test_the_default_place_is_private(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    assert default_ledger_path({"XDG_RUNTIME_DIR": str(runtime)}) == (
        runtime / "nano-banana" / "quota-ledger.json"
    )
    assert stat.S_IMODE((runtime / "nano-banana").stat().st_mode) == 0o700
    # No runtime dir: a folder of our own in the temp dir.
    temp = tmp_path / "temp"
    temp.mkdir()
    path = default_ledger_path({"TMPDIR": str(temp)})
    assert path == temp / f"nano-banana-{os.getuid()}" / "quota-ledger.json"


def test_a_folder_others_can_write_is_not_used(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    planted = temp / f"nano-banana-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    assert default_ledger_path({"TMPDIR": str(temp)}) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a folder to another user")
def test_a_folder_of_another_user_is_not_used(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    planted = temp / f"nano-banana-{os.getuid()}"
    planted.mkdir(mode=0o700)
    os.chown(planted, 65534, 65534)  # nobody's, private to nobody
    assert default_ledger_path({"TMPDIR": str(temp)}) is None


async def test_a_decision_that_changes_nothing_writes_nothing(tmp_path: Path) -> None:
    time = FakeTime()
    path = tmp_path / "ledger.json"
    pacer = _pacer(_ledger(path, time), time)
    sent = await pacer.acquire()
    pacer.on_rate_limited(30.0, sent_at=sent)
    written = path.read_bytes()
    time.now += 1.0
    for _ in range(3):  # what the gate and the display read after every answer
        pacer.refresh()
        assert pacer.model is None
        assert pacer.paused_for() > 0
        assert pacer.rate_per_second is None
    assert path.read_bytes() == written
