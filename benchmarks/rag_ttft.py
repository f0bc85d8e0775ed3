"""Time to first token of a RAG answer against a plain one (target: RAG <= 1.3x).

One process, one library of real writing (profile items of the shared LaMP
data, ~110 chunks), the bundled model.  The same request is timed with
``--method none`` and ``--method rag`` (k = 3), alternating, from
``Writer.prepare`` (retrieval and prompt fitting included) to the first
visible piece of text, as the Write panel sees it; then the RAG request once
more, as Regenerate sends it (its prompt is in llama.cpp's cache).  Each setting of llama.cpp's
prompt-processing threads (``n_threads_batch``) gets its own runtime, so both
settings are measured in the same run too.  Prints medians and ratios and
writes ``benchmarks/results/rag_ttft.json``.

    .venv/bin/python benchmarks/rag_ttft.py --data ../shared/data [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

from core.lamp import load_dataset, profile_item_document  # noqa: E402
from core.library import Library  # noqa: E402
from core.models import ModelRegistry  # noqa: E402
from core.paths import Home  # noqa: E402
from core.runtime import GenerationParams, ModelRuntime, default_batch_threads  # noqa: E402
from core.writer import Method, Writer, WriteRequest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "rag_ttft.json"


def first_token_s(writer: Writer, request: WriteRequest) -> tuple[float, float, int]:
    """(seconds to the first visible text, seconds of which went to prepare, prompt tokens)."""
    start = time.perf_counter()
    prepared = writer.prepare(request)
    prepared_at = time.perf_counter()
    pieces = writer.stream(prepared)
    try:
        next(pieces)
    finally:
        pieces.close()  # type: ignore[attr-defined]
    end = time.perf_counter()
    return end - start, prepared_at - start, writer.runtime.count_tokens(prepared.prompt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--task", default="title")
    ap.add_argument("--chunks", type=int, default=110, help="library size (about)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch-threads", default=f"{default_batch_threads()},{os.cpu_count()}",
                    help="n_threads_batch settings to compare (comma-separated)")
    args = ap.parse_args()

    dataset = load_dataset(args.data / "proposal_title" / "questions.json")
    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-ttft-")).ensure()
    profile = home.profile().ensure()
    library = Library(profile)
    held_out = dataset.questions[0]
    docs = []
    for question in dataset.questions[1:]:
        docs += [profile_item_document(item, dataset.task, "profile") for item in question.profile]
        if len({d.doc_id for d in docs}) >= args.chunks:
            break
    library.index_documents(docs)
    text = dataset.task.query_content(held_out.input)
    model = ModelRegistry(home).get(args.model)
    settings = sorted({int(b) for b in args.batch_threads.split(",")})
    writers = {b: Writer(home, profile, model, library, ModelRuntime(model, n_threads_batch=b))
               for b in settings}
    params = GenerationParams(max_tokens=24)
    rag = WriteRequest(text, args.task, Method.RAG, k=3, params=params)
    # "regenerate": the RAG request again at once, as the Write panel's Regenerate (or its
    # next suggestion) sends it: the prompt's evaluation is in llama.cpp's cache.
    requests = {"none": WriteRequest(text, args.task, Method.NONE, k=3, params=params),
                "rag": rag, "regenerate": rag}

    samples: dict[tuple[int, str], list[tuple[float, float, int]]] = {}
    for run in range(args.runs + 1):  # run 0 warms up (page cache, thread pools, BM25 load)
        for b, writer in writers.items():
            for method, request in requests.items():
                got = first_token_s(writer, request)
                print(f"run {run} n_threads_batch={b} {method:10}: first token "
                      f"{1000 * got[0]:.0f} ms (prepare {1000 * got[1]:.0f} ms, {got[2]} "
                      f"prompt tokens){' warm-up' if not run else ''}", flush=True)
                if run:
                    samples.setdefault((b, method), []).append(got)

    def summary(rows: list[tuple[float, float, int]]) -> dict[str, float]:
        return {"ttft_ms": 1000 * statistics.median(r[0] for r in rows),
                "prepare_ms": 1000 * statistics.median(r[1] for r in rows),
                "prompt_tokens": rows[0][2]}

    per: dict[str, Any] = {}
    for b in settings:
        none, rag, again = (summary(samples[(b, m)]) for m in requests)
        per[str(b)] = {"none": none, "rag": rag, "regenerate": again,
                       "rag_over_none": rag["ttft_ms"] / none["ttft_ms"],
                       "regenerate_over_none": again["ttft_ms"] / none["ttft_ms"]}
        print(f"n_threads_batch={b}: none {none['ttft_ms']:.0f} ms ({none['prompt_tokens']} "
              f"tokens), rag {rag['ttft_ms']:.0f} ms ({rag['prompt_tokens']} tokens, prepare "
              f"{rag['prepare_ms']:.0f} ms), regenerate {again['ttft_ms']:.0f} ms -> rag/none "
              f"{per[str(b)]['rag_over_none']:.2f}, regenerate/none "
              f"{per[str(b)]['regenerate_over_none']:.2f}", flush=True)
    result = {
        "model": model.name, "task": args.task, "k": 3, "max_tokens": 24, "runs": args.runs,
        "library_chunks": library.manifest.chunk_count(),
        "decode_threads": next(iter(writers.values())).runtime.llama.n_threads,
        "n_threads_batch": per,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in os.getloadavg()]},
        "command": "python benchmarks/rag_ttft.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    library.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
