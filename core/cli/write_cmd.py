"""``inkwell write``: stream an answer from the local model, personalized or not."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from core.cli.context import Context, print_json
from core.errors import InkwellError
from core.jobs import CancelToken
from core.models import ModelRegistry
from core.prompts import SPECS, WRITING_TASKS
from core.runtime import ActiveAdapter, GenerationParams
from core.settings import AppSettings, ProfileSettings
from core.writer import METHODS, Method, Writer, WriteRequest, resolve_adapter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("write", help="write with the local model (streams to stdout)")
    p.add_argument("prompt", help="what to write, or the text to work on")
    p.add_argument(
        "--task",
        default="free",
        choices=sorted(SPECS),
        help=f"what kind of writing (app tasks: {', '.join(WRITING_TASKS)})",
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        help="personalization (default: the profile's recommended one, else none)",
    )
    p.add_argument("--model", help="model name (see 'inkwell models')")
    p.add_argument("--adapter", help="adapter id, a .gguf adapter file, or 'none'")
    p.add_argument("--retriever", choices=("bm25", "dense", "hybrid"))
    p.add_argument("-k", type=int, help="number of retrieved items")
    p.add_argument(
        "--format",
        dest="prompt_format",
        default="fewshot",
        choices=("fewshot", "lamp", "style"),
        help="prompt format for retrieved items",
    )
    p.add_argument("--max-tokens", type=int, help="longest answer in tokens")
    p.add_argument("--temperature", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--n",
        type=int,
        default=1,
        help="one-line tasks: offer N distinct suggestions, best first (one per line)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(handler=_write)


def _method(args: argparse.Namespace, settings: ProfileSettings) -> Method:
    if args.method:
        return Method(args.method)
    if args.adapter and args.adapter != "none":
        return Method.PEFT
    return Method(settings.recommended_method or Method.NONE)


def _write(args: argparse.Namespace, ctx: Context) -> int:
    if args.n < 1:
        raise InkwellError(f"--n {args.n}: ask for at least one suggestion")
    app = AppSettings.load(ctx.home)
    profile_settings = ProfileSettings.load(ctx.profile)
    model = ModelRegistry(ctx.home).get(args.model or app.model)
    method = _method(args, profile_settings)
    if args.adapter == "none" and method.adapts:
        raise InkwellError(f"--adapter none contradicts --method {method.value}")
    adapter = None
    if method.adapts and args.adapter:
        path = Path(args.adapter)
        adapter = (
            ActiveAdapter(path.resolve())
            if path.suffix == ".gguf" and path.exists()
            else resolve_adapter(ctx.profile, args.adapter, model)
        )
    params = GenerationParams(
        max_tokens=args.max_tokens or app.max_tokens,
        temperature=app.temperature if args.temperature is None else args.temperature,
        seed=args.seed,
    )
    writer = Writer(ctx.home, ctx.profile, model)
    prepared = writer.prepare(
        WriteRequest(
            args.prompt,
            args.task,
            method,
            adapter,
            args.retriever,
            args.k,
            args.prompt_format,
            params,
        )
    )
    cancel = CancelToken()

    def on_sigint(_sig: int, _frame: FrameType | None) -> None:
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    suggestions = []
    try:
        if args.n > 1:
            suggestions = writer.suggest(prepared, args.n, cancel)
            text = suggestions[0].text if suggestions else ""
            if not args.json:
                print("\n".join(s.text for s in suggestions))
        else:
            pieces = []
            for piece in writer.stream(prepared, cancel):
                pieces.append(piece)
                if not args.json:
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            text = "".join(pieces)
            if not args.json:
                sys.stdout.write("\n")
    finally:
        signal.signal(signal.SIGINT, previous)
    sources = [
        {"title": s.title, "date": s.date, "source": s.source, "doc_id": s.doc_id}
        for s in prepared.sources
    ]
    if args.json:
        result: dict[str, Any] = {
            "text": text,
            "answer": text,
            "method": method.value,
            "model": model.name,
            "task": prepared.spec.name,
            "adapter": str(prepared.adapter.path) if prepared.adapter else None,
            "sources": sources,
            "cancelled": cancel.cancelled,
        }
        if args.n > 1:
            result["suggestions"] = [{"text": s.text, "score": s.score} for s in suggestions]
        print_json(result)
        return 0
    for s in sources:
        print(
            f"  source: {s['title'] or '(untitled)'} ({s['date'] or 'no date'}) {s['source']}",
            file=sys.stderr,
        )
    return 130 if cancel.cancelled else 0
