"""Query latency of ``Library.search`` at growing library sizes (query embedding included).

Builds a throw-away library per size from real paragraphs (``--data``; beyond
the ~11.6k real paragraphs, splices of two real ones), through the real
pipeline (``index_documents``: chunking, embedding, Chroma, manifest), then
times ``search(query, k=5)`` for each retriever on real queries (item titles)
and prints p50/p95.  The first query of each retriever is a warm-up and not
timed (it loads the ONNX session, Chroma's HNSW index or builds BM25, whose
times are recorded separately).  Target: p95 ≤ 50 ms at 100k chunks.

    .venv/bin/python benchmarks/library_query_latency.py --data /work/shared/data \
        --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.privacy import install_network_guard

install_network_guard()

from library_data import (  # noqa: E402
    DEFAULT_DATA,
    load_paragraphs,
    synthetic_variants,
    write_result,
)

from core.documents import Document, content_hash  # noqa: E402
from core.library import Library  # noqa: E402
from core.paths import Home  # noqa: E402


def build(size: int, texts: list[str], root: Path) -> tuple[Library, float]:
    home = Home.resolve(root).ensure()
    lib = Library(home.profile("bench").ensure())
    docs = [Document(f"bench:{i}", f"bench/{i}", "", None, text, "text", content_hash(text))
            for i, text in enumerate(texts[:size])]
    start = time.perf_counter()
    for s in range(0, len(docs), 5000):
        lib.index_documents(docs[s:s + 5000])
        print(f"  indexed {min(s + 5000, len(docs))}/{len(docs)} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return lib, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated chunk counts (default 10000,100000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_query_latency.json")
    args = parser.parse_args()

    paragraphs = load_paragraphs(args.data)
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = synthetic_variants(paragraphs, max(sizes))
    queries = list(dict.fromkeys(p.title for p in paragraphs))[: args.queries + 1]
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "real_paragraphs": len(paragraphs), "queries": len(queries) - 1, "k": 5, "sizes": {}}
    for size in sizes:
        print(f"size {size}: building", flush=True)
        with tempfile.TemporaryDirectory(prefix="inkwell-latency-") as tmp:
            lib, build_s = build(size, texts, Path(tmp))
            chunks = lib.manifest.chunk_count()
            per: dict[str, Any] = {"chunks": chunks, "build_seconds": build_s}
            for retriever in ("bm25", "dense", "hybrid"):
                start = time.perf_counter()
                lib.search(queries[0], k=5, retriever=retriever)  # warm-up (BM25 build, loads)
                warm = time.perf_counter() - start
                times = []
                for q in queries[1:]:
                    start = time.perf_counter()
                    hits = lib.search(q, k=5, retriever=retriever)
                    times.append((time.perf_counter() - start) * 1000)
                    assert len(hits) <= 5
                per[retriever] = {"p50_ms": float(np.percentile(times, 50)),
                                  "p95_ms": float(np.percentile(times, 95)),
                                  "max_ms": float(np.max(times)), "first_query_s": warm}
                print(f"  {retriever:6} p50 {per[retriever]['p50_ms']:.1f} ms  "
                      f"p95 {per[retriever]['p95_ms']:.1f} ms  first query {warm:.2f} s",
                      flush=True)
            lib.close()
        result["sizes"][str(size)] = per
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
