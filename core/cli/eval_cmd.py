"""``inkwell eval`` (the paper's comparison on LaMP-format data) and ``inkwell advise``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.context import Context, print_json
from core.errors import InkwellError
from core.evaluation.cases import Sampling
from core.evaluation.runner import EvalConfig
from core.jobs import StderrProgress
from core.models import ModelRegistry
from core.settings import AppSettings
from core.writer import METHODS


def _methods(value: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in value.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise argparse.ArgumentTypeError(f"methods must be among {', '.join(METHODS)}")
    return methods


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="compare none / rag / peft / rag+peft on LaMP-format data")
    p.add_argument(
        "--data",
        required=True,
        type=Path,
        help="LaMP task folder (questions + outputs), a parent of task folders, or questions file",
    )
    p.add_argument(
        "--task", help="task name, for a questions file without an outputs file naming it"
    )
    p.add_argument(
        "--methods", type=_methods, default=METHODS, help="comma-separated (default: all four)"
    )
    p.add_argument("--model", help="model name (default: the default model)")
    p.add_argument("--retriever", choices=("bm25", "dense", "hybrid"), default="bm25")
    p.add_argument("-k", type=int, default=3, help="retrieved items per query")
    p.add_argument(
        "--format", dest="prompt_format", default="fewshot", choices=("fewshot", "lamp", "style")
    )
    p.add_argument("--users", type=int, help="evaluate a seeded random sample of N users")
    p.add_argument("--max-queries", type=int, help="at most N queries per user")
    p.add_argument(
        "--min-profile",
        type=int,
        help="only users with at least N trainable profile items (before --users samples)",
    )
    p.add_argument(
        "--fractions",
        help="train each user's adapter on the newest fractions of their profile, e.g. "
        "0.25,0.5,1.0, with the same passes over the data (--epochs, default 1), and report "
        "how PEFT's gain grows with the same user's data",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--steps", type=int, help="adapter training steps (default: scaled to the profile)"
    )
    p.add_argument("--epochs", type=float, help="adapter training epochs")
    p.add_argument(
        "--max-steps",
        type=int,
        help="cap on the scaled training steps per user (default: the app's cap, 60)",
    )
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument(
        "--out", type=Path, help="output folder (default: under the profile's eval folder)"
    )
    p.add_argument(
        "--finished-only",
        action="store_true",
        help="write the results of the users already finished and compute no more "
        "(an interim table of a long, resumable run)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run each user as a Ray task: on a local Ray started for this run, or on the "
        "cluster at ADDRESS (needs pip install 'inkwell[cluster]'; benchmark data only — "
        "the data goes to the cluster's machines)",
    )
    p.add_argument(
        "--ray-gpus",
        type=float,
        help="GPUs each user's task asks for (default: 1 where the cluster has GPUs, else 0)",
    )
    p.add_argument(
        "--ray-workers", type=int, help="CPU slots of a local Ray (default: this machine's cores)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_eval)

    a = sub.add_parser(
        "advise", help="which method helps you? measured on your own held-out writing"
    )
    a.add_argument("--model", help="model name (default: the default model)")
    a.add_argument("--json", action="store_true")
    a.add_argument(
        "--last", action="store_true", help="show the last saved advice instead of measuring again"
    )
    a.set_defaults(handler=_advise)


def _eval(args: argparse.Namespace, ctx: Context) -> int:
    from core.evaluation.fractions import evaluate_fractions, parse_fractions
    from core.evaluation.lamp_eval import dataset_files, evaluate_file

    model = ModelRegistry(ctx.home).get(args.model or AppSettings.load(ctx.home).model)
    config = EvalConfig(
        methods=args.methods,
        retriever=args.retriever,
        k=args.k,
        prompt_format=args.prompt_format,
        max_tokens=args.max_tokens,
        seed=args.seed,
        train_steps=args.steps,
        train_epochs=args.epochs,
        train_max_steps=args.max_steps,
    )
    sampling = Sampling(
        users=args.users, max_queries=args.max_queries, seed=args.seed, min_profile=args.min_profile
    )
    fractions = parse_fractions(args.fractions) if args.fractions else None
    executor = None
    if args.ray:
        from core.evaluation.distributed import RayExecutor, refuse_personal_data

        refuse_personal_data(args.data, ctx.home.root)
        address = None if args.ray == "local" else args.ray
        print(
            f"eval --ray: the benchmark data in {args.data} is sent to the Ray "
            f"{'cluster at ' + address if address else 'processes on this machine'}",
            file=sys.stderr,
        )
        executor = RayExecutor(address, num_gpus=args.ray_gpus, num_cpus=args.ray_workers)
    files = dataset_files(args.data)
    if args.task and len(files) > 1:
        raise InkwellError("--task applies to a single questions file")
    summaries = []
    for questions in files:
        name = f"{questions.parent.name}-{model.name}"
        if args.out is None:
            out = ctx.profile.ensure().eval_dir / name
        else:
            out = args.out / name if len(files) > 1 else args.out
        progress = StderrProgress(f"eval {questions.parent.name}")
        if fractions:
            summary = evaluate_fractions(
                questions,
                model,
                config,
                sampling,
                fractions,
                out,
                progress,
                task=args.task,
                finished_only=args.finished_only,
                executor=executor,
            )
        else:
            summary = evaluate_file(
                questions,
                model,
                config,
                sampling,
                out,
                progress,
                task=args.task,
                finished_only=args.finished_only,
                executor=executor,
            )
        summaries.append(summary)
        if not args.json:
            print(Path(summary["files"]["markdown"]).read_text(encoding="utf-8"))
            print(f"results: {summary['files']['json']}")
    if args.json:
        print_json(summaries if len(summaries) > 1 else summaries[0])
    return 0


def _advise(args: argparse.Namespace, ctx: Context) -> int:
    from core.evaluation.advice import AdviseJob, load_advice

    if args.last:
        saved = load_advice(ctx.profile)
        if saved is None:
            raise InkwellError(
                f"profile {ctx.profile.name!r} has no advice yet: run `inkwell advise`"
            )
        advice = saved
    else:
        model = ModelRegistry(ctx.home).get(args.model or AppSettings.load(ctx.home).model)
        job = AdviseJob(ctx.home, ctx.profile.ensure(), model)
        job.on_progress(StderrProgress("advise"))
        advice = job.execute()
    if args.json:
        print_json(advice.to_json())
        return 0
    print(f"Recommended: {advice.recommended}")
    for method, value in advice.scores.items():
        gain = advice.gains.get(method)
        print(
            f"  {method:9} ROUGE-L {value:.3f}"
            + ("" if gain is None else f"  ({gain:+.1f} % vs none)")
        )
    print(advice.explanation)
    return 0
