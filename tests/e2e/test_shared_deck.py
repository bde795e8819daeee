"""The deck's own folders (.thumbs, .originals, .versions) attacked by another local user.

Issue 23, items 2 and 3. The victim's deck folder is writable by others; the attacker is a
second, unprivileged user: a shell started as uid/gid 65534 (``nobody``), so these tests
need root, as CI has. It puts a symlink or a folder of its own under one of the deck's
folder names, and plants stale slides; the victim then runs ``nanobanana`` as a subprocess.
Neither a private image of the victim's (another deck, in a 0700 folder) may reach the
shared contact sheet, nor may a replaced image go to the attacker's folder, nor a rerun read
what the attacker points at. The runs go to the emulator over loopback.

A FIFO under a kept original's name (swapped in after the plan saw a file) must fail that
slide at once: that run is a subprocess with a deadline of its own, so a blocking ``open``
fails the test instead of hanging it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_testing import deck_config, environment, files_args, run_cli, write_json
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="acts as a second user (nobody) through setuid: needs root",
)

NOBODY = 65534
RED = (230, 20, 20)  # the victim's private deck
BLUE = (20, 40, 220)  # the victim's shared deck
GREEN = (20, 200, 40)  # the attacker's planted slides
YELLOW = (240, 230, 20)  # the attacker's own thumbnails
SLIDES = 7  # from 7 slides on, a tile is small enough to be drawn from .thumbs
NUMBERS = " ".join(f"{n:02d}" for n in range(1, SLIDES + 1))
STALE = "2000-01-01"  # a planted slide's date: older than any thumbnail


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder both users reach (the test's tmp_path is private to root), with a place of
    the attacker's own in it (``nobody/``)."""
    base = Path(tempfile.mkdtemp(prefix="nanobanana-shared-", dir="/tmp"))
    base.chmod(0o711)
    attacker = base / "nobody"
    attacker.mkdir()
    os.chown(attacker, NOBODY, NOBODY)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def as_nobody(script: str) -> None:
    """Run ``script`` in a shell as uid/gid 65534, with no supplementary group."""
    done = subprocess.run(
        ["/bin/sh", "-ec", script],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def png(colour: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def slides_deck(folder: Path, colour: tuple[int, int, int], *, mode: int) -> None:
    """A deck of :data:`SLIDES` PNGs in ``colour``, with the small copies a run keeps."""
    folder.mkdir(mode=mode)
    folder.chmod(mode)
    thumbs = folder / ".thumbs"
    thumbs.mkdir(mode=0o700)
    for number in range(1, SLIDES + 1):
        (folder / f"slide-{number:02d}.png").write_bytes(png(colour))
        (thumbs / f"slide-{number:02d}.png.jpg").write_bytes(jpeg(colour))


def pixels(path: Path, test: Callable[[tuple[int, ...]], bool]) -> int:
    """How many pixels of the image at ``path`` pass ``test``."""
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
    assert colours is not None
    return sum(count for count, rgb in colours if isinstance(rgb, tuple) and test(rgb[:3]))


def reddish(rgb: tuple[int, ...]) -> bool:
    return rgb[0] > 200 and rgb[1] < 70 and rgb[2] < 70


def yellowish(rgb: tuple[int, ...]) -> bool:
    return rgb[0] > 200 and rgb[1] > 200 and rgb[2] < 80


def export_sheet(deck: Path) -> subprocess.CompletedProcess[bytes]:
    done: subprocess.CompletedProcess[bytes] = run_cli(
        "export", str(deck), "--contact-sheet", env=dict(os.environ)
    )
    return done


# -- item 2: another user's private image in a shared contact sheet -----------------------


def test_a_thumbs_symlink_to_a_private_deck_never_shows_its_images(shared: Path) -> None:
    slides_deck(shared / "private", RED, mode=0o700)  # the victim's own, private
    for thumb in (shared / "private" / ".thumbs").iterdir():
        os.utime(thumb, (1.6e9, 1.6e9))  # made in 2020: older than the shared deck
    deck = shared / "deck"
    slides_deck(deck, BLUE, mode=0o777)  # shared: anyone may write in it
    (shared / "nobody" / "stale.png").write_bytes(png(GREEN))
    as_nobody(
        f"""
        cd {deck}
        mv .thumbs .thumbs-old
        ln -s ../private/.thumbs .thumbs
        for n in {NUMBERS}; do
            cp {shared}/nobody/stale.png slide-$n.png.new
            mv -f slide-$n.png.new slide-$n.png
            touch -d {STALE} slide-$n.png
        done
        """
    )
    assert (deck / ".thumbs").is_symlink()

    done = export_sheet(deck)

    assert done.returncode == 0, done.stderr
    sheet = deck / "contact-sheet.png"
    assert pixels(sheet, reddish) == 0  # no private thumbnail in it
    assert pixels(sheet, lambda rgb: rgb[1] > 150 and rgb[0] < 80) > 0  # the planted slides
    err = done.stderr.decode()
    assert f"{deck / '.thumbs'} is a symlink, not followed: the contact sheet is drawn" in err


def test_a_thumbs_folder_of_another_users_is_not_drawn_from(shared: Path) -> None:
    deck = shared / "deck"
    slides_deck(deck, BLUE, mode=0o777)
    (shared / "nobody" / "stale.png").write_bytes(png(GREEN))
    (shared / "nobody" / "thumb.jpg").write_bytes(jpeg(YELLOW))
    as_nobody(
        f"""
        cd {deck}
        mv .thumbs .thumbs-old
        mkdir -m 755 .thumbs
        for n in {NUMBERS}; do
            cp {shared}/nobody/thumb.jpg .thumbs/slide-$n.png.jpg
            cp {shared}/nobody/stale.png slide-$n.png.new
            mv -f slide-$n.png.new slide-$n.png
            touch -d {STALE} slide-$n.png
        done
        """
    )

    done = export_sheet(deck)

    assert done.returncode == 0, done.stderr
    assert pixels(deck / "contact-sheet.png", yellowish) == 0
    assert "belongs to another user (uid 65534), not used" in done.stderr.decode()


# -- item 2 and 3: a run meets the attacker's .versions or .originals ---------------------


@pytest.fixture
def service() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=0))
    with serve_in_thread(emulator) as url:
        yield emulator, url


def made(shared: Path, url: str, **top: object) -> tuple[Path, Path]:
    """A deck of 2 slides made by a run in a folder anyone may write in; (deck, config)."""
    deck = shared / "deck"
    deck.mkdir(mode=0o777)
    deck.chmod(0o777)
    config = write_json(shared / "slides.json", deck_config(deck, 2, **top))
    done = run_cli("run", str(config), *files_args(shared), env=environment(url))
    assert done.returncode == 0, done.stderr
    return deck, config


def test_a_versions_symlink_refuses_the_run_and_moves_no_image_out(
    shared: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    deck, config = made(shared, url)
    drop = shared / "nobody" / "drop"
    as_nobody(f"mkdir -m 777 {drop} && ln -s {drop} {deck}/.versions")
    before = (deck / "slide-01.webp").read_bytes()

    done = run_cli("run", str(config), "--force", *files_args(shared), env=environment(url))

    assert done.returncode == 2
    line = f"output_dir: {deck}/.versions is a symlink, not followed: move it aside"
    assert done.stderr.decode().startswith(f"nanobanana: error: {line}")
    assert done.stderr.decode().count("\n") == 1  # one line, no traceback
    assert list(drop.iterdir()) == []  # nothing of the victim's in the attacker's folder
    assert (deck / "slide-01.webp").read_bytes() == before
    assert emulator.stats()["requests"] == 2  # the first run's: nothing sent since


@pytest.mark.parametrize("planted", ["symlink", "folder"])
def test_an_originals_planted_by_another_user_refuses_the_rerun_before_reading_it(
    shared: Path, service: tuple[Emulator, str], planted: str
) -> None:
    emulator, url = service
    deck, _ = made(shared, url)
    names = sorted(path.name for path in (deck / ".originals").iterdir())
    big = shared / "nobody" / "big"
    # Files past any image's size under the originals' names (sparse: no disk, but a
    # reader that does not check would read them whole).
    fill = " ".join(f"truncate -s 100M {big}/{name};" for name in names)
    target = f"ln -s {big} .originals" if planted == "symlink" else f"mv {big} .originals"
    as_nobody(f"mkdir -m 755 {big}; {fill} cd {deck}; mv .originals .originals-old; {target}")
    config = write_json(shared / "slides.json", deck_config(deck, 2, format="png"))

    done = run_cli("run", str(config), *files_args(shared), env=environment(url))

    assert done.returncode == 2, done.stderr
    reason = (
        "is a symlink, not followed" if planted == "symlink" else "belongs to another user (uid"
    )
    line = f"nanobanana: error: output_dir: {deck}/.originals {reason}"
    assert done.stderr.decode().startswith(line)
    assert emulator.stats()["requests"] == 2
    assert sorted(p.name for p in deck.glob("slide-*")) == ["slide-01.webp", "slide-02.webp"]


# -- item 3: an original swapped for a FIFO --------------------------------------------------

# The second run plans a re-encode (the original is a file then); its first progress
# snapshot, before any slide is worked on, swaps slide 1's original for a FIFO.
_FIFO_RUN = """
import os, sys
from pathlib import Path

import anyio, httpx2

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck

deck = Path(sys.argv[1])
emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=0))
settings = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0)
env = {"GEMINI_API_KEY": "fifo-3f9a71c2e8b4d05-7qv4"}


def config(fmt):
    slides = [{"number": n, "prompt": f"Slide {n}"} for n in (1, 2)]
    return {"slides": slides, "output_dir": str(deck), "image_size": "1K", "format": fmt}


def swap(snapshot):
    for original in (deck / ".originals").glob("slide-01.*"):
        original.unlink()
        os.mkfifo(original)


async def main():
    transport = httpx2.ASGITransport(app=emulator)
    await generate_deck(config("webp"), settings=settings, transport=transport, env=env)
    result = await generate_deck(
        config("png"), settings=settings, transport=transport, env=env, progress=swap
    )
    print(emulator.stats()["requests"], result.completed)
    for error in result.errors:
        print(error.slide, error.error)


anyio.run(main)
"""


def test_a_fifo_under_an_originals_name_fails_its_slide_at_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FIFO_RUN), str(tmp_path / "deck")],
        capture_output=True,
        text=True,
        timeout=60,  # a blocked open() would wait for a writer forever
        check=False,
    )
    assert done.returncode == 0, done.stderr
    counts, error = done.stdout.splitlines()
    assert counts == "2 1"  # nothing sent again; slide 2 re-encoded
    assert error.startswith("1 cannot re-encode from ")
    assert error.endswith("is a FIFO")
