"""``run --emulator``, the dry run: placeholders in a folder of its own, never over real images."""

from __future__ import annotations

import io
from pathlib import Path

from engine_testing import (
    deck_config,
    decodes,
    environment,
    files_args,
    read_json,
    run_cli,
)
from engine_testing import write_json as write
from PIL import Image


def _real_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (10, 120, 200)).save(buffer, "WEBP", lossless=True)
    return buffer.getvalue()


def dry_run(config: Path, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    # No key and no base URL: a dry run needs neither.
    env = {k: v for k, v in environment("http://unused").items() if not k.startswith("GOOGLE")}
    env.pop("GEMINI_API_KEY")
    done = run_cli(
        "run", "--config", str(config), "--emulator", "--emulator-time-scale", "0.001",
        *files_args(tmp_path), *extra, env=env,
    )  # fmt: skip
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_a_dry_run_never_replaces_a_real_image(tmp_path: Path) -> None:
    deck = tmp_path / "deck"
    deck.mkdir()
    real = _real_image()
    (deck / "slide-01.webp").write_bytes(real)
    config = write(tmp_path / "slides.json", deck_config(deck, 3))

    code, out, err = dry_run(config, tmp_path)

    assert code == 0, err
    assert (deck / "slide-01.webp").read_bytes() == real
    assert sorted(p.name for p in deck.iterdir()) == ["slide-01.webp"]
    placeholders = tmp_path / "deck.dry-run"
    assert sorted(p.name for p in placeholders.glob("slide-*")) == [
        "slide-01.webp",
        "slide-02.webp",
        "slide-03.webp",
    ]
    assert all(decodes(p) for p in placeholders.glob("slide-*"))
    results = read_json(tmp_path / "results.json")
    assert results["dry_run"] is True
    assert results["deck_cost_usd"] is None  # placeholders: nothing was paid for
    assert results["output_dir"] == str(placeholders)
    assert str(placeholders) in out
    assert "dry run (placeholder images), the real run about $" in out
    assert "for the deck" not in out


def test_a_dry_run_resumes_its_own_folder_only(tmp_path: Path) -> None:
    deck = tmp_path / "deck"
    config = write(tmp_path / "slides.json", deck_config(deck, 2))
    assert dry_run(config, tmp_path)[0] == 0
    first = (tmp_path / "deck.dry-run" / "slide-01.webp").read_bytes()

    code, _, err = dry_run(config, tmp_path, "--resume")

    assert code == 0, err
    results = read_json(tmp_path / "results.json")
    assert [o["reused"] for o in results["outputs"]] == [True, True]
    assert (tmp_path / "deck.dry-run" / "slide-01.webp").read_bytes() == first
    assert not deck.exists()


def test_a_real_run_says_it_is_not_a_dry_run(tmp_path: Path) -> None:
    from nanobanana_async.emulator import EmulatorSettings, serve_in_thread

    deck = tmp_path / "deck"
    config = write(tmp_path / "slides.json", deck_config(deck, 1))
    with serve_in_thread(EmulatorSettings(latency=False)) as url:
        done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=environment(url))
    assert done.returncode == 0, done.stderr
    assert read_json(tmp_path / "results.json")["dry_run"] is False
    assert (deck / "slide-01.webp").exists()


def test_the_config_may_be_given_without_the_option(tmp_path: Path) -> None:
    config = write(tmp_path / "slides.json", deck_config(tmp_path / "deck", 1))
    env = {k: v for k, v in environment("http://unused").items() if not k.startswith("GOOGLE")}
    done = run_cli(
        "run", str(config), "--emulator", "--emulator-time-scale", "0.001",
        *files_args(tmp_path), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert read_json(tmp_path / "results.json")["completed"] == 1
    both = run_cli("run", str(config), "--config", str(tmp_path / "other.json"), env=env)
    assert both.returncode == 2
    assert b"two configs given" in both.stderr


def test_a_first_run_over_a_folder_of_images_keeps_them_as_versions(tmp_path: Path) -> None:
    from nanobanana_async.emulator import EmulatorSettings, serve_in_thread

    deck = tmp_path / "deck"
    deck.mkdir()
    (deck / "slide-02.webp").write_bytes(_real_image())
    config = write(tmp_path / "slides.json", deck_config(deck, 3))
    with serve_in_thread(EmulatorSettings(latency=False)) as url:
        fresh = run_cli("run", str(config), *files_args(tmp_path), env=environment(url))
        notices = read_json(tmp_path / "results.json")["notices"]
        resumed = run_cli(
            "run", str(config), "--resume", *files_args(tmp_path), env=environment(url)
        )
    assert fresh.returncode == 0, fresh.stderr
    assert b"notice: replacing 1 image already in" in fresh.stderr
    assert b"(slide 2); the old ones are kept in deck/.versions" in fresh.stderr
    assert notices == [fresh.stderr.decode().split("notice: ", 1)[1].strip()]
    assert (deck / ".versions" / "slide-02.2.webp").read_bytes() == _real_image()
    assert resumed.returncode == 0, resumed.stderr
    assert b"replacing" not in resumed.stderr
