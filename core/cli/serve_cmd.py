"""``inkwell serve``: the user's library and adapter behind an OpenAI-compatible API on loopback."""

from __future__ import annotations

import argparse
import contextlib
import sys

from core.cli.context import Context, print_json
from core.errors import InkwellError
from core.serve.app import DEFAULT_MAX_WAITING
from core.serve.server import DEFAULT_HOST


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="answer editors over the OpenAI API on this machine (loopback only)",
        description="Serve /v1/chat/completions, /v1/completions and /v1/models on loopback. "
        "Model ids: MODEL, MODEL+rag, MODEL+adapter, MODEL+rag+adapter. Every request needs "
        "the bearer token that --show-token prints.",
    )
    p.add_argument("--port", type=int, help="default: the port set in Settings (8477)")
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="a loopback address: 127.0.0.1, ::1 or localhost (both; the default)",
    )
    # Also accepted after 'serve' (the contract), besides the global --profile.
    p.add_argument("--profile", default=argparse.SUPPRESS, help="profile (voice) to serve")
    p.add_argument(
        "--queue",
        type=int,
        default=DEFAULT_MAX_WAITING,
        help="requests that may wait for a busy model; more get HTTP 429 "
        f"(default {DEFAULT_MAX_WAITING})",
    )
    p.add_argument("--show-token", action="store_true", help="print the bearer token and exit")
    p.add_argument(
        "--new-token", action="store_true", help="replace the token (give editors the new one)"
    )
    p.add_argument("--json", action="store_true", help="with --show-token: one JSON object")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, ctx: Context) -> int:
    from core.serve.token import load_token, token_file
    from core.settings import AppSettings

    app = AppSettings.load(ctx.home)
    port = app.serve_port if args.port is None else args.port
    if args.show_token or args.new_token:
        token = load_token(ctx.home, renew=args.new_token)
        if args.json:
            print_json({"token": token, "file": str(token_file(ctx.home)),
                        "base_url": f"http://127.0.0.1:{port}/v1"})
        else:
            print(token)
        return 0
    if not 0 <= port <= 65535 or args.queue < 0:
        raise InkwellError("--port must be 0-65535 and --queue 0 or more")
    from core.models import ModelRegistry
    from core.runtime import get_runtime
    from core.serve.app import Service
    from core.serve.server import InkwellServer

    server = InkwellServer(Service(ctx.home, ctx.profile, args.queue), args.host, port)
    # Load the default model now, so an editor's first request does not wait for it.
    get_runtime(ModelRegistry(ctx.home).get(app.model))
    print(f"inkwell serve: profile {ctx.profile.name!r} listening on "
          f"{' and '.join(server.urls)} (Ctrl+C stops)")
    print(f"  bearer token: 'inkwell serve --show-token' (stored in {token_file(ctx.home)})")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl+C it handled
        server.run()
    stats = server.service.stats
    print(f"inkwell serve: stopped after {stats['answered']} answers "
          f"({stats['cancelled']} cancelled by their client, {stats['busy']} turned away busy)")
    return 0
