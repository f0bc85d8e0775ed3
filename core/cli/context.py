"""What every command handler gets: the data dir, the profile, and output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from core.errors import InkwellError, JobCancelled
from core.paths import Home, ProfilePaths
from core.privacy import install_network_guard
from core.third_party_output import send_library_output_to_log


@dataclass(frozen=True)
class Context:
    home: Home
    profile: ProfilePaths

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        home = Home.resolve(args.home)
        if getattr(args, "adopt_data_dir", True):
            home.open()  # Inkwell's own, private data dir: umask 077, modes repaired, app lock
        install_network_guard(log_file=home.logs_dir / "network-guard.log")
        send_library_output_to_log(home.logs_dir)  # the terminal shows Inkwell's progress only
        return cls(home=home, profile=home.profile(args.profile))


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def run_handler(args: argparse.Namespace, ctx: Context | None) -> int:
    """Call the subcommand's handler; turn user errors into one readable line, not a traceback."""
    try:
        return int(args.handler(args, ctx) or 0)
    except JobCancelled:
        print("inkwell: cancelled; run the same command again to resume", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninkwell: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except InkwellError as exc:
        print(f"inkwell: error: {exc}", file=sys.stderr)
        return 2
