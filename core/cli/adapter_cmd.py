"""``inkwell adapter``: train, list, verify, import and delete per-user LoRA adapters.

Training runs in a child process (``core.adapters.worker``) with progress on
stderr; Ctrl-C cancels it after a checkpoint, and the same command resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.context import Context, print_json
from core.errors import InkwellError
from core.models import ModelInfo


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser("adapter", help="train and manage your personal LoRA adapters")
    asub = p.add_subparsers(dest="adapter_command", metavar="ACTION", required=True)

    train = asub.add_parser(
        "train", help="train an adapter on your library (or a LaMP user's profile)"
    )
    train.add_argument(
        "--lamp", type=Path, metavar="FILE.json", help="LaMP questions file to train on"
    )
    train.add_argument("--user", help="user id in the LaMP file (default: the first user)")
    train.add_argument("--backend", choices=("auto", "torch", "mlx"), default="auto")
    length = train.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=float, help="passes over the data (default: scaled to its size)"
    )
    length.add_argument("--steps", type=int, help="exact number of optimizer steps")
    train.add_argument("--name", help="a name for the adapter (part of its id)")
    train.add_argument("--model", help="base model (default: the default model)")
    train.add_argument("--json", action="store_true", help="print the adapter's record as JSON")
    train.set_defaults(handler=_train)

    ls = asub.add_parser("list", help="list the adapters of this profile")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_list)

    verify = asub.add_parser("verify", help="check llama.cpp against torch logits with the adapter")
    verify.add_argument("id")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=_verify)

    imp = asub.add_parser("import", help="import a PEFT or mlx-lm adapter folder")
    imp.add_argument("dir", type=Path)
    imp.add_argument("--model", help="base model it was trained on (default: the default model)")
    imp.add_argument("--name", help="a name for the adapter (default: the folder's name)")
    imp.set_defaults(handler=_import)

    delete = asub.add_parser("delete", help="delete an adapter")
    delete.add_argument("id")
    delete.set_defaults(handler=_delete)


def _model(ctx: Context, name: str | None) -> ModelInfo:
    from core.models import ModelRegistry
    from core.settings import AppSettings

    return ModelRegistry(ctx.home).get(name or AppSettings.load(ctx.home).model)


def _train(args: argparse.Namespace, ctx: Context) -> int:
    from core.adapters.config import TrainConfig
    from core.adapters.data import examples_from_documents, examples_from_lamp_file
    from core.adapters.job import run_training_subprocess
    from core.jobs import StderrProgress

    model = _model(ctx, args.model)
    if args.lamp is not None:
        examples, user, task = examples_from_lamp_file(args.lamp, args.user)
        name = args.name or f"{task.name}-{user}"
    else:
        if args.user:
            raise InkwellError("--user only applies with --lamp FILE.json")
        from core.library import Library

        examples = examples_from_documents(Library(ctx.profile.ensure()).documents())
        name = args.name or f"{ctx.profile.name}-{model.name}"
    config = TrainConfig(epochs=args.epochs, steps=args.steps, backend=args.backend)
    record = run_training_subprocess(
        ctx.profile.ensure(), model, examples, config, name, on_progress=StderrProgress("train")
    )
    if args.json:
        print_json(record.to_json())
    else:
        val = "n/a" if record.val_loss is None else f"{record.val_loss:.3f}"
        base = "n/a" if record.val_loss_base is None else f"{record.val_loss_base:.3f}"
        print(
            f"adapter {record.id}: {record.n_train} examples, {record.steps} steps, "
            f"validation loss {val} (base {base}), {record.duration_s:.0f} s"
        )
        if record.memory:  # absent from adapters trained before the memory plan existed
            from core.adapters.memory import MemoryPlan

            print(MemoryPlan(**record.memory).describe())
        print(f'use it: inkwell write --adapter {record.id} "..."')
    return 0


def _list(args: argparse.Namespace, ctx: Context) -> int:
    from core.adapters.store import AdapterStore

    records = AdapterStore(ctx.profile.ensure()).list()
    if args.json:
        print_json([r.to_json() for r in records])
        return 0
    if not records:
        print("no adapters yet: train one with `inkwell adapter train`")
    for r in records:
        val = "" if r.val_loss is None else f" val_loss {r.val_loss:.3f}"
        print(f"{r.id:40} {r.model:24} {r.source:14} {r.created} n={r.n_train}{val}")
        if r.stale:
            print(
                f"    STALE: trained on {len(r.stale_doc_ids)} forgotten document(s); "
                "retrain with `inkwell adapter train`"
            )
    return 0


def _verify(args: argparse.Namespace, ctx: Context) -> int:
    from core.adapters.store import AdapterStore
    from core.adapters.verify import verify_adapter

    record = AdapterStore(ctx.profile.ensure()).get(args.id)
    report = verify_adapter(record, _model(ctx, record.model), ctx.home.cache_dir)
    if args.json:
        print_json(report.to_json())
    else:
        for p in report.prompts:
            top = "same" if p.same_top_strict else "same up to ties" if p.same_top else "different"
            print(
                f"{'ok  ' if p.passed else 'FAIL'} r={p.correlation:.4f} "
                f"error ratio {p.error_ratio:.2f} top-5 {top}  {p.prompt[:60]!r}"
            )
        verdict = "passed" if report.passed else "FAILED"
        print(f"parity {verdict} (llama.cpp vs torch: r >= 0.99, error ratio <= 1.5, same top-5)")
    return 0 if report.passed else 1


def _import(args: argparse.Namespace, ctx: Context) -> int:
    from core.adapters.store import AdapterStore

    record = AdapterStore(ctx.profile.ensure()).import_folder(
        args.dir, _model(ctx, args.model), args.name
    )
    print(f"imported {record.id} ({record.source}, r={record.r}, alpha={record.alpha:g})")
    return 0


def _delete(args: argparse.Namespace, ctx: Context) -> int:
    from core.adapters.store import AdapterStore

    AdapterStore(ctx.profile.ensure()).delete(args.id)
    print(f"deleted {args.id}")
    return 0
