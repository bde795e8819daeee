"""What the emulator itself costs: requests per second it sustains, CPU per request.

Benchmarks of the client are only meaningful if the emulator's own cost is small next to
the client's, so this measures it: ``nanobanana emulate --no-latency`` runs in a subprocess
(its CPU read from ``/proc/PID/stat`` before and after the load, so startup is not
counted), and a few concurrent clients send distinct prompts over real HTTP. Clients read
the raw gzip bytes without decoding them, to spend as little of the shared CPU as possible.

Run: ``.venv/bin/python -m benchmarks.emulator_cost [--requests 200 --concurrency 4 ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx2
import orjson

from nanobanana_async.service import protocol

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Result:
    """One load run."""

    requests: int
    concurrency: int
    wall: float
    server_cpu: float
    wire_bytes: int
    latencies: list[float]

    def report(self, label: str) -> str:
        per_request = self.server_cpu / self.requests
        p50 = statistics.median(self.latencies) * 1000
        p95 = statistics.quantiles(self.latencies, n=20)[-1] * 1000
        return (
            f"{label}: {self.requests} requests, {self.concurrency} concurrent clients\n"
            f"  throughput      {self.requests / self.wall:8.1f} requests/s\n"
            f"  emulator CPU    {per_request * 1000:8.1f} ms/request "
            f"({self.server_cpu:.2f} s total, {self.server_cpu / self.wall:.2f} cores busy)\n"
            f"  latency         {p50:8.1f} ms p50, {p95:.1f} ms p95\n"
            f"  wire size       {self.wire_bytes / self.requests / 1e6:8.2f} MB/answer (gzip)"
        )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_emulator(port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "nanobanana_async", "emulate", "--port", str(port), "--no-latency"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening" not in line:
        process.kill()
        raise RuntimeError(f"the emulator did not start: {line!r}")
    return process


async def _load(
    base_url: str,
    *,
    requests: int,
    concurrency: int,
    model: str,
    aspect: str,
    size: str,
    same_prompt: bool,
    offset: int,
) -> tuple[int, list[float]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    latencies: list[float] = []
    wire = 0
    path = f"/v1beta/models/{model}:generateContent"

    async def worker(client: httpx2.AsyncClient) -> None:
        nonlocal wire
        while not queue.empty():
            n = queue.get_nowait()
            prompt = "Slide 1: Same." if same_prompt else f"Slide {offset + n}: Topic {n}."
            body = orjson.dumps(
                protocol.build_request(prompt, model=model, aspect_ratio=aspect, image_size=size)
            )
            started = time.perf_counter()
            async with client.stream("POST", path, content=body) as response:
                async for chunk in response.aiter_raw():
                    wire += len(chunk)
            if response.status_code != 200:
                raise RuntimeError(f"request {n}: HTTP {response.status_code}")
            latencies.append(time.perf_counter() - started)

    headers = {"x-goog-api-key": "benchmark-key", "content-type": "application/json"}
    async with httpx2.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return wire, latencies


def measure(args: argparse.Namespace, *, same_prompt: bool = False) -> Result:
    """Start an emulator, warm it up, load it, and read its CPU."""
    port = _free_port()
    process = _start_emulator(port)
    base_url = f"http://127.0.0.1:{port}"
    load = {"model": args.model, "aspect": args.aspect, "size": args.size}
    try:
        warm_up = _load(
            base_url, requests=5, concurrency=1, same_prompt=same_prompt, offset=10**6, **load
        )
        asyncio.run(warm_up)
        cpu_before = _cpu_seconds(process.pid)
        started = time.perf_counter()
        wire, latencies = asyncio.run(
            _load(
                base_url,
                requests=args.requests,
                concurrency=args.concurrency,
                same_prompt=same_prompt,
                offset=0,
                **load,
            )
        )
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(process.pid) - cpu_before
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    return Result(args.requests, args.concurrency, wall, cpu, wire, latencies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--model", default="gemini-3-pro-image")
    parser.add_argument("--aspect", default="16:9")
    parser.add_argument("--size", default="2K")
    args = parser.parse_args(argv)
    what = f"{args.model} {args.size} {args.aspect}, latency off, {os.cpu_count()} cores"
    print(measure(args).report(f"distinct prompts ({what})"))
    print(measure(args, same_prompt=True).report(f"one repeated prompt ({what})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
