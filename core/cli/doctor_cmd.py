"""``inkwell doctor``: what is installed, where data lives, and whether the guard is on."""

from __future__ import annotations

import argparse

from core.cli.context import Context, print_json
from core.diagnostics import collect


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="versions, paths, active model, network guard, MLX/CUDA")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_doctor)


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
