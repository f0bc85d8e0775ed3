"""``inkwell models``: list the bundled and added models, add a GGUF file, the catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.context import Context, print_json
from core.models import ModelRegistry
from core.settings import AppSettings

_CATALOG_HELP = "a catalog file of your own (default: the catalog shipped with Inkwell)"


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
    cat = msub.add_parser(
        "catalog", help="models Inkwell can download, with what this computer can do with each"
    )
    cat.add_argument("--json", action="store_true", help="machine-readable output")
    cat.add_argument("--catalog", type=Path, help=_CATALOG_HELP)
    cat.set_defaults(handler=_catalog)
    get = msub.add_parser(
        "get", help="download a catalog model (the only network use of Inkwell), verify, list it"
    )
    get.add_argument("name", help="the model's name in `inkwell models catalog`")
    get.add_argument(
        "--mirror", help="download from this server instead (it serves the catalog's files by "
        "name; the pinned SHA-256s still apply). Default: the Settings' mirror, if any"
    )
    get.add_argument("--catalog", type=Path, help=_CATALOG_HELP)
    get.add_argument("--json", action="store_true")
    get.set_defaults(handler=_get)


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


def _catalog(args: argparse.Namespace, ctx: Context) -> int:
    from core.catalog import catalog_rows

    rows = catalog_rows(ctx.home, args.catalog)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        mark = "installed" if r["installed"] else ""
        train = "training fits" if r["training_fits"] else "training does not fit"
        print(
            f"{r['name']:24} {r['architecture']:7} {r['size'] / 1e9:5.2f} GB  "
            f"run ~{r['ram_run_gb']:4.1f} GB ({r['runs']}), train ~{r['ram_train_gb']:4.1f} GB "
            f"({train})  {r['license']}  {mark}"
        )
        print(f"    {r['good_for']}")
    return 0


def _get(args: argparse.Namespace, ctx: Context) -> int:
    from core.catalog import DownloadJob, find_entry
    from core.jobs import StderrProgress

    entry = find_entry(args.name, args.catalog)
    mirror = args.mirror or AppSettings.load(ctx.home).model_mirror
    job = DownloadJob(ctx.home, entry, mirror=mirror)
    print(f"downloading {entry.name} ({entry.size / 1e9:.2f} GB) from {job.url}", flush=True)
    job.on_progress(StderrProgress(entry.name))
    info = job.execute()  # Ctrl-C ends the download process; `get` again resumes
    if args.json:
        print_json(info.to_json())
    else:
        print(f"verified (SHA-256 {info.sha256}) and added as {info.name}: {info.path}")
    return 0
