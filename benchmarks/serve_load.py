"""``inkwell serve`` under a bounded load, its memory, and its latency next to ``inkwell write``.

Starts ``inkwell serve`` as a user would (a fresh process on a temporary data
dir whose library is ``--library``, default the repository's docs/), then:

1. load: ``--rounds`` rounds of ``--requests`` streamed chat completions from
   ``--clients`` concurrent clients, half of them hanging up at a random point
   (``tests/serve/load.py``, the driver the test uses); every request must be
   answered, refused busy (429) or cleanly cancelled, and the server must stay up;
   the server's RSS is read after a warm-up request and after each round;
2. latency: the same request (method, prompt, token limit, seed) as
   ``inkwell write --json`` in a fresh process — what a user of the CLI waits — and
   as one HTTP request to the running server, alternating, for ``none`` and ``rag``.

Prints a summary and writes ``benchmarks/results/serve_load.json``.

    nice -n 10 .venv/bin/python benchmarks/serve_load.py [--requests 50] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.privacy import install_network_guard

install_network_guard()

import httpx  # noqa: E402
import psutil  # noqa: E402

from core.paths import Home  # noqa: E402
from core.serve.token import load_token  # noqa: E402
from tests.serve.load import run_load  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "serve_load.json"
PROMPT = "Write two sentences on why the tests run without a network."


def inkwell(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "core", "--home", str(home), *args]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default=str(REPO / "docs"), help="folder of writing to index")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--queue", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--latency-runs", type=int, default=5)
    args = ap.parse_args()

    load_at_start = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    home = Path(tempfile.mkdtemp(prefix="inkwell-serve-bench-"))
    subprocess.run(inkwell(home, "library", "add", args.library, "--json"), env=env, check=True,
                   capture_output=True)
    token = load_token(Home.resolve(home))
    server = subprocess.Popen(inkwell(home, "serve", "--port", "0", "--queue", str(args.queue)),
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, f"the server did not start: {line!r}"
        base = match.group(0)
        install_network_guard(allow_loopback_ports=[int(match.group(1))])
        headers = {"Authorization": f"Bearer {token}"}
        proc = psutil.Process(server.pid)

        def ask(method: str, seed: int) -> float:
            model = args.model + ("+rag" if method == "rag" else "")
            started = time.perf_counter()
            reply = httpx.post(base + "/chat/completions", headers=headers, timeout=300, json={
                "model": model, "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": args.max_tokens, "seed": seed})
            reply.raise_for_status()
            return time.perf_counter() - started

        ask("rag", 0)  # warm-up: the library's indexes are opened on first use
        rss = [proc.memory_info().rss]
        rounds = []
        for i in range(args.rounds):
            report = run_load(base, token, args.model + "+rag", requests=args.requests,
                              clients=args.clients, max_tokens=args.max_tokens, seed=100 * i)
            rss.append(proc.memory_info().rss)
            assert server.poll() is None, "the server died under load"
            rounds.append(report)
            print(f"round {i + 1}: {report['outcomes']} errors={len(report['errors'])} "
                  f"wall {report['wall_s']} s, RSS {rss[-1] / 2**20:.0f} MiB")

        latency: dict[str, dict[str, float]] = {}
        for method in ("none", "rag"):
            cli, served = [], []
            for run in range(args.latency_runs):
                started = time.perf_counter()
                subprocess.run(inkwell(home, "write", "--method", method, "--max-tokens",
                                       str(args.max_tokens), "--seed", str(run), "--json", PROMPT),
                               env=env, check=True, capture_output=True)
                cli.append(time.perf_counter() - started)
                served.append(ask(method, run))
            latency[method] = {
                "inkwell_write_median_s": round(statistics.median(cli), 3),
                "serve_request_median_s": round(statistics.median(served), 3),
                "ratio_write_over_serve": round(statistics.median(cli) / statistics.median(served),
                                                1),
            }
            print(f"latency {method}: inkwell write {latency[method]['inkwell_write_median_s']} s,"
                  f" served request {latency[method]['serve_request_median_s']} s")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)

    result = {
        "command": "nice -n 10 .venv/bin/python benchmarks/serve_load.py " + " ".join(sys.argv[1:]),
        "model": args.model,
        "max_tokens": args.max_tokens,
        "queue": args.queue,
        "machine_cores": os.cpu_count(),
        # The machine's 1-minute load average when the run started and ended: other work
        # on the same cores stretches every wall time here.
        "load_average": [round(load_at_start, 1), round(os.getloadavg()[0], 1)],
        "rounds": rounds,
        "rss_mib": {
            "after_warmup": round(rss[0] / 2**20, 1),
            "after_each_round": [round(r / 2**20, 1) for r in rss[1:]],
            "growth_over_last_round": round((rss[-1] - rss[-2]) / 2**20, 1),
        },
        "latency": latency,
        "server_exit_code": server.returncode,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["rss_mib"]), f"-> {RESULTS}")
    ok = all(not r["errors"] for r in rounds) and server.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
