"""What the command line imports before it knows what it is asked: `nanobanana --help`
and a bad argument must answer fast, and a process starting is what the skill's every
`NB` call, and every test's subprocess, pays."""

from __future__ import annotations

import subprocess
import sys

# Modules a command imports only once it knows it needs them: the event loop (about 50 ms),
# the OCR, the HTTP client and Pillow.
HEAVY = ("asyncio", "rapidocr", "onnxruntime", "httpx2", "PIL.Image")


def test_the_cli_and_the_config_start_without_the_heavy_modules() -> None:
    probe = (
        "import sys, nanobanana_async.cli.main, nanobanana_async.config.loading; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout
