"""A hostile Batch API, served by the test on loopback, against the command as a subprocess.

Issue 23 (items 4, 5, 7): a batch name with a newline crashed the run, and, kept in the
manifest, every rerun after it; a name echoing the key was stored as is; a results download
could drip forever and grow with the deck. Each test runs ``nanobanana run`` against a
:class:`~hostile_service.HostileService` that does one of these things and checks that the
run refuses it in one line, keeps nothing it should not, and leaves the next run able to go.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from engine_testing import (
    PLAIN_KEY,
    deck_config,
    environment,
    files_args,
    read_json,
    run_cli,
    write_json,
)
from hostile_service import HostileService, Hostility, serving

from nanobanana_async.config.loading import load_config
from nanobanana_async.engine.manifest import MANIFEST_NAME, generation_digest
from nanobanana_async.engine.plan import plan_jobs

KEY = PLAIN_KEY  # lowercase letters, digits and dashes: of a batch id's shape, as an echo


@pytest.fixture
def hostile() -> Iterator[Any]:
    """``hostile(Hostility(...))``: serve one; its state and URL."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def start(hostility: Hostility) -> tuple[HostileService, str]:
            return stack.enter_context(serving(hostility))

        yield start


def _run(
    tmp_path: Path, url: str, *extra: str, count: int = 2, scale: str = "0.001", **config: Any
) -> Any:
    raw = deck_config(tmp_path / "deck", count, **config)
    path = write_json(tmp_path / "slides.json", raw)
    return run_cli(
        "run", "--config", str(path), *files_args(tmp_path), "--time-scale", scale, *extra,
        env=environment(url, key=KEY),
    )  # fmt: skip


def _manifest(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = read_json(tmp_path / "deck" / MANIFEST_NAME)
    return data


def _creates(service: HostileService) -> int:
    return sum(call.endswith(":batchGenerateContent") for call in service.calls)


def _told(blob: bytes, key: str) -> list[str]:
    """The spellings of ``key`` found in ``blob``: whole, halves, a prefix, encoded, recased."""
    half = len(key) // 2
    spellings = [key, key[:half], key[half:], key[:10], key.upper(), quote(key, safe="")]
    spellings.append("".join(f"%{ord(c):02X}" for c in key))
    return [s for s in spellings if s.encode().lower() in blob.lower()]


def _everything(tmp_path: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file())


@pytest.mark.parametrize("name", ["batches/abc\ndef", "batches/abc\x1b]0;owned\x07", "batches/.."])
def test_a_batch_name_of_no_batchs_shape_is_refused_in_one_line_run_after_run(
    tmp_path: Path, hostile: Any, name: str
) -> None:
    service, url = hostile(Hostility(name=name))
    for run in (1, 2):  # the rerun meets the same service: refused again, never a traceback
        done = _run(tmp_path, url, "--batch-api")
        assert done.returncode == 1, done.stderr
        assert done.stderr == b"", done.stderr  # no traceback, nothing but the one line
        lines = done.stdout.decode().splitlines()
        assert len(lines) == 1, lines
        assert "batch name 'batches/" in lines[0]
        assert "refused; a rerun sends its slides anew" in lines[0]
        assert _creates(service) == run  # refused at once: no second create to "find" it
        assert "batch" not in _manifest(tmp_path)  # never kept
        progress = read_json(tmp_path / "progress.json")
        assert "batch" not in progress or progress["batch"]["name"] == ""


def _stale_record(tmp_path: Path, name: str) -> None:
    """A manifest as an older version left it: a batch record for these very slides."""
    config = load_config(read_json(tmp_path / "slides.json"), env={"GEMINI_API_KEY": KEY})
    slides = {str(j.slide): generation_digest(config.model, j.body) for j in plan_jobs(config)}
    record = {
        "display_name": "nanobanana-deck-0123456789ab",
        "name": name,
        "model": config.model,
        "submitted_at": "2026-12-01T10:00:00Z",
        "slides": slides,
    }
    manifest = {"format": 1, "slides": {}, "batch": record}
    (tmp_path / "deck").mkdir(exist_ok=True)
    (tmp_path / "deck" / MANIFEST_NAME).write_bytes(orjson.dumps(manifest))


@pytest.mark.parametrize("mode", ["--batch-api", "--quiet"])
@pytest.mark.parametrize("name", ["batches/abc\ndef", f"batches/{KEY}"])
def test_a_manifest_already_holding_a_bad_name_is_dropped_in_one_line(
    tmp_path: Path, hostile: Any, name: str, mode: str
) -> None:
    service, url = hostile(Hostility(name="batches/good0001"))
    write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 2))
    _stale_record(tmp_path, name)
    done = _run(tmp_path, url, mode)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    notices = done.stderr.decode().splitlines()
    assert len(notices) == 1, notices
    assert notices[0].startswith("nanobanana: notice: ")
    assert "record dropped" in notices[0]
    assert read_json(tmp_path / "results.json")["completed"] == 2
    assert "batch" not in _manifest(tmp_path)  # cleared on disk: the next run is clean
    assert not any(call.startswith("GET /v1beta/batches/abc") for call in service.calls)
    assert _told(done.stdout + done.stderr + _everything(tmp_path), KEY) == []
    again = _run(tmp_path, url, mode)
    assert again.returncode == 0, again.stderr
    assert again.stderr == b""


def test_a_batch_name_echoing_the_key_is_never_kept_nor_shown(tmp_path: Path, hostile: Any) -> None:
    service, url = hostile(Hostility(name=f"batches/{KEY}"))
    done = _run(tmp_path, url, "--batch-api")
    assert done.returncode == 1, done.stderr
    assert "batch name 'batches/***'" in done.stdout.decode()
    assert _told(done.stdout + done.stderr + _everything(tmp_path), KEY) == []
    assert not any(KEY in call for call in service.calls)  # nor used in a URL


def test_echoes_of_the_key_encoded_recased_or_cut_short_are_scrubbed_everywhere(
    tmp_path: Path, hostile: Any
) -> None:
    echoes = {
        "slide-1": f"bad request from key%3D{quote(KEY, safe='')}",
        "slide-2": f"key {KEY.upper()} is not valid",
        "slide-3": f"key {KEY[:12]}... was reported as leaked",
    }
    errors = {k: {"code": 3, "message": m, "status": "INVALID_ARGUMENT"} for k, m in echoes.items()}
    _, url = hostile(Hostility(errors=errors))
    done = _run(tmp_path, url, "--batch-api", count=4)
    assert done.returncode == 0, done.stderr
    results = read_json(tmp_path / "results.json")
    assert [o["slide"] for o in results["outputs"]] == [4]
    assert all("***" in e["error"] for e in results["errors"]), results["errors"]
    assert _told(done.stdout + done.stderr + _everything(tmp_path), KEY) == []


def test_a_results_file_past_what_its_images_can_weigh_is_not_read_further(
    tmp_path: Path, hostile: Any
) -> None:
    # Two 1K slides: 32 MiB at most, whatever the deck's length (it was 64 MiB a slide, plus one).
    flood = Hostility(results_file="files/batch-flood1", results="flood", flood_bytes=2**30)
    service, url = hostile(flood)
    done = _run(tmp_path, url, "--batch-api", scale="0.1")  # a deadline of 9 s: not the bound
    assert done.returncode == 1, done.stderr
    errors = read_json(tmp_path / "results.json")["errors"]
    assert {e["error"] for e in errors} == {
        "the answer is over the 32 MiB allowed as sent (what its images can weigh); "
        "not read further"
    }
    assert service.hung_up.is_set()  # the client stopped reading: the cap, not the end
    assert _manifest(tmp_path)["batch"]["name"] == "batches/hostile0001"  # kept: collectable


def test_a_results_file_dripping_in_ends_at_its_deadline(tmp_path: Path, hostile: Any) -> None:
    # A byte every 10 ms for 5 s at most; the deadline, a minute plus 16 MiB at 1 MiB/s,
    # shrinks with --time-scale 0.001 to 76 ms: the run ends on it, not on the drip's end.
    drip = Hostility(results_file="files/batch-drip1", results="drip")
    service, url = hostile(drip)
    done = _run(tmp_path, url, "--batch-api", count=1)
    assert done.returncode == 1, done.stderr
    [error] = read_json(tmp_path / "results.json")["errors"]
    assert error["error"].startswith("the download was not whole within its 0.076 s deadline")
    assert service.hung_up.is_set()
    assert _manifest(tmp_path)["batch"]["name"] == "batches/hostile0001"  # the next run retries
