"""RAG's retrieved-example length cap: time to first token and ROUGE-L, per cap, in one run.

A faster RAG that writes worse answers is no win, so each cap is judged on both.  For
each sampled dev user's newest query (a throw-away library holding exactly that query's
profile, as ``inkwell eval`` does), the same request is answered with ``--method none``,
then with ``--method rag`` (k = 3) under each cap on a retrieved example's length (and
the ``style`` prompt format, which shows only the examples' outputs), one after the
other.  Per request: time from ``Writer.prepare`` to the first visible text (as the Write
panel sees it), the part of it spent in ``prepare`` (retrieval and prompt fitting), the
prompt's tokens, and the answer's ROUGE-L against the gold answer.  No two consecutive
requests share a prompt, so each one evaluates its whole prompt (``ModelRuntime`` reuses
only an identical one).

The cap is ``build_prompt``'s ``example_chars``; this script passes each value to it the
way ``Writer.prepare`` calls it.

    nice -n 10 .venv/bin/python benchmarks/rag_example_cap.py \\
        --data ../shared/data/proposal_title --users 12 [--caps 600,300,200,120]

Writes ``benchmarks/results/rag_example_cap.json`` (every request, and the summary).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.privacy import install_network_guard  # noqa: E402

install_network_guard()

import core.writer  # noqa: E402
from core import prompts  # noqa: E402
from core.evaluation.cases import Sampling, cases_from_lamp  # noqa: E402
from core.lamp import load_dataset  # noqa: E402
from core.library import Library  # noqa: E402
from core.metrics import rouge  # noqa: E402
from core.models import ModelRegistry  # noqa: E402
from core.paths import Home  # noqa: E402
from core.runtime import GenerationParams, get_runtime  # noqa: E402
from core.writer import Method, Writer, WriteRequest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "rag_example_cap.json"


def timed_answer(writer: Writer, request: WriteRequest, cap: int) -> dict[str, Any]:
    """Seconds to the first visible text and to prepare, prompt tokens, and the whole answer."""
    core.writer.build_prompt = functools.partial(prompts.build_prompt, example_chars=cap)
    start = time.perf_counter()
    prepared = writer.prepare(request)
    prepared_at = time.perf_counter()
    pieces = writer.stream(prepared)
    first = next(pieces, "")
    first_at = time.perf_counter()
    answer = first + "".join(pieces)
    return {"ttft_s": first_at - start, "prepare_s": prepared_at - start,
            "prompt_tokens": writer.runtime.count_tokens(prepared.prompt),
            "examples": len(prepared.sources), "answer": answer}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/proposal_title"))
    ap.add_argument("--users", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--caps", default="600,300,200,120",
                    help="caps on a retrieved example's characters (comma-separated)")
    args = ap.parse_args()
    caps = [int(c) for c in args.caps.split(",")]
    default_cap = inspect.signature(prompts.build_prompt).parameters["example_chars"].default
    dataset = load_dataset(args.data / "questions.json")
    cases, described = cases_from_lamp(dataset, Sampling(users=args.users, max_queries=1,
                                                         seed=args.seed))
    task = dataset.task.name
    params = GenerationParams(max_tokens=24)
    settings = [(f"rag cap {c}", Method.RAG, "fewshot", c) for c in caps]
    settings += [(f"rag style cap {caps[0]}", Method.RAG, "style", caps[0])]
    load_before = [round(x, 2) for x in os.getloadavg()]
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Home.resolve(Path(tmp) / "home").ensure()
        model = ModelRegistry(home).get(args.model)
        runtime = get_runtime(model)
        for i, case in enumerate(cases):
            query = case.queries[0]
            profile = home.profile(f"user{i}").ensure()
            library = Library(profile)
            library.index_documents(list(query.profile))
            writer = Writer(home, profile, model, library=library, runtime=runtime)
            record: dict[str, Any] = {"id": query.id, "gold": query.gold}
            for name, method, fmt, cap in settings:
                # The plain request right before each RAG one: the pair shares the moment's
                # load, and no two consecutive prompts are the same (an identical prompt's
                # evaluation would be reused from llama.cpp's cache).
                for label, m, f in (("none before " + name, Method.NONE, "fewshot"),
                                    (name, method, fmt)):
                    got = timed_answer(writer, WriteRequest(query.input, task, m, k=3,
                                                            prompt_format=f, params=params), cap)
                    got["rouge_l"] = (rouge(got["answer"], query.gold)["rouge-L"]
                                      if got["answer"].strip() else 0.0)
                    record[label] = got
            library.close()
            records.append(record)
            print(f"[{i + 1}/{len(cases)}] {query.id}: " + "  ".join(
                f"{name} {1000 * record[name]['ttft_s']:.0f} ms/{record[name]['prompt_tokens']} "
                f"tok R {record[name]['rouge_l']:.2f}" for name, *_ in settings), flush=True)

    nones = [r[k] for r in records for k in r if k.startswith("none before")]
    summary: dict[str, Any] = {"none": {
        "ttft_ms_median": round(1000 * statistics.median(r["ttft_s"] for r in nones)),
        "prepare_ms_median": round(1000 * statistics.median(r["prepare_s"] for r in nones), 1),
        "prompt_tokens_mean": round(statistics.mean(r["prompt_tokens"] for r in nones), 1),
        "rouge_l": round(statistics.mean(r["rouge_l"] for r in nones), 4),
    }}
    plain = summary["none"]
    print(f"{'none':22} first token {plain['ttft_ms_median']:6d} ms  prompt "
          f"{plain['prompt_tokens_mean']:6.1f} tok  ROUGE-L {plain['rouge_l']:.4f}")
    for name, *_ in settings:
        rows = [r[name] for r in records]
        summary[name] = {
            "ttft_ms_median": round(1000 * statistics.median(r["ttft_s"] for r in rows)),
            "prepare_ms_median": round(1000 * statistics.median(r["prepare_s"] for r in rows), 1),
            "prompt_tokens_mean": round(statistics.mean(r["prompt_tokens"] for r in rows), 1),
            # per query, against the same query's plain request: load hits both alike
            "ttft_over_none_median": round(statistics.median(
                r[name]["ttft_s"] / r["none before " + name]["ttft_s"] for r in records), 3),
            "rouge_l": round(statistics.mean(r["rouge_l"] for r in rows), 4),
            "examples_mean": round(statistics.mean(r["examples"] for r in rows), 2),
        }
        s = summary[name]
        print(f"{name:22} first token {s['ttft_ms_median']:6d} ms  "
              f"x{s['ttft_over_none_median']:.2f}"
              f"  prompt {s['prompt_tokens_mean']:6.1f} tok  prepare {s['prepare_ms_median']} ms"
              f"  ROUGE-L {s['rouge_l']:.4f}")
    result = {
        "model": model.name, "task": task, "k": 3, "max_tokens": params.max_tokens,
        "sample": described, "caps": caps, "default_cap": default_cap,
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "command": "python benchmarks/rag_example_cap.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "summary": summary,
        "queries": records,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
