"""Time to first token of a RAG answer against a plain one (target: RAG <= 1.3x).

One process, one library of real writing (profile items of the shared LaMP
data, ~110 chunks), the bundled model.  Each request is timed with ``--method
none`` and ``--method rag`` (k = 3), alternating, from ``Writer.prepare``
(retrieval and prompt fitting included) to the first visible piece of text, as
the Write panel sees it, in these situations:

``cold``        nothing of the prompt evaluated before (``inkwell write``, the local API);
``typed``       the Write panel's pause in typing evaluated the prompt first
                (``Writer.prefill``, untimed: it ran while the user's hand went to Write);
``edited``      the pause came before the text's last sentence was typed: the prefill
                evaluated the text without it, so Write re-reads the text (and, if the
                retrieved examples changed with the last sentence, the whole prompt);
``paused P s``  Write came P seconds after the last keystroke, while the prefill the pause
                started (``--delay`` after it, as the panel's timer) may still be running:
                Write waits for the model it holds;
``regenerate``  the RAG request once more, as Regenerate or a further suggestion sends it.

Several held-out texts are timed; each setting of llama.cpp's prompt-processing
threads (``n_threads_batch``) gets its own runtime, so both settings are
measured in the same run too.  Prints medians and ratios and writes
``benchmarks/results/rag_ttft.json``.

    .venv/bin/python benchmarks/rag_ttft.py --data ../shared/data [--runs 3] [--queries 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
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


def first_token_s(writer: Writer, request: WriteRequest) -> tuple[float, float, int, str]:
    """(seconds to the first visible text, seconds of which went to prepare, prompt tokens,
    the prompt's head)."""
    start = time.perf_counter()
    prepared = writer.prepare(request)
    prepared_at = time.perf_counter()
    pieces = writer.stream(prepared)
    try:
        next(pieces)
    finally:
        pieces.close()  # type: ignore[attr-defined]
    end = time.perf_counter()
    return (end - start, prepared_at - start, writer.runtime.count_tokens(prepared.prompt),
            prepared.head)


def without_last_sentence(text: str) -> str:
    """The text as it stood before its last sentence (or its last fifth) was typed."""
    cut = text.rstrip().rstrip(".").rfind(". ")
    if cut > len(text) // 2:
        return text[: cut + 1]
    words = text.split()
    return " ".join(words[: len(words) * 4 // 5])


def timed(writer: Writer, request: WriteRequest, situation: str,
          delay_s: float) -> tuple[float, float, int, bool]:
    """One timing in ``situation``: (ttft s, prepare s, prompt tokens, head reused)."""
    if situation == "cold":
        return (*first_token_s(writer, request)[:3], False)
    if situation.startswith("paused"):
        pause_s = float(situation.split()[1])
        typed_at = time.perf_counter()
        prefill = threading.Timer(delay_s, writer.prefill, args=(request,))
        prefill.start()
        time.sleep(pause_s)
        assert time.perf_counter() - typed_at >= delay_s, "Write came before the prefill"
        ttft, prepare, tokens, _head = first_token_s(writer, request)
        prefill.join()
        return ttft, prepare, tokens, True
    text = request.text if situation == "typed" else without_last_sentence(request.text)
    before = writer.prefill(replace(request, text=text))
    ttft, prepare, tokens, head = first_token_s(writer, request)
    return ttft, prepare, tokens, bool(head) and before.head == head


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--task", default="title")
    ap.add_argument("--chunks", type=int, default=110, help="library size (about)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", type=int, default=3, help="held-out texts timed")
    ap.add_argument("--pauses", default="1,2",
                    help="seconds from the last keystroke to Write (comma-separated)")
    ap.add_argument("--delay", type=float, default=0.3,
                    help="the pause that starts a prefill (the Write panel's PREFILL_DELAY_MS)")
    ap.add_argument("--batch-threads", default=f"{default_batch_threads()},{os.cpu_count()}",
                    help="n_threads_batch settings to compare (comma-separated)")
    args = ap.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]

    dataset = load_dataset(args.data / "proposal_title" / "questions.json")
    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-ttft-")).ensure()
    profile = home.profile().ensure()
    library = Library(profile)
    held_out = dataset.questions[: args.queries]
    docs = []
    for question in dataset.questions[args.queries :]:
        docs += [profile_item_document(item, dataset.task, "profile") for item in question.profile]
        if len({d.doc_id for d in docs}) >= args.chunks:
            break
    library.index_documents(docs)
    texts = [dataset.task.query_content(q.input) for q in held_out]
    model = ModelRegistry(home).get(args.model)
    settings = sorted({int(b) for b in args.batch_threads.split(",")})
    writers = {b: Writer(home, profile, model, library, ModelRuntime(model, n_threads_batch=b))
               for b in settings}
    params = GenerationParams(max_tokens=24)
    situations = ["cold", "typed", "edited", *(f"paused {p}" for p in args.pauses.split(","))]

    # (threads, method, situation) -> [(ttft, prepare, tokens, head reused)]
    samples: dict[tuple[int, str, str], list[tuple[float, float, int, bool]]] = {}
    for run in range(args.runs + 1):  # run 0 warms up (page cache, thread pools, BM25 load)
        for b, writer in writers.items():
            for text in texts:
                for situation in situations:
                    for method in (Method.NONE, Method.RAG):
                        request = WriteRequest(text, args.task, method, k=3, params=params)
                        got = timed(writer, request, situation, args.delay)
                        cases = [(method.value, situation, got)]
                        if method is Method.RAG and situation == "cold":
                            again = timed(writer, request, "cold", 0)  # its prompt is cached
                            cases.append(("rag", "regenerate", again))
                        for name, where, (ttft, prep, tokens, reused) in cases:
                            print(f"run {run} threads={b} {name:4} {where:10}: first token "
                                  f"{1000 * ttft:5.0f} ms (prepare {1000 * prep:3.0f} ms, "
                                  f"{tokens} tokens{', head reused' if reused else ''})"
                                  f"{' warm-up' if not run else ''}", flush=True)
                            if run:
                                samples.setdefault((b, name, where), []).append(
                                    (ttft, prep, tokens, reused))

    def summary(rows: list[tuple[float, float, int, bool]]) -> dict[str, float]:
        return {"ttft_ms": 1000 * statistics.median(r[0] for r in rows),
                "prepare_ms": 1000 * statistics.median(r[1] for r in rows),
                "prompt_tokens": statistics.median(r[2] for r in rows),
                "head_reused": sum(r[3] for r in rows) / len(rows), "n": len(rows)}

    per: dict[str, Any] = {}
    for b in settings:
        table: dict[str, Any] = {}
        for situation in (*situations, "regenerate"):
            methods = ("rag",) if situation == "regenerate" else ("none", "rag")
            for name in methods:
                table[f"{name} {situation}"] = summary(samples[(b, name, situation)])
        cold_none = table["none cold"]["ttft_ms"]
        ratios = {
            # The target, as each situation meets it: RAG against none, both alike.
            "rag/none cold": table["rag cold"]["ttft_ms"] / cold_none,
            "rag/none typed": table["rag typed"]["ttft_ms"] / table["none typed"]["ttft_ms"],
            "rag/none edited": table["rag edited"]["ttft_ms"] / table["none edited"]["ttft_ms"],
            # What the user of the Write panel feels against a plain request sent cold.
            "rag typed/none cold": table["rag typed"]["ttft_ms"] / cold_none,
            "rag edited/none cold": table["rag edited"]["ttft_ms"] / cold_none,
            "regenerate/none cold": table["rag regenerate"]["ttft_ms"] / cold_none,
            **{f"rag {s}/none cold": table[f"rag {s}"]["ttft_ms"] / cold_none
               for s in situations if s.startswith("paused")},
        }
        per[str(b)] = {"requests": table, "ratios": ratios}
        print(f"n_threads_batch={b}:")
        for name, row in table.items():
            print(f"  {name:15} {row['ttft_ms']:6.0f} ms  prepare {row['prepare_ms']:4.0f} ms  "
                  f"{row['prompt_tokens']:4.0f} tokens  head reused {row['head_reused']:.0%}")
        for name, ratio in ratios.items():
            print(f"  {name:22} {ratio:.2f}")
    result = {
        "model": model.name, "task": args.task, "k": 3, "max_tokens": 24, "runs": args.runs,
        "queries": [q.id for q in held_out],
        "library_chunks": library.manifest.chunk_count(),
        "decode_threads": next(iter(writers.values())).runtime.llama.n_threads,
        "n_threads_batch": per,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
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
