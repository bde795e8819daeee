"""``make demo``: a real batch against the emulator, end to end, with the quota at work.

It starts the emulator on a free loopback port (real HTTP, a per-minute quota smaller
than the deck, realistic latencies shrunk tenfold), writes a deck config under
``demo-output/``, and runs the ``nanobanana`` command on it exactly as the skill would (no
``--rpm``: the engine learns the quota from its 429s), so what you see is the product, not
a special path. No key and no network are needed; the images are the emulator's
placeholders, each showing its slide's prompt. It leaves the deck as a deliverable too: a
contact sheet, a PPTX and a PDF.

Every demo generates the whole deck (``run --force``), so a second ``make demo`` shows the
engine at work again instead of keeping every slide; the images it replaces go to the
deck's ``.versions/``, as any run's do. The folder is the demo's own: it carries a mark,
and a folder the demo did not make is refused, never written into.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from ..emulator import EmulatorSettings, serve_in_thread
from ..exits import EXIT_USAGE

TIME_SCALE = 0.1
# Fewer requests a window than the deck has slides: the run must wait on the quota.
RPM = 6
SLIDES = [
    ("Title: Shipping faster with async batch generation", "professional"),
    ("Agenda: why, how, results, next steps", "professional"),
    ("The old loop: one slide at a time, 25 seconds each", "data-viz"),
    ("Quotas: 20 requests per minute, retry delays in the body", "infographic"),
    ("Architecture: gate, pacer, client, writer", "infographic"),
    ("Little's law: in flight = rate x latency", "data-viz"),
    ("429 storms: one shared pause instead of a stampede", "professional"),
    ("Nothing lost: atomic files and resume", "professional"),
    ("Results: sequential vs concurrent throughput", "data-viz"),
    ("Pacing told nothing: the quota's shape learned from its 429s", "infographic"),
    ("Two decks on one key: one quota, shared fairly", "data-viz"),
    ("Dry runs: the emulator, no key, no cost", "professional"),
    ("Thank you - questions?", "professional"),
]
# The file that says a folder is the demo's own, to play again over.
MARK = ".nanobanana-demo"


def _demo_config(out: Path) -> bytes:
    config = {
        "slides": [
            {"number": n, "prompt": prompt, "style": style}
            for n, (prompt, style) in enumerate(SLIDES, start=1)
        ],
        "output_dir": str(out / "deck"),
        "format": "webp",
        "quality": 90,
        "image_size": "1K",
    }
    return orjson.dumps(config, option=orjson.OPT_INDENT_2)


def _is_the_demos(out: Path, config: bytes) -> bool:
    """``out`` is missing, empty, marked, or left by a demo from before the mark."""
    if not out.is_dir() or (out / MARK).is_file() or not any(out.iterdir()):
        return True
    try:
        return (out / "slides.json").read_bytes() == config
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    # A test plays the same demo faster: ``--time-scale`` and ``--out`` (not for users).
    args = list(sys.argv[1:] if argv is None else argv)
    scale = float(args[args.index("--time-scale") + 1]) if "--time-scale" in args else TIME_SCALE
    out = Path(args[args.index("--out") + 1] if "--out" in args else "demo-output").resolve()
    config = _demo_config(out)
    if out.exists() and not (out.is_dir() and _is_the_demos(out, config)):
        print(
            f"demo: {out} is not the demo's folder; move it away or pass --out DIR",
            file=sys.stderr,
        )
        return EXIT_USAGE
    again = (out / "deck").is_dir()
    out.mkdir(exist_ok=True)
    (out / MARK).write_text("made by make demo; played again over each time\n")
    config_path = out / "slides.json"
    config_path.write_bytes(config)
    settings = EmulatorSettings(rpm=RPM, time_scale=scale)
    with serve_in_thread(settings) as base_url:
        window = 60 * scale
        print(
            f"emulator on {base_url}: {RPM} requests per {window:g} s window (a minute x{scale:g})"
            f" for {len(SLIDES)} slides, so the run waits on the quota; latencies x{scale:g}",
            flush=True,
        )
        env = {**os.environ, "GOOGLE_GEMINI_BASE_URL": base_url, "GEMINI_API_KEY": "demo-key"}
        command = [
            sys.executable,
            "-m",
            "nanobanana_async",
            "run",
            "--config",
            str(config_path),
            "--time-scale",
            str(scale),
            "--export",
            "pptx,pdf",
            "--progress-file",
            str(out / "progress.json"),
            "--results-file",
            str(out / "results.json"),
            "--force",
        ]
        if again:
            print(
                "played again: every slide is generated anew (--force);"
                " the last run's images move to deck/.versions/",
                flush=True,
            )
        print("$ nanobanana run --force --config", config_path, flush=True)
        code = subprocess.call(command, env=env)
    if code == 0:
        images = sorted((out / "deck").glob("slide-*.webp"))
        results = orjson.loads((out / "results.json").read_bytes())
        waits = int(results["rate_limit_waits"])
        held = {0: "never", 1: "once"}.get(waits, f"{waits} times")
        print(
            f"{len(images)} placeholder images (the emulator draws each slide's prompt; no real"
            f" image was made) in {out / 'deck'}; the quota held the run back {held}"
            f" ({results['rate_limited']} 429s); results: {out / 'results.json'}"
        )
        deck = out / "deck"
        print(
            f"the deck to look at: {deck / 'contact-sheet.png'} (every slide in one image),"
            f" {deck / 'deck.pptx'}, {deck / 'deck.pdf'}"
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
