"""The privacy figures of ``docs/PRIVACY.md``, measured by the same sessions the tests prove.

    python -m tests.privacy.egress_report [--parts cli,desktop,canary] [--out FILE]

* ``cli`` — the CLI session of ``tests/privacy/test_zero_egress.py`` (add every
  format, train, write with each method, eval, forget) under ``strace -f``: calls
  traced, connection attempts, their address families and endpoints, non-local
  ones; then the same session in an empty network namespace: each step's exit status;
* ``desktop`` — the scripted desktop session, both ways;
* ``canary`` — ``tests/privacy/test_forget_and_delete.py``'s forget run: files and
  bytes scanned, where the canary was before forgetting and after (nowhere).

Everything comes from ``tests.privacy.pipeline`` — no second copy of a session.
Results go to ``benchmarks/results/privacy_egress.json`` (rewritten after each
part, so a long run keeps what it has measured) and to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from core.privacy import install_network_guard

install_network_guard(allow_programs=["strace", "unshare"])  # the tools that watch Inkwell

from core.fsutil import atomic_write_json, read_json  # noqa: E402
from tests.privacy.pipeline import (  # noqa: E402
    PROMPT,
    REPO,
    Inkwell,
    StepFailed,
    Tracer,
    cli_forget_canary,
    cli_pipeline,
    desktop_session,
    egress_summary,
    hit_places,
    namespaces_usable,
    strace_usable,
    unshare_wrap,
    write_corpus,
)

DEFAULT_OUT = REPO / "benchmarks" / "results" / "privacy_egress.json"


def _desktop_actions(folder: Path, corpus: dict[str, Path]) -> list[str]:
    return ["--max-tokens", "8", "--add", str(folder), "--write-rag", PROMPT,
            "--forget", str(corpus["txt"])]


def _session(kind: str, work: Path, wrap: Any) -> Inkwell:
    corpus = write_corpus(work / "corpus")
    ink = Inkwell(work / "home", wrap=wrap)
    if kind == "cli":
        cli_pipeline(ink, work / "corpus", corpus["md"])
    else:
        report = desktop_session(ink, *_desktop_actions(work / "corpus", corpus))
        if "error" in report:
            raise StepFailed(f"desktop session: {report['error']}")
    return ink


def measure_egress(kind: str, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reason = strace_usable()
    if reason is None:
        tracer = Tracer(work / "strace" / "trace")
        ink = _session(kind, work / "strace", tracer)
        out["strace"] = {**egress_summary(tracer.calls()), "steps": ink.timings()}
    else:
        out["strace"] = {"skipped": reason}
    reason = namespaces_usable()
    if reason is None:
        ink = _session(kind, work / "netns", unshare_wrap)
        out["no_network"] = {"steps_ok": sum(s.returncode == 0 for s in ink.steps),
                             "steps": ink.timings()}
    else:
        out["no_network"] = {"skipped": reason}
    return out


def measure_canary(work: Path) -> dict[str, Any]:
    run = cli_forget_canary(work)
    return {
        "before_forget": {**run.before.as_dict(), "places": sorted(hit_places(run.before,
                                                                                run.home))},
        "after_forget": run.after.as_dict(),
        "outside_data_dir": run.elsewhere.as_dict(),
        "stale_adapters": run.forgotten["stale_adapters"],
        "not_private_before_forget": run.modes_before_forget,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.privacy.egress_report")
    parser.add_argument("--parts", default="cli,desktop,canary")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    os.environ.setdefault("INKWELL_CACHE_DIR", str(REPO / ".test-cache"))
    # A run of some parts keeps the other parts' last figures.
    results: dict[str, Any] = read_json(args.out, {}) if args.out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="inkwell-privacy-") as tmp:
        for part in args.parts.split(","):
            started = time.monotonic()
            work = Path(tmp) / part
            results[part] = measure_canary(work) if part == "canary" else \
                measure_egress(part, work)
            results[part].update(
                wall_s=round(time.monotonic() - started, 1),
                when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                machine=f"{platform.platform()}, {os.cpu_count()} CPUs, load average "
                        f"{os.getloadavg()[0]:.1f} at the end",
                command=f"python -m tests.privacy.egress_report --parts {part}",
            )
            atomic_write_json(args.out, results)
            print(json.dumps({part: results[part]}, indent=2), flush=True)
    print(f"written: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
