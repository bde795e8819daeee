"""``nanobanana run``: the engine under a terminal or in the background, with signals.

In a terminal it draws a one-line progress bar on stderr; in the background (the skill's
case) it prints nothing but errors and, at the end, one summary line on stdout. The first
SIGINT or SIGTERM stops the run as the engine drains it: nothing new is sent, the requests
on the wire finish and are saved (a bounded wait), the progress and results files say
``cancelled``. A second signal cuts those requests at once. The exit code is the first
signal's: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from collections.abc import Mapping
from typing import Any

import anyio
import httpx2
import orjson

from ..config.loading import DeckConfig
from ..engine.fix_units import check_fix_text
from ..engine.run import EngineSettings, generate_deck
from ..errors import ConfigError, NanoBananaError, RunLockedError
from ..exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from ..files.reading import read_regular
from ..follow.summary import result_line
from ..results import DeckResult
from .allocator import pin_mmap_threshold
from .bar import ProgressBar
from .dry_run import run_config

__all__ = ["run_command"]

_STOPPING_NOTE = (
    "nanobanana: stopping: the requests on the wire finish and are saved, nothing new is "
    "sent; press Ctrl-C again to cut them"
)
# Far above any results file (10,000 slides take a few MB): a bigger one is not this run's.
_MAX_RESULTS_BYTES = 64 * 2**20


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


async def _run(
    config: DeckConfig,
    args: argparse.Namespace,
    settings: EngineSettings,
    bar: ProgressBar,
    transport: httpx2.AsyncBaseTransport | None,
    only: frozenset[int] | None,
    send: bool,
) -> tuple[DeckResult | None, int | None]:
    box: dict[str, Any] = {}
    stop = anyio.Event()
    async with anyio.create_task_group() as group:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                async for signum in received:
                    if "signal" in box:  # the second: cut what is on the wire
                        group.cancel_scope.cancel()
                        return
                    box["signal"] = signum
                    stop.set()
                    if bar.enabled:
                        bar.close()
                        print(_STOPPING_NOTE, file=sys.stderr)

        async def engine() -> None:
            box["result"] = await generate_deck(
                config,
                progress=bar,
                progress_file=args.progress_file,
                results_file=args.results_file,
                resume=args.resume,
                settings=settings,
                transport=transport,
                regenerate=args.regenerate,
                force=args.force,
                stop=stop,
                only=only,
                send=send,
            )
            group.cancel_scope.cancel()

        group.start_soon(watch_signals)
        group.start_soon(engine)
    return box.get("result"), box.get("signal")


def run_command(
    args: argparse.Namespace,
    env: Mapping[str, str],
    config: DeckConfig | None = None,
    *,
    only: frozenset[int] | None = None,
    send: bool = True,
) -> int:
    """Run the deck of ``args``, its config read in ``env`` (:func:`.dry_run.run_env`).

    ``config``: as loaded already to choose the run's files (:func:`.runs.run_files`), so
    the run uses the very config its files were chosen for; ``None``: it did not load, and
    is loaded here to say why. ``only`` and ``send``: :func:`~..engine.run.generate_deck`'s
    (``edit`` and ``pick`` run one slide; ``pick`` and ``edit --undo`` send nothing).
    """
    # Before the first large buffer: a steady peak RSS for big decks of 4K images.
    pin_mmap_threshold()
    transport: httpx2.AsyncBaseTransport | None = None
    time_scale = args.time_scale
    if args.emulator:
        from ..emulator import Emulator, EmulatorSettings

        time_scale = args.emulator_time_scale
        transport = httpx2.ASGITransport(app=Emulator(EmulatorSettings(time_scale=time_scale)))
    bar = ProgressBar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        if config is None:
            config = run_config(args.config, env, emulator=args.emulator)
        for notice in config.notices:
            print(f"nanobanana: notice: {notice}", file=sys.stderr)
        fix_text = getattr(args, "fix_text", None)  # edit and pick have none
        check_fix_text(config, fix_text)
        # --ledger, else the config's (or NANO_BANANA_LEDGER's), else this machine's file;
        # the engine reads it from the config. An embedded emulator's quota is this
        # process's own: nothing to share.
        ledger = "off" if args.emulator else getattr(args, "ledger", None) or config.ledger
        config = dataclasses.replace(config, ledger=ledger or "file")
        settings = EngineSettings(
            concurrency=args.concurrency,
            rpm=args.rpm,
            timeout=args.timeout,
            time_scale=time_scale,
            dry_run=args.emulator,
            max_cost=args.max_cost,
            contact_sheet=not args.no_contact_sheet,
            batch_api=args.batch_api,
            fix_text=fix_text,
            service_tier=args.tier,
        )
        result, signum = anyio.run(_run, config, args, settings, bar, transport, only, send)
    except KeyboardInterrupt:
        bar.close()
        return EXIT_INTERRUPTED
    except BaseException as raised:
        bar.close()
        error = _leaf(raised)
        if isinstance(error, (ConfigError, RunLockedError)):
            print(f"nanobanana: error: {error}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(error, NanoBananaError):
            print(f"nanobanana: error: {error}", file=sys.stderr)
            return EXIT_FAILED
        if isinstance(error, OSError):
            where = f": {error.filename}" if error.filename else ""
            print(f"nanobanana: error: {error.strerror or error}{where}", file=sys.stderr)
            return EXIT_FAILED
        raise
    bar.close()
    if signum is not None:
        _print_saved_summary(args)
        return EXIT_INTERRUPTED if signum == signal.SIGINT else EXIT_TERMINATED
    assert result is not None
    for notice in result.notices[len(config.notices) :]:  # those the run itself added
        print(f"nanobanana: notice: {notice}", file=sys.stderr)
    print(result_line(result.to_dict()))
    if args.export and result.outputs:
        from .export import export_after_run

        spent = result.cost_usd or 0.0
        for line in export_after_run(config.output_dir, args.export, config, spent):
            print(line)
    return result.exit_code


def _print_saved_summary(args: argparse.Namespace) -> None:
    """The final line from the results file this run just wrote (never blocking on it)."""
    try:
        results = orjson.loads(read_regular(args.results_file, _MAX_RESULTS_BYTES, own=True))
        if not isinstance(results, dict):
            raise ValueError("not a results file")
        print(result_line(results))
    except (OSError, ValueError):  # orjson.JSONDecodeError is a ValueError
        print("cancelled; rerun with --resume to finish")
