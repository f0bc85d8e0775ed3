"""The ``inkwell`` command line: a thin shell over ``core``.

Global options come before the subcommand (``inkwell [--home DIR] [--profile
NAME] SUBCOMMAND ...``).  Each command group lives in its own module exposing
``register(subparsers)``; a command's handler takes the parsed arguments and a
:class:`~core.cli.context.Context` and returns an exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.errors import InkwellError
from core.privacy import install_network_guard


def build_parser() -> argparse.ArgumentParser:
    from core import __version__
    from core.cli import (
        adapter_cmd,
        doctor_cmd,
        eval_cmd,
        library_cmd,
        models_cmd,
        selftest_cmd,
        serve_cmd,
        write_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="inkwell",
        description="Inkwell: a writing assistant that learns your voice on your own machine.",
    )
    parser.add_argument("--version", action="version", version=f"inkwell {__version__}")
    parser.add_argument("--home", help="data directory (default: $INKWELL_HOME or the OS's)")
    parser.add_argument("--profile", default="default", help="profile (voice) to use")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        models_cmd, write_cmd, library_cmd, adapter_cmd, eval_cmd, doctor_cmd, selftest_cmd,
        serve_cmd,
    ):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The guard goes first: nothing below may open a connection before it is in place.
    install_network_guard()
    from core.cli.context import Context, run_handler

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "own_data_dir", False):  # selftest: its own temporary data dir
        return run_handler(args, None)
    try:
        ctx = Context.from_args(args)
    except InkwellError as exc:  # e.g. --home names a folder that is not Inkwell's
        print(f"inkwell: error: {exc}", file=sys.stderr)
        return 2
    return run_handler(args, ctx)


if __name__ == "__main__":
    sys.exit(main())
