"""Serving the emulator over real HTTP: in a background thread, or as ``nanobanana emulate``.

Both bind the listening socket before uvicorn starts, so port 0 works and the base URL is
known (and printed) before the first request. uvicorn runs with the pure-Python h11 protocol
and asyncio loop (no compiled extras), its access log off (``?key=`` would put a key in it);
the command prints one line per request instead, without the query string. Stopping first
ends every wait (in-flight requests answer 503 at once), then closes the connections; a
filter keeps the ``drop`` fault's :class:`~.asgi.ConnectionDropped` out of uvicorn's log.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

import orjson
import uvicorn

from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .app import Emulator, RequestLog
from .asgi import ConnectionDropped
from .faults import (
    BATCH_FAULT_KINDS,
    BATCH_OUTCOMES,
    DEFAULT_FAIL_KINDS,
    FAULT_KINDS,
    parse_script,
)
from .other_client import parse_other_client
from .rates import QUOTA_SPEC, parse_quota
from .settings import EmulatorSettings

__all__ = [
    "add_emulate_arguments",
    "emulate_settings",
    "run_emulate",
    "serve_in_thread",
]

T = TypeVar("T")


def _not_a_deliberate_drop(record: logging.LogRecord) -> bool:
    return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def _quiet_drops() -> None:
    """Install the drop filter on uvicorn's error logger, once."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _not_a_deliberate_drop not in uvicorn_log.filters:
        uvicorn_log.addFilter(_not_a_deliberate_drop)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(emulator: Emulator, host: str, *, log_config: Any) -> uvicorn.Config:
    _quiet_drops()
    return uvicorn.Config(
        emulator,
        host=host,
        loop="asyncio",
        http="h11",
        lifespan="on",
        access_log=False,
        log_level="warning",
        log_config=log_config,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, which also ends the emulator's waits when told to exit."""

    def __init__(self, config: uvicorn.Config, emulator: Emulator) -> None:
        super().__init__(config)
        self.emulator = emulator
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler may interrupt the loop while it holds the emulator's lock:
        # hand the shutdown to the loop instead of taking the lock here.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.emulator.shutdown)
        super().handle_exit(sig, frame)


@contextmanager
def serve_in_thread(
    target: Emulator | EmulatorSettings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Serve an emulator over real HTTP from a background thread.

    Args:
        target: the emulator to serve, or the settings of a new one.
        host: the loopback address to listen on.
        port: the port; 0 picks a free one.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321``.
    """
    emulator = target if isinstance(target, Emulator) else Emulator(target)
    sock = _bind(host, port)
    server = _Server(_config(emulator, host, log_config=None), emulator)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="nanobanana-emulator", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator's server did not start")
            time.sleep(0.005)
        yield _base_url(host, sock)
    finally:
        emulator.shutdown()
        server.should_exit = True
        thread.join(timeout=15)
        emulator.resume()
        sock.close()


def add_emulate_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``nanobanana emulate`` options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    parser.add_argument("--keys", help="comma-separated keys to accept (default: any key)")
    parser.epilog = (
        "Quotas apply per key and model; several may be given, and each is checked. "
        f"--quota SPEC is {QUOTA_SPEC}. sliding: at most LIMIT in any trailing WINDOW; "
        "fixed: at most LIMIT per window counted from start (+PHASE: the first window "
        "closes PHASE after start); bucket: a token bucket of N tokens (default LIMIT) "
        "refilled at LIMIT per WINDOW. A window of a day or more is named PerDay in its "
        "429s, any other PerMinute, whatever its length."
    )
    parser.add_argument(
        "--rpm", type=int, help="requests per minute per key and model (sliding:N/60s)"
    )
    parser.add_argument("--rpd", type=int, help="requests per day per key and model (sliding:N/1d)")
    parser.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="SPEC",
        help="a rate quota, repeatable: sliding:10/60s, fixed:20/60s+15s, bucket:20/60s,burst=5",
    )
    parser.add_argument("--max-concurrent", type=int, help="generations in progress per key")
    parser.add_argument(
        "--other-client",
        metavar="RATE/WINDOW",
        help="another client on every key, taking its share: e.g. 8/60s",
    )
    parser.add_argument(
        "--hide-quota-value",
        action="store_true",
        help="quota 429s do not state their limit (no quotaValue, no 'limit: N')",
    )
    parser.add_argument(
        "--hide-retry-info",
        action="store_true",
        help="429s do not state their delay (no RetryInfo, no 'Please retry in')",
    )
    parser.add_argument(
        "--overload-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of an overload 429 (no QuotaFailure, no quota used) per request",
    )
    parser.add_argument(
        "--free-tier", action="store_true", help="answer every request with the free tier's 429"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every latency, quota window and retry delay (0.01: 100x faster)",
    )
    parser.add_argument("--no-latency", action="store_true", help="answer at once")
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="probability of a fault per request"
    )
    parser.add_argument(
        "--fail-kinds",
        default=",".join(DEFAULT_FAIL_KINDS),
        help=f"fault kinds the rate picks from, among: {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of jitter, faults and ids")
    parser.add_argument("--script", help='faults per request ordinal, as JSON: \'{"3": "503"}\'')
    parser.add_argument(
        "--thought-images", action="store_true", help="send interim thought images (Gemini 3)"
    )
    parser.add_argument("--no-text", action="store_true", help="never add a text part")
    parser.add_argument(
        "--signature-bytes", type=int, help="thoughtSignature length (default: per model)"
    )
    parser.add_argument(
        "--no-signature-check",
        action="store_true",
        help="accept model turns sent back without their thought signatures (as Vertex does)",
    )
    parser.add_argument(
        "--misspell-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="fraction of slides with quoted text drawn with one typo (fixed by a correction)",
    )
    parser.add_argument(
        "--flex-shed-rate",
        type=float,
        default=0.1,
        metavar="P",
        help="probability that a Flex request (serviceTier: flex) is shed with a 503",
    )
    parser.add_argument(
        "--flex-queue",
        default="60,600",
        metavar="LOW,HIGH",
        help="seconds a Flex request waits in the queue, drawn between the two (scaled)",
    )
    parser.add_argument(
        "--same-repeats",
        action="store_true",
        help="answer identical requests with identical images (no #k mark: caches stay warm)",
    )
    parser.add_argument(
        "--batch-latency",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="seconds a batch stays PENDING, then RUNNING (plus its generation time)",
    )
    parser.add_argument(
        "--batch-outcome",
        default="succeeded",
        help=f"how every batch ends, one of: {', '.join(BATCH_OUTCOMES)} (default: succeeded)",
    )
    parser.add_argument(
        "--batch-fail-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that one request of a batch fails",
    )
    parser.add_argument(
        "--batch-fail-kinds",
        default="500",
        help=f"what a failed batch request gets, among: {', '.join(BATCH_FAULT_KINDS)}",
    )


def _parsed(option: str, value: str, parse: Callable[[str], T]) -> T:
    """``parse(value)``, its error naming the option and the value."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{option} {value!r}: {exc}") from None


def _seconds_pair(value: str) -> tuple[float, float]:
    """``"60,600"`` -> ``(60.0, 600.0)``."""
    low, sep, high = value.partition(",")
    if not sep:
        raise ValueError("give two numbers of seconds, like 60,600")
    return float(low), float(high)


def emulate_settings(arguments: Sequence[str]) -> EmulatorSettings:
    """The settings ``nanobanana emulate ARGUMENTS`` runs with.

    For whoever plays the same shape in-process (the benchmarks, on virtual time), so that
    a shape is written once, as the command's options.

    Raises:
        ValueError: a quota, other-client or fault spec is invalid.
        SystemExit: an option argparse refuses (its message on stderr).
    """
    parser = argparse.ArgumentParser(prog="nanobanana emulate")
    add_emulate_arguments(parser)
    return _settings(parser.parse_args(list(arguments)))


def _settings(args: argparse.Namespace) -> EmulatorSettings:
    keys = frozenset(k.strip() for k in args.keys.split(",") if k.strip()) if args.keys else None
    quotas = tuple(_parsed("--quota", spec, parse_quota) for spec in args.quota)
    other = args.other_client
    return EmulatorSettings(
        rpm=args.rpm,
        rpd=args.rpd,
        quotas=quotas,
        max_concurrent=args.max_concurrent,
        other_client=_parsed("--other-client", other, parse_other_client) if other else None,
        quota_value=not args.hide_quota_value,
        retry_info=not args.hide_retry_info,
        overload_rate=args.overload_rate,
        keys=keys,
        free_tier=args.free_tier,
        time_scale=args.time_scale,
        latency=not args.no_latency,
        fail_rate=args.fail_rate,
        fail_kinds=tuple(args.fail_kinds.split(",")),
        seed=args.seed,
        thought_images=args.thought_images,
        text_part=not args.no_text,
        signature_bytes=args.signature_bytes,
        check_signatures=not args.no_signature_check,
        vary_repeats=not args.same_repeats,
        misspell_rate=args.misspell_rate,
        flex_shed_rate=args.flex_shed_rate,
        flex_queue=_parsed("--flex-queue", args.flex_queue, _seconds_pair),
        batch_latency=args.batch_latency,
        batch_outcome=args.batch_outcome,
        batch_fail_rate=args.batch_fail_rate,
        batch_fail_kinds=tuple(args.batch_fail_kinds.split(",")),
    )


def _print_line(record: RequestLog) -> None:
    print(record.line(), file=sys.stderr, flush=True)


def run_emulate(args: argparse.Namespace) -> int:
    """Run the emulator in the foreground until Ctrl-C; 0 on a clean stop."""
    try:
        settings = _settings(args)
        script = parse_script(orjson.loads(args.script)) if args.script else {}
    except (ValueError, TypeError, AttributeError) as exc:
        print(f"nanobanana emulate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    emulator = Emulator(settings, on_request=_print_line)
    emulator.script(script)
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        print(f"nanobanana emulate: cannot listen on {where}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    log_config = uvicorn.config.LOGGING_CONFIG
    server = _Server(_config(emulator, args.host, log_config=log_config), emulator)
    url = _base_url(args.host, sock)
    print(f"emulator listening on {url} (GOOGLE_GEMINI_BASE_URL)", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("emulator stopped", file=sys.stderr, flush=True)
    return EXIT_OK
