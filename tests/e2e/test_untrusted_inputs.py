"""What a config can make leave the machine, and who can rewrite the config: through the CLI.

A reference image that is not an image (a key behind an image's name), plain http to
another machine, and a config file another user owns or anyone can write are refused with
exit 2, one line naming what to fix, and nothing sent; an endpoint other than Google's is
said on stderr and kept in the results' notices. The skill writes its configs to a place
of the user's own, never to a fixed name in the shared ``/tmp``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from engine_testing import SHAPED_KEY, deck_config, environment, files_args, read_json, run_cli
from engine_testing import write_json as write
from other_user import OTHER
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck

REPO = Path(__file__).resolve().parents[2]
SKILL = REPO / "skill" / "nano-banana"


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False))
    with serve_in_thread(emulator) as url:
        yield emulator, url


def refused(done: subprocess.CompletedProcess[bytes], field: str) -> str:
    """The one line of a refusal: exit 2, nothing on stdout."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"nanobanana: error: {field}: "), lines[0]
    assert SHAPED_KEY not in lines[0]
    return lines[0]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_key_behind_an_images_name_is_refused_and_nothing_sent(
    tmp_path: Path, served: tuple[Emulator, str]
) -> None:
    emulator, url = served
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    (tmp_path / "ref.png").symlink_to(secret)
    raw = deck_config(tmp_path / "deck", 2)
    raw["slides"][1]["reference_image"] = str(tmp_path / "ref.png")
    config = write(tmp_path / "slides.json", raw)
    done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=environment(url))
    line = refused(done, "slide 2 (slides[1]).reference_image")
    # Named as the config names it, never by where the link points.
    ref = tmp_path / "ref.png"
    assert line.endswith(f"{ref} does not decode as an image; give a png, jpg or webp file")
    assert "id_rsa" not in line
    assert emulator.stats()["requests"] == 0
    assert not (tmp_path / "deck").exists()


def test_plain_http_to_another_machine_is_refused_and_names_the_opt_in(tmp_path: Path) -> None:
    raw = deck_config(tmp_path / "deck", 1, base_url="http://gemini-proxy.example:8080")
    config = write(tmp_path / "slides.json", raw)
    done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=environment(""))
    line = refused(done, "base_url")
    assert "plain http to gemini-proxy.example would send the key unencrypted" in line
    assert line.endswith('use https, or set "allow_insecure_http": true to accept that')
    assert not (tmp_path / "results.json").exists()
    # From the environment, the variable is named.
    config = write(tmp_path / "slides.json", deck_config(tmp_path / "deck", 1))
    env = environment("http://gemini-proxy.example")
    done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=env)
    refused(done, "GOOGLE_GEMINI_BASE_URL")


def test_another_endpoint_is_said_on_stderr_and_in_the_results(tmp_path: Path) -> None:
    # A dry run reads the config as the real run would, and says where that one would go.
    raw = deck_config(tmp_path / "deck", 1, base_url="https://gemini-proxy.example/v1")
    config = write(tmp_path / "slides.json", raw)
    env = environment("")
    del env["GOOGLE_GEMINI_BASE_URL"]
    done = run_cli(
        "run", "--config", str(config), "--emulator", "--emulator-time-scale", "0.001",
        *files_args(tmp_path), env=env,
    )  # fmt: skip
    notice = "base_url: requests and the key go to gemini-proxy.example (not Google's endpoint)"
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().splitlines() == [f"nanobanana: notice: {notice}"]
    assert read_json(tmp_path / "results.json")["notices"] == [notice]


async def test_the_engine_keeps_the_endpoint_notice_in_its_results(tmp_path: Path) -> None:
    raw = deck_config(tmp_path / "deck", 1, base_url="https://gemini-proxy.example")
    result = await generate_deck(
        raw,
        settings=EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0),
        transport=httpx2.ASGITransport(app=Emulator(EmulatorSettings(latency=False))),
        env={"GEMINI_API_KEY": SHAPED_KEY},
    )
    assert result.completed == 1
    assert result.notices == (
        "base_url: requests and the key go to gemini-proxy.example (not Google's endpoint)",
    )


def test_a_dry_run_is_neither_refused_nor_noisy(tmp_path: Path) -> None:
    (tmp_path / "logo.jpg").write_bytes(png())  # a png by its bytes: sent as one
    raw = deck_config(tmp_path / "deck", 2)
    raw["slides"][0]["reference_image"] = str(tmp_path / "logo.jpg")
    config = write(tmp_path / "slides.json", raw)
    env = environment("")
    del env["GOOGLE_GEMINI_BASE_URL"], env["GEMINI_API_KEY"]
    done = run_cli(
        "run", "--config", str(config), "--emulator", "--emulator-time-scale", "0.001",
        *files_args(tmp_path), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert read_json(tmp_path / "results.json")["notices"] == []


@pytest.mark.parametrize("mode", [0o666, 0o602], ids=oct)
def test_a_config_anyone_can_rewrite_is_refused_and_nothing_sent(
    tmp_path: Path, served: tuple[Emulator, str], mode: int
) -> None:
    emulator, url = served
    config = write(tmp_path / "nano-banana-config.json", deck_config(tmp_path / "deck", 1))
    config.chmod(mode)
    done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=environment(url))
    line = refused(done, str(config))
    assert line.endswith(f"chmod o-w {config}")
    assert emulator.stats()["requests"] == 0
    config.chmod(0o600)
    done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=environment(url))
    assert done.returncode == 0, done.stderr
    assert emulator.stats()["requests"] == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_a_config_planted_by_another_user_is_refused_and_nothing_sent(
    tmp_path: Path, served: tuple[Emulator, str]
) -> None:
    # The trap of a fixed name in /tmp: another user creates it first, 0644 so it looks
    # private; the victim's agent writes its deck into it; the owner rewrites it at will.
    emulator, url = served
    planted = tmp_path / "nano-banana-config.json"
    planted.write_bytes(b"{}")
    planted.chmod(0o644)
    os.chown(planted, OTHER, OTHER)
    write(planted, deck_config(tmp_path / "deck", 1))
    done = run_cli("run", "--config", str(planted), *files_args(tmp_path), env=environment(url))
    line = refused(done, str(planted))
    assert line.endswith(f"is owned by another user (uid {OTHER}), who could rewrite it; "
                         "copy it to a file of your own")  # fmt: skip
    assert emulator.stats()["requests"] == 0


def test_the_skill_writes_its_configs_to_a_place_of_the_users_own() -> None:
    for doc in (SKILL / "SKILL.md", *sorted((SKILL / "references").glob("*.md"))):
        text = doc.read_text()
        assert not re.search(r"/tmp/[\w.-]*config", text), doc
        assert "~/.cache/nano-banana/" in text or doc.name == "mcp.md", doc
    assert "allow_insecure_http" in (SKILL / "references" / "config.md").read_text()


def test_a_port_of_this_machine_another_user_listens_on_gets_nothing(tmp_path: Path) -> None:
    # Loopback is not "mine": another user's server on 127.0.0.1 would read the key.
    from other_user import NOBODY, listening_as_nobody

    with listening_as_nobody() as listener:
        raw = deck_config(tmp_path / "deck", 2, base_url=listener.url)
        config = write(tmp_path / "slides.json", raw)
        done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=environment(""))
        plan = run_cli("plan", str(config), env=environment(""))
    assert (done.returncode, done.stdout) == (2, b""), done.stderr
    notice, line = done.stderr.decode().splitlines()  # where the key would go, then why not
    assert notice == (
        f"nanobanana: notice: base_url: requests and the key go to port {listener.port} on this "
        "machine, to a server of this user's only (not Google's endpoint)"
    )
    assert line == (
        f"nanobanana: error: base_url: port {listener.port} on this machine is another user's "
        f"(uid {NOBODY}), who would read the key; nothing is sent there: use a server of your "
        "own, or another port"
    )
    assert listener.received == []
    assert not (tmp_path / "deck").exists()
    # A plan sends nothing and says where a run would send the key.
    assert plan.returncode == 0, plan.stderr
    assert (
        f"notice: base_url: requests and the key go to port {listener.port} on this machine"
    ).encode() in plan.stderr
