"""``inkwell library``: add files, folders and git history; status; search; forget."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from core.cli.context import Context, print_json
from core.forget import forget
from core.jobs import Job, StderrProgress
from core.library import IndexReport, Library
from core.library.library import RETRIEVERS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("library", help="your documents: add, search, forget")
    cmds = parser.add_subparsers(dest="library_command", required=True, metavar="ACTION")

    add = cmds.add_parser("add", help="index files and folders (incremental)")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.add_argument("--json", action="store_true", help="print the report as JSON")
    add.set_defaults(handler=_add)

    git = cmds.add_parser("add-git", help="index your commit messages from a git repository")
    git.add_argument("repo", metavar="REPO")
    git.add_argument("--author", required=True, metavar="EMAIL", help="your commit e-mail")
    git.add_argument("--json", action="store_true", help="print the report as JSON")
    git.set_defaults(handler=_add_git)

    status = cmds.add_parser("status", help="counts and per-file status")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    search = cmds.add_parser("search", help="retrieve passages from your library")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    search.add_argument("--retriever", choices=RETRIEVERS, default="bm25")
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=_search)

    watch = cmds.add_parser("watch", help="index folders, then keep indexing their changes")
    watch.add_argument("folders", nargs="+", metavar="FOLDER")
    watch.set_defaults(handler=_watch)

    forget = cmds.add_parser("forget", help="remove a file, folder or repository for good")
    forget.add_argument("path", metavar="PATH")
    forget.add_argument("--json", action="store_true")
    forget.set_defaults(handler=_forget)


def _print_report(report: IndexReport, as_json: bool) -> int:
    if as_json:
        print_json(report.as_dict())
        return 0
    print(f"indexed {report.indexed} ({report.documents} documents, {report.chunks} chunks), "
          f"unchanged {report.unchanged}, removed {report.removed}, skipped {report.skipped}, "
          f"errors {report.errors}, ignored (unsupported type) {report.ignored} "
          f"in {report.seconds:.1f} s")
    for path, status, reason in report.problems:
        print(f"  {status}: {path}: {reason}")
    return 0


def _run(job: Job[IndexReport], label: str) -> IndexReport:
    job.on_progress(StderrProgress(label))
    return job.execute()


def _add(args: argparse.Namespace, ctx: Context) -> int:
    lib = Library(ctx.profile)
    try:
        return _print_report(_run(lib.add_job(args.paths), "indexing"), args.json)
    finally:
        lib.close()


def _add_git(args: argparse.Namespace, ctx: Context) -> int:
    lib = Library(ctx.profile)
    try:
        return _print_report(_run(lib.add_git_job(args.repo, args.author), "commits"), args.json)
    finally:
        lib.close()


def _watch(args: argparse.Namespace, ctx: Context) -> int:
    from core.library.watch import FolderWatcher

    lib = Library(ctx.profile)
    try:
        _print_report(_run(lib.add_job(args.folders), "indexing"), False)
        watcher = FolderWatcher(
            lib, args.folders, on_indexed=lambda r: _print_report(r, False),
            on_error=lambda message: print(f"inkwell: watch: {message}; still watching",
                                           file=sys.stderr, flush=True)).start()
        print("watching for changes; press Ctrl-C to stop", file=sys.stderr)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            watcher.stop()
    finally:
        lib.close()
    return 0


def _status(args: argparse.Namespace, ctx: Context) -> int:
    lib = Library(ctx.profile)
    try:
        status = lib.status()
    finally:
        lib.close()
    if args.json:
        print_json(status.as_dict())
        return 0
    counts = ", ".join(f"{k} {v}" for k, v in sorted(status.counts.items())) or "empty"
    print(f"library of profile {ctx.profile.name!r}: {counts}; "
          f"{status.documents} documents, {status.chunks} chunks")
    for f in status.files:
        detail = f"{f.documents} docs, {f.chunks} chunks" if f.status == "indexed" else f.reason
        print(f"  {f.status:8} {f.path}  ({detail})")
    return 0


def _search(args: argparse.Namespace, ctx: Context) -> int:
    lib = Library(ctx.profile)
    try:
        hits = lib.search(args.query, k=args.k, retriever=args.retriever)
    finally:
        lib.close()
    if args.json:
        print_json([dataclasses.asdict(hit) for hit in hits])
        return 0
    if not hits:
        print("no matches", file=sys.stderr)
    for rank, hit in enumerate(hits, 1):
        print(f"{rank}. [{hit.score:.3f}] {hit.title or '(untitled)'} — {hit.source}"
              f"{' (' + hit.date + ')' if hit.date else ''}")
        print("   " + " ".join(hit.text.split())[:300])
    return 0


def _forget(args: argparse.Namespace, ctx: Context) -> int:
    lib = Library(ctx.profile)
    try:
        (report,), stale = forget(lib, [args.path])
    finally:
        lib.close()
    if args.json:
        print_json({**report.as_dict(), "stale_adapters": stale})
        return 0
    print(f"forgot {len(report.paths)} item(s), {len(report.doc_ids)} document(s), "
          f"{report.chunks} chunk(s)")
    for path in report.paths:
        print(f"  {path}")
    if stale:
        print(f"adapters trained on them, now marked stale (retrain with `inkwell adapter "
              f"train`): {', '.join(stale)}")
    else:
        print("no adapter was trained on them")
    return 0
