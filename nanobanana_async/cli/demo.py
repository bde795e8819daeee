"""``make demo``: a real 10-slide batch against the embedded emulator, end to end.

It starts the emulator on a free loopback port (real HTTP, a per-minute quota, realistic
latencies shrunk tenfold), writes a deck config under ``demo-output/``, and runs the
``nanobanana`` command on it exactly as a user or the skill would, so what you see is the
product, not a special path. No key and no network are needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from ..emulator import EmulatorSettings, serve_in_thread

TIME_SCALE = 0.1
RPM = 12
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
    ("Thank you - questions?", "professional"),
]


def main() -> int:
    out = Path("demo-output").resolve()
    out.mkdir(exist_ok=True)
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
    config_path = out / "slides.json"
    config_path.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    settings = EmulatorSettings(rpm=RPM, time_scale=TIME_SCALE)
    with serve_in_thread(settings) as base_url:
        print(f"emulator on {base_url}: {RPM} requests/min, latencies x{TIME_SCALE}", flush=True)
        env = {**os.environ, "GOOGLE_GEMINI_BASE_URL": base_url, "GEMINI_API_KEY": "demo-key"}
        command = [
            sys.executable,
            "-m",
            "nanobanana_async",
            "run",
            "--config",
            str(config_path),
            "--rpm",
            str(RPM),
            "--time-scale",
            str(TIME_SCALE),
            "--progress-file",
            str(out / "progress.json"),
            "--results-file",
            str(out / "results.json"),
        ]
        print("$ nanobanana run --config", config_path, flush=True)
        code = subprocess.call(command, env=env)
    if code == 0:
        images = sorted((out / "deck").glob("slide-*.webp"))
        print(f"{len(images)} images in {out / 'deck'} (results: {out / 'results.json'})")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
