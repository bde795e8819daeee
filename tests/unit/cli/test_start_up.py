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


def test_a_run_loads_neither_the_batch_api_nor_every_image_plugin() -> None:
    """A run's process imports the engine and converts to WebP; it needs neither the Batch
    API's modules (a batch run imports them) nor Pillow's ~45 plugins (Image.init)."""
    probe = (
        "import io, sys\n"
        "import nanobanana_async.engine\n"
        "from nanobanana_async.files.images import encode_image\n"
        "from PIL import Image\n"
        "buffer = io.BytesIO(); Image.new('RGB', (8, 8)).save(buffer, 'PNG')\n"
        "encode_image(buffer.getvalue(), fmt='webp', quality=80, lossless=False)\n"
        "plugins = [m for m in sys.modules if m.startswith('PIL.') and m.endswith('Plugin')]\n"
        "print(sorted(m for m in sys.modules if m.startswith('nanobanana_async.batch.api')\n"
        "             or m == 'nanobanana_async.engine.batched'), len(plugins))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    names, plugins = done.stdout.rsplit(" ", 1)
    assert names == "[]", done.stdout
    assert int(plugins) <= 8, done.stdout
