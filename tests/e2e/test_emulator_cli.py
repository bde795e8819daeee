"""``nanobanana emulate`` as a user runs it: a subprocess, real HTTP, Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx2
import pytest
from emulator_testing import KEY, PRO, first_line, request_body

from nanobanana_async import cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_emulate_serves_logs_one_line_per_request_and_stops_on_ctrl_c() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nanobanana_async", "emulate", "--port", str(port), "--no-latency"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = first_line(process)
        base_url = f"http://127.0.0.1:{port}"
        assert line == f"emulator listening on {base_url} (GOOGLE_GEMINI_BASE_URL)\n"
        path = f"/v1beta/models/{PRO}:generateContent"
        with httpx2.Client(base_url=base_url, timeout=30) as client:
            served = client.post(path, params={"key": KEY}, json=request_body())
            refused = client.post(path, json=request_body())
            stats = client.get("/_emulator/stats").json()
        assert (served.status_code, refused.status_code) == (200, 403)
        assert stats["requests"] == 2
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in err
    assert KEY not in out + err
    lines = err.splitlines()
    assert [" ".join(line.split()[:4]) for line in lines[:3]] == [
        f"POST {path} 200 {PRO}",
        f"POST {path} 403 {PRO}",
        "GET /_emulator/stats 200 -",
    ]
    assert all(line.split()[4].endswith("ms") for line in lines[:3])
    assert lines[3:] == ["emulator stopped"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["--fail-kinds", "teapot"],
        ["--script", "{not json"],
        ["--rpm", "0"],
        ["--fail-rate", "2"],
        ["--batch-latency", "-1"],
        ["--batch-outcome", "lost"],
        ["--batch-fail-kinds", "drop"],
    ],
)
def test_bad_options_exit_2(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["emulate", *arguments]) == 2
    assert "nanobanana emulate: error:" in capsys.readouterr().err
