"""The ``nanobanana`` command: argument parsing and exit codes, nothing else.

Each subcommand's work lives in the module that owns it and is imported only when that
subcommand runs, so ``nanobanana --help`` and ``nanobanana status`` start fast.

Exit codes: 0 success, 1 nothing succeeded, 2 usage or config error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 (argparse's own code too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .emulator.server import add_emulate_arguments

    parser = _Parser(
        prog="nanobanana",
        description="Generate slide images with Gemini image models, concurrently and within quota.",
    )
    parser.add_argument("--version", action="version", version=f"nanobanana {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    emulate = sub.add_parser(
        "emulate", help="serve the Gemini API emulator on loopback (no key, no cost)"
    )
    add_emulate_arguments(emulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulate":
        from .emulator.server import run_emulate

        return run_emulate(args)
    build_parser().print_help(sys.stderr)
    return EXIT_USAGE
