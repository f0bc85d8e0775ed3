"""``inkwell selftest``: check this installation end to end, offline, in a temporary data dir."""

from __future__ import annotations

import argparse

from core.cli.context import Context


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser(
        "selftest",
        help="check this installation: model, indexing, retrieval, RAG, adapter (offline)",
        description="Runs in a new temporary data dir (or the one --home names), never the "
        "user's; exits 0 only if every step passes.",
    )
    p.add_argument(
        "--adapter",
        choices=("auto", "train", "apply", "none"),
        default="auto",
        help="train one step and apply it (train), apply a random LoRA (apply); "
        "auto: train if torch is installed",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    # No Context: it would create the user's data dir, which the self-test must not touch.
    p.set_defaults(handler=_selftest, own_data_dir=True)


def _selftest(args: argparse.Namespace, _ctx: Context | None) -> int:
    from core.selftest import run_selftest

    return run_selftest(args.home, args.adapter, args.keep)
