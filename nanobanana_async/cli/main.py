"""The ``nanobanana`` command: argument parsing and dispatch, nothing else.

Each subcommand's work lives in the module that owns it and is imported only when that
subcommand runs, so ``nanobanana --help`` starts fast. Exit codes: :mod:`nanobanana_async.exits`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._version import version
from ..config.schema import (
    CONCURRENCY_RANGE,
    FIX_TEXT_RANGE,
    MAX_COST_RANGE,
    MAX_SLIDES,
    NUMBER_RANGE,
    RPM_RANGE,
    SERVICE_TIERS,
    TIMEOUT_RANGE,
    field_lines,
)
from ..exits import DEFAULT_PROGRESS_FILE, DEFAULT_RESULTS_FILE, EXIT_OK, EXIT_USAGE
from .export import export_kinds

SUBCOMMANDS = (
    "run",
    "plan",
    "status",
    "wait",
    "stop",
    "emulate",
    "schema",
    "export",
    "mcp",
    "cancel",
    "runs",
    "edit",
    "pick",
    "check",
    "models",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class _Version(argparse.Action):
    """``--version``, reading the version only when asked (see :mod:`nanobanana_async._version`)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"nanobanana {version()}")
        parser.exit()


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


_positive_int = _whole(*CONCURRENCY_RANGE)
_slide_number = _whole(*NUMBER_RANGE)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _bounded(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _positive_float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g} to {high:g}, got {text}")
        return value

    return parse


def _ledger(text: str) -> object:
    """``--ledger``'s value as a ledger choice (its error is the option's line)."""
    from ..errors import ConfigError
    from ..ledger.address import parse_ledger

    try:
        return parse_ledger(text, "--ledger")
    except ConfigError as error:
        raise argparse.ArgumentTypeError(error.problem) from None


def _slide_numbers(text: str) -> frozenset[int]:
    """``3,7,9-12`` -> {3, 7, 9, 10, 11, 12}.

    Each range is checked before any is expanded, and together they name at most
    :data:`MAX_SLIDES` slides (what a deck may have): a few bytes of ranges cannot cost
    gigabytes (3.4 KB of them took 2.9 GB), and ``1-999999999`` costs nothing.
    """
    lowest, highest = NUMBER_RANGE
    ranges: list[tuple[int, int]] = []
    named = 0
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be slide numbers and ranges like 3,7,9-12, got {text[:40]!r}"
            ) from None
        if not lowest <= first <= last <= highest:
            raise argparse.ArgumentTypeError(
                f"{part.strip()[:40]!r} is not a range of slides (numbers {lowest} to "
                f"{highest:,}, the lower first)"
            )
        named += last - first + 1
        if named > MAX_SLIDES:
            raise argparse.ArgumentTypeError(
                f"names more than {MAX_SLIDES:,} slides, the most a deck has; name fewer"
            )
        ranges.append((first, last))
    return frozenset(number for first, last in ranges for number in range(first, last + 1))


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config_file", nargs="?", type=Path, metavar="CONFIG", help="the deck's config JSON"
    )
    parser.add_argument(
        "--config", type=Path, help="the same, as an option (the original spelling)"
    )


def _add_rerun_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regenerate",
        type=_slide_numbers,
        default=frozenset(),
        metavar="SLIDES",
        help="slides to generate again whatever changed, e.g. 3,7,9-12",
    )
    parser.add_argument("--force", action="store_true", help="generate every slide again")


def _add_fix_text(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fix-text",
        type=int,
        choices=range(FIX_TEXT_RANGE[0], FIX_TEXT_RANGE[1] + 1),
        metavar="N",
        help="edit rounds for each checked slide whose text misses, 0-3 (over the config's)",
    )


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    _add_config(run)
    run.add_argument(
        "--concurrency", type=_positive_int, help="requests in flight (default: derived)"
    )
    run.add_argument("--rpm", type=_bounded(*RPM_RANGE), help="your quota's requests per minute")
    run.add_argument(
        "--timeout",
        type=_bounded(*TIMEOUT_RANGE),
        help="deadline per request, the whole answer included, seconds (default 300)",
    )
    run.add_argument(
        "--progress-file",
        type=Path,
        help=f"progress JSON (default {DEFAULT_PROGRESS_FILE}, or the deck's own "
        "nano-banana-<run id>-progress.json beside it while another run holds that)",
    )
    run.add_argument(
        "--results-file",
        type=Path,
        help=f"results JSON (default {DEFAULT_RESULTS_FILE}, or the deck's own beside it "
        "when the run has its own progress file or is a dry run)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="finish the last run (its --force or --regenerate too); keep every other "
        "complete image, whatever changed",
    )
    _add_rerun_arguments(run)
    run.add_argument(
        "--max-cost",
        type=_bounded(*MAX_COST_RANGE),
        metavar="USD",
        help="the run's budget: refuse a plan over it, never send past it",
    )
    _add_fix_text(run)
    run.add_argument(
        "--no-contact-sheet",
        action="store_true",
        help="do not redraw OUTPUT_DIR/contact-sheet.png after the run",
    )
    run.add_argument(
        "--export",
        type=export_kinds,
        default=frozenset(),
        metavar="KINDS",
        help="after the run, write pptx, pdf, contact-sheet, pptx-editable (comma-separated) in "
        "OUTPUT_DIR",
    )
    run.add_argument(
        "--batch-api",
        action="store_true",
        help="send the slides as one Batch API job: half price, no per-minute quota, done "
        'within 24 h (as "mode": "batch-api")',
    )
    run.add_argument(
        "--tier",
        choices=SERVICE_TIERS,
        help="the service tier of every slide: flex (half price, 1 to 15 min a slide, may be "
        'shed), priority (75-100%% more, faster) or standard (as "service_tier")',
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the run would do and cost (as nanobanana plan), send nothing",
    )
    run.add_argument(
        "--emulator",
        action="store_true",
        help="dry run against the built-in emulator: no key, no cost; placeholder images "
        "in OUTPUT_DIR.dry-run, never over the deck's real ones",
    )
    run.add_argument(
        "--emulator-time-scale",
        type=_positive_float,
        default=0.05,
        help="with --emulator: shrink its latencies by this factor (default 0.05)",
    )
    run.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        help="against an emulator started with --time-scale X, pass the same X",
    )
    run.add_argument(
        "--ledger",
        type=_ledger,
        metavar="WHERE",
        help="where the quota's pacing is shared: file (this machine's runs; default), off, "
        "or redis://host:6379/0 (every machine pointed at it; the redis extra)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar, even in a terminal")
    run.add_argument(
        "--detach",
        action="store_true",
        help="start in the background; return once the run is going (one line)",
    )


def _add_progress_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress-file",
        type=Path,
        default=DEFAULT_PROGRESS_FILE,
        help=f"the run's progress JSON (default {DEFAULT_PROGRESS_FILE})",
    )


def _add_followed_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_id",
        nargs="?",
        metavar="RUN_ID",
        help="the run to follow, as nanobanana runs lists it (default: the default run's)",
    )
    parser.add_argument("--config", type=Path, help="follow the latest run of this config")
    parser.add_argument(
        "--progress-file",
        type=Path,
        help=f"the run's progress JSON (default {DEFAULT_PROGRESS_FILE})",
    )


def _add_export_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument(
        "output_dir", type=Path, metavar="OUTPUT_DIR", help="the deck's folder (a run's output_dir)"
    )
    for flag, what, name in (
        ("--pptx", "a PowerPoint deck: one slide per image, the prompt in the notes", "deck.pptx"),
        ("--pdf", "a PDF: one page per image", "deck.pdf"),
        ("--contact-sheet", "every slide on one small PNG", "contact-sheet.png"),
    ):
        export.add_argument(
            flag,
            nargs="?",
            const=True,
            type=Path,
            metavar="FILE",
            help=f"{what} (default OUTPUT_DIR/{name})",
        )
    export.add_argument(
        "--editable",
        nargs="?",
        const=True,
        type=Path,
        metavar="FILE",
        help="a PowerPoint deck with text boxes over text-free pictures (one edit a slide "
        "with text, kept; default OUTPUT_DIR/deck-editable.pptx)",
    )
    export.add_argument(
        "--dry-run",
        action="store_true",
        help="with --editable: what its plates would cost; nothing sent or written",
    )
    export.add_argument(
        "--max-cost",
        type=_bounded(*MAX_COST_RANGE),
        metavar="USD",
        help="with --editable: the plates' budget (default the config's max_cost)",
    )
    export.add_argument(
        "--config",
        type=Path,
        help="the deck's config: the prompts for the notes, the slides' aspect ratio",
    )
    export.epilog = (
        "With none of --pptx, --pdf, --contact-sheet: the PPTX and the PDF. Put OUTPUT_DIR "
        "first: `--pptx DIR` would name the PPTX."
    )


def _add_slide_command(parser: argparse.ArgumentParser) -> None:
    """CONFIG SLIDE, and the files and bar of the run of that slide, as ``run`` has them."""
    parser.add_argument("config_file", type=Path, metavar="CONFIG", help="the deck's config JSON")
    parser.add_argument("slide", type=_slide_number, metavar="SLIDE", help="the slide's number")
    for flag, what in (("--progress-file", "progress"), ("--results-file", "results")):
        parser.add_argument(flag, type=Path, help=f"the run's {what} JSON, as for run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, even in a terminal")


def _add_edit_commands(sub: Any) -> None:
    edit = sub.add_parser(
        "edit",
        help="fix one slide: add an edit step to its config and make just that step",
    )
    _add_slide_command(edit)
    edit.add_argument(
        "instruction",
        nargs="?",
        metavar="INSTRUCTION",
        help='what to change: "make the title bigger"',
    )
    edit.add_argument(
        "--region",
        metavar="X,Y,W,H",
        help="change only this box, in fractions of the image from its top left: 0.1,0.05,0.5,0.2",
    )
    edit.add_argument(
        "--undo",
        action="store_true",
        help="drop the slide's last edit step instead; its earlier image comes back, no request",
    )
    edit.epilog = (
        "The step is appended to the slide's \"edits\" in CONFIG (the file's other content "
        "kept), then the slide alone is run: one request a step; earlier steps are reused."
    )
    pick = sub.add_parser(
        "pick", help="make candidate K of a slide of variants the slide (no request)"
    )
    _add_slide_command(pick)
    pick.add_argument("k", type=_slide_number, metavar="K", help="the candidate, from 1")
    pick.epilog = (
        'Writes "pick": K in CONFIG and puts candidate K in place. The slide\'s edits, if any, '
        "apply to K: what they cost is said, and nanobanana run makes them."
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; ``emulate``'s own options only when ``command`` is ``emulate``.

    Those come from the emulator package, whose import (uvicorn, the renderer) costs a
    quarter of a second that ``--help``, ``run`` and the agent's ``wait`` need not pay.
    """
    parser = _Parser(
        prog="nanobanana",
        description="Generate slide images with Gemini image models, concurrently and within "
        "quota. `nanobanana --config FILE` is short for `nanobanana run --config FILE`.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_run_arguments(sub.add_parser("run", help="generate a deck (the main job)"))
    plan = sub.add_parser("plan", help="what a run would generate, keep and cost; sends nothing")
    _add_config(plan)
    plan.add_argument("--json", action="store_true", help="the plan as JSON")
    plan.add_argument(
        "--slides",
        action="store_true",
        help="a line per slide: what the run does with it, why, and its cost",
    )
    plan.add_argument(
        "--resume", action="store_true", help="what run --resume would do (finish the last run)"
    )
    plan.add_argument(
        "--export",
        type=export_kinds,
        default=frozenset(),
        metavar="KINDS",
        help="the exports run --export would write: pptx-editable adds its plates' cost",
    )
    _add_rerun_arguments(plan)
    _add_fix_text(plan)
    check = sub.add_parser(
        "check",
        help="read a made deck's text back and check it (extra: qa); sends nothing",
        description="Read each slide's image back (OCR) and check its text: a config's "
        'slides\' "text", else the text their prompts quote; a deck folder alone, the text '
        "the prompts its manifest keeps quote. One line per slide, then a summary. Exit 0 "
        "when every slide reads right, 1 when some miss (or have no image), 2 for bad input "
        "or without the qa extra (pip install 'nanobanana-async[qa]').",
    )
    check.add_argument(
        "target", type=Path, metavar="DIR_OR_CONFIG", help="the deck's config, or its folder"
    )
    status = sub.add_parser("status", help="one line: how the run is going, or how it ended")
    _add_followed_run(status)
    wait = sub.add_parser("wait", help="block until the run ends (or --timeout), then one line")
    _add_followed_run(wait)
    wait.add_argument(
        "--timeout",
        type=_positive_float,
        default=100.0,
        help="seconds to wait at most (default 100, under an agent's tool time limit)",
    )
    stop = sub.add_parser(
        "stop",
        help="stop a detached run (SIGTERM: requests on the wire finish), then its final line",
    )
    _add_followed_run(stop)
    stop.add_argument(
        "--timeout",
        type=_positive_float,
        default=100.0,
        help="seconds to wait for it to end (default 100)",
    )
    stop.add_argument(
        "--now",
        action="store_true",
        help="cut the requests on the wire too (a second SIGTERM), instead of saving them",
    )
    cancel = sub.add_parser("cancel", help="cancel a Batch API run's batch at the service")
    _add_progress_file(cancel)
    cancel.add_argument(
        "--config", type=Path, help="the deck whose batch to cancel (from its manifest)"
    )
    sub.add_parser("runs", help="the live and recent runs: id, line, files")
    models = sub.add_parser(
        "models",
        help="the models the endpoint serves (models.list) beside their price, sizes, status",
    )
    models.add_argument("--all", action="store_true", help="every model served, not only images")
    models.add_argument("--json", action="store_true", help="the same as one JSON document")
    _add_edit_commands(sub)
    schema = sub.add_parser("schema", help="print the config's JSON Schema")
    schema.add_argument(
        "--fields",
        action="store_true",
        help="the fields in a few short lines: which apply to the whole deck, values, defaults",
    )
    _add_export_arguments(
        sub.add_parser("export", help="a deck's folder as a PPTX and a PDF (or a contact sheet)")
    )
    mcp = sub.add_parser("mcp", help="serve the tools to an MCP client over stdio (extra: mcp)")
    mcp.add_argument(
        "--allow-endpoint",
        action="append",
        default=[],
        metavar="URL",
        help="a base_url a client's config may name (with its own api_key); repeatable",
    )
    emulate = sub.add_parser("emulate", help="serve the Gemini API emulator (no key, no cost)")
    if command == "emulate":
        from ..emulator.server import add_emulate_arguments

        add_emulate_arguments(emulate)
    return parser


def _normalise(argv: Sequence[str]) -> list[str]:
    """The original spelling, ``nanobanana --config FILE``, means ``run --config FILE``."""
    args = list(argv)
    if args and args[0] == "edit":
        # A box from a negative x (refused, saying why) is a value, not an option.
        for index, arg in enumerate(args[:-1]):
            if arg == "--region" and args[index + 1].startswith("-"):
                args[index : index + 2] = [f"--region={args[index + 1]}"]
                break
    if (
        args
        and args[0] not in SUBCOMMANDS
        and any(a == "--config" or a.startswith("--config=") for a in args)
    ):
        return ["run", *args]
    return args


def _run_slide(args: argparse.Namespace, only: frozenset[int], send: bool) -> int:
    """``run`` of ``args`` (parsed as ``run``'s), on the slides ``only``."""
    from .dry_run import run_env
    from .run import run_command
    from .runs import run_files

    args.config = args.config_file
    env = run_env(False)
    files = run_files(args, env)
    args.progress_file, args.results_file = files.progress_file, files.results_file
    if files.own:
        print(f"nanobanana: notice: {files.notice()}", file=sys.stderr)
    return run_command(args, env, files.config, only=only, send=send)


def main(argv: Sequence[str] | None = None) -> int:
    argv = _normalise(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.command in ("run", "plan"):
        if args.config is None:
            args.config = args.config_file
        elif args.config_file is not None and args.config_file != args.config:
            parser.error(f"two configs given ({args.config_file} and --config {args.config})")
        if args.config is None:
            parser.error(
                f"{args.command} needs a config: nanobanana {args.command} slides.json "
                "(or --config slides.json)"
            )
    if args.command in ("run", "plan") and args.resume and (args.regenerate or args.force):
        parser.error(
            "--resume finishes the last run as it was asked; it does not go with "
            "--regenerate/--force"
        )
    if args.command == "plan":
        from .plan import plan_command

        return plan_command(
            args.config,
            as_json=args.json,
            regenerate=args.regenerate,
            force=args.force,
            resume=args.resume,
            slides=args.slides,
            editable="pptx-editable" in args.export,
            fix_text=args.fix_text,
        )
    if args.command == "run" and args.dry_run:
        from .plan import plan_command

        return plan_command(
            args.config,
            as_json=False,
            regenerate=args.regenerate,
            force=args.force,
            batch_api=args.batch_api,
            resume=args.resume,
            max_cost=args.max_cost,
            fix_text=args.fix_text,
            budget=True,  # what run would refuse, a dry run refuses
            editable="pptx-editable" in args.export,
            service_tier=args.tier,
        )
    if args.command == "run":
        from .dry_run import run_env
        from .runs import run_files

        env = run_env(args.emulator)
        files = run_files(args, env)  # its config, loaded once: the run uses the same
        args.progress_file, args.results_file = files.progress_file, files.results_file
        if args.detach:
            from ..engine.fix_units import check_fix_text
            from ..errors import ConfigError
            from .detach import detach_command

            if files.config is not None:
                try:  # said here, not by a run in the background no one watches start
                    check_fix_text(files.config, args.fix_text)
                except ConfigError as error:
                    print(f"nanobanana: error: {error}", file=sys.stderr)
                    return EXIT_USAGE
            return detach_command(argv, files)
        if files.own:
            print(f"nanobanana: notice: {files.notice()}", file=sys.stderr)
        from .run import run_command

        return run_command(args, env, files.config)
    if args.command in ("status", "wait", "stop"):
        from ..errors import ConfigError
        from .runs import NoSuchRun, followed_progress_file, refused

        try:
            progress_file = followed_progress_file(args)
        except (NoSuchRun, ConfigError) as error:
            return refused(error)
        if args.command == "stop":
            from .stop import stop_command

            return stop_command(progress_file, args.timeout, now=args.now)
        from .status import status_command, wait_command

        if args.command == "status":
            return status_command(progress_file)
        return wait_command(progress_file, args.timeout)
    if args.command in ("edit", "pick"):
        from .edit import edit_command, pick_command

        def run_slide(*, only: frozenset[int], send: bool) -> int:
            run_argv = ["run", str(args.config_file)]
            for flag, value in (
                ("--progress-file", args.progress_file),
                ("--results-file", args.results_file),
            ):
                if value is not None:
                    run_argv += [flag, str(value)]
            return _run_slide(parser.parse_args(run_argv + ["--quiet"] * args.quiet), only, send)

        if args.command == "pick":
            return pick_command(args.config_file, args.slide, args.k, run_slide=run_slide)
        return edit_command(
            args.config_file,
            args.slide,
            args.instruction,
            args.region,
            undo=args.undo,
            run_slide=run_slide,
        )
    if args.command == "runs":
        from .runs import runs_command

        return runs_command()
    if args.command == "cancel":
        from .cancel import cancel_command

        return cancel_command(args.progress_file, args.config)
    if args.command == "schema":
        import orjson

        from ..config.loading import config_schema

        if args.fields:
            print("\n".join(field_lines()))
            return EXIT_OK
        sys.stdout.buffer.write(orjson.dumps(config_schema(), option=orjson.OPT_INDENT_2) + b"\n")
        return EXIT_OK
    if args.command == "models":
        from .models import models_command

        return models_command(show_all=args.all, as_json=args.json)
    if args.command == "check":
        from .check import check_command

        return check_command(args.target)
    if args.command == "export":
        from .export import export_command

        return export_command(
            args.output_dir,
            pptx=args.pptx,
            pdf=args.pdf,
            contact_sheet=args.contact_sheet,
            config=args.config,
            editable=args.editable,
            dry_run=args.dry_run,
            max_cost=args.max_cost,
        )
    if args.command == "mcp":
        from ..mcp.server import serve

        return serve(args.allow_endpoint)
    if args.command == "emulate":
        from ..emulator.server import run_emulate

        return run_emulate(args)
    build_parser().print_help(sys.stderr)
    return EXIT_USAGE
