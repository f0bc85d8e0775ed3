"""``inkwell models``: list the bundled and added models, add a GGUF file."""

from __future__ import annotations

import argparse

from core.cli.context import Context, print_json
from core.models import ModelRegistry
from core.settings import AppSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list models; add a GGUF file of your own")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_list)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    add = msub.add_parser("add", help="add a GGUF model file (validated, referenced in place)")
    add.add_argument("file", help="path to a .gguf file")
    add.add_argument("--name", help="name to list it under (default: the file name)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=_add)
    use = msub.add_parser("use", help="make a model the default for writing")
    use.add_argument("name")
    use.set_defaults(handler=_use)


def _list(args: argparse.Namespace, ctx: Context) -> int:
    registry = ModelRegistry(ctx.home)
    active = registry.get(AppSettings.load(ctx.home).model).name
    models = registry.list()
    if args.json:
        print_json([{**m.to_json(), "active": m.name == active} for m in models])
        return 0
    for m in models:
        mark = "*" if m.name == active else " "
        template = "chat" if m.chat_template else "completion"
        print(
            f"{mark} {m.name:28} {m.architecture:10} ctx {m.context_length:<6} {template:10} "
            f"{m.size / 1e6:7.1f} MB  {m.source}  {m.path}"
        )
    return 0


def _add(args: argparse.Namespace, ctx: Context) -> int:
    info = ModelRegistry(ctx.home).add(args.file, name=args.name)
    if args.json:
        print_json(info.to_json())
    else:
        print(f"added {info.name}: {info.architecture}, context {info.context_length}, {info.path}")
    return 0


def _use(args: argparse.Namespace, ctx: Context) -> int:
    info = ModelRegistry(ctx.home).get(args.name)
    settings = AppSettings.load(ctx.home)
    settings.model = info.name
    settings.save(ctx.home)
    print(f"default model: {info.name}")
    return 0
