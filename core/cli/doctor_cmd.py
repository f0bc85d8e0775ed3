"""The data dir as a whole: ``inkwell doctor`` (what is installed, where data lives, whether
the guard is on) and ``inkwell delete-everything`` (the Privacy panel's "Delete everything").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.context import Context, print_json
from core.diagnostics import collect, data_locations
from core.privacy import delete_everything


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="versions, paths, active model, network guard, MLX/CUDA")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_doctor)

    d = sub.add_parser(
        "delete-everything",
        help="remove the data dir: every profile's library, adapters, results; settings, logs",
    )
    d.add_argument("--yes", action="store_true", help="really delete (without it: only list)")
    d.add_argument("--json", action="store_true")
    # Not adopted first: a folder an older version used that holds other files too must
    # still be cleared of Inkwell's entries (and only of those).
    d.set_defaults(handler=_delete_everything, adopt_data_dir=False)


def _doctor(args: argparse.Namespace, ctx: Context) -> int:
    report = collect(ctx.home, ctx.profile)
    if args.json:
        print_json(report)
        return 0
    print(f"Inkwell {report['inkwell']} on Python {report['python']} ({report['platform']})")
    for name, version in report["packages"].items():
        print(f"  {name:20} {version or 'not installed'}")
    print("Paths:")
    for name, path in report["paths"].items():
        print(f"  {name:8} {path}")
    model = report["active_model"]
    print(f"Active model: {model.get('name', model.get('error'))}")
    guard = report["network_guard"]
    print(
        f"Network guard: {'on' if guard['installed'] else 'OFF'}; "
        f"refused attempts logged: {len(guard['refused_attempts'])}"
    )
    acc = report["accelerators"]
    print(
        f"CUDA: {'yes (' + acc['cuda_device'] + ')' if acc['cuda'] else 'no'}; "
        f"MLX: {'yes (' + acc['mlx_device'] + ')' if acc['mlx'] else 'no'}"
    )
    return 0


def _delete_everything(args: argparse.Namespace, ctx: Context) -> int:
    """Delete the data dir, as the desktop's Privacy panel does (``core.privacy``).

    Without ``--yes`` it only lists what would go and exits 2, so a stray command
    line cannot erase a user's adapters.  The user's own documents are never touched.
    """
    root = ctx.home.root
    places = [p for p in data_locations(ctx.home, ctx.profile) if root in Path(p["path"]).parents]
    if not args.yes:
        print(f"this would delete everything under {root}:")
        for p in places:
            print(f"  {p['what']}: {p['path']}")
        print("your own documents are not touched; run again with --yes to delete")
        return 2
    kept = delete_everything(root)
    if args.json:
        print_json({"deleted": str(root), "exists": root.exists(), "kept": kept})
    else:
        print(f"deleted everything Inkwell stored under {root}")
        if kept:
            print(f"left in place, not Inkwell's: {', '.join(kept)}")
    return 0
