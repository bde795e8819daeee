"""The official JavaScript SDK (``@google/genai``, pinned in tests/js) drives ``nanobanana
emulate`` over real HTTP: generateContent, models.list and get, countTokens, a stream and
a batch, each read back as the SDK reads the real service.

It needs Node.js and ``npm ci --prefix tests/js`` (which ``.ci/run`` does when node is
there); without either it is skipped, saying which.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
import orjson
import pytest
from emulator_testing import KEY, first_line

_JS = Path(__file__).resolve().parents[1] / "js"
_NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(
        _NODE is None, reason="node is not on PATH: the JavaScript SDK check needs Node.js 20+"
    ),
    pytest.mark.skipif(
        not (_JS / "node_modules" / "@google" / "genai").is_dir(),
        reason="tests/js/node_modules is missing: run `npm ci --prefix tests/js` to install "
        "the pinned @google/genai",
    ),
]


def test_the_javascript_sdk_gets_what_the_service_would_give() -> None:
    assert _NODE is not None
    emulate = [sys.executable, "-m", "nanobanana_async", "emulate", "--port", "0"]
    process = subprocess.Popen(
        [
            *emulate,
            "--no-latency",
            "--batch-latency",
            "0",
            "--keys",
            KEY,
            "--signature-bytes",
            "64",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = first_line(process).split()[3]
        assert base_url.startswith("http://127.0.0.1:")
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"}
        }
        run = subprocess.run(
            [_NODE, "conformance.mjs"],
            cwd=_JS,
            env=env | {"EMULATOR_BASE_URL": base_url, "EMULATOR_API_KEY": KEY},
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert run.returncode == 0, run.stderr
        seen = orjson.loads(run.stdout.strip().splitlines()[-1])
        stats = httpx2.get(f"{base_url}/_emulator/stats", timeout=10).json()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert seen["batch"] == {
        "name": seen["batch"]["name"],
        "state": "JOB_STATE_SUCCEEDED",
        "responses": 2,
    }
    assert seen["countTokens"] == seen["generateContent"]["promptTokenCount"]
    assert stats["batches"]["created"] == 1
    assert stats["batches"]["by_display_name"] == {"js-deck": 1}
    assert stats["by_status"] == {"200": 2}  # the generation and the stream
    assert set(stats["calls"]) == {
        "batchGenerateContent",
        "batches.get",
        "countTokens",
        "generateContent",
        "models.get",
        "models.list",
        "streamGenerateContent",
    }
    assert "Traceback" not in err
