"""Query latency of ``Library.search`` at growing library sizes (query embedding included).

Builds a throw-away library per size from real paragraphs (``--data``; beyond
the ~11.6k real paragraphs, splices of two real ones), through the real
pipeline (``index_documents``: chunking, embedding, Chroma, manifest), then
times ``search(query, k=5)`` for each retriever on real queries (item titles)
and prints p50/p95.  The first query of each retriever is a warm-up and not
timed (it loads the ONNX session, Chroma's HNSW index or builds BM25, whose
times are recorded separately).  Target: p95 ≤ 50 ms at 100k chunks.

    .venv/bin/python benchmarks/library_query_latency.py --data ../shared/data \
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
    Paragraph,
    Splice,
    load_paragraphs,
    synthetic_variants_with_sources,
    write_result,
)

from core.documents import Document, content_hash  # noqa: E402
from core.library import Library  # noqa: E402
from core.library.embedder import Embedder  # noqa: E402
from core.paths import Home  # noqa: E402


class SpliceEmbedder:
    """Embeds each real paragraph once, for real; gives a splice the normalized mean of
    its two source paragraphs' vectors.

    Only the *build* of a library beyond the real paragraphs uses it: embedding
    ~90k synthetic splices would cost a quarter of an hour on two cores and tell
    nothing about query latency, which depends on the number and spread of the
    stored vectors, not on how they were computed.  Queries are embedded for real.
    """

    def __init__(self, real: Embedder, paragraphs: list[Paragraph],
                 sources: dict[str, tuple[int, int]]) -> None:
        self.real, self.paragraphs, self.sources = real, paragraphs, sources
        self._index = {p.text: i for i, p in enumerate(paragraphs)}
        self._vectors: dict[int, np.ndarray] = {}

    def _paragraph(self, i: int) -> np.ndarray:
        if i not in self._vectors:
            self._vectors[i] = self.real.embed([self.paragraphs[i].text])[0]
        return self._vectors[i]

    def prefetch(self, indices: set[int]) -> None:
        todo = sorted(i for i in indices if i not in self._vectors)
        for i, vector in zip(todo, self.real.embed([self.paragraphs[i].text for i in todo]),
                             strict=True):
            self._vectors[i] = vector

    def embed(self, texts: list[str]) -> np.ndarray:
        """Real paragraphs and splices from the per-paragraph cache; anything else (the
        pieces of a text the chunker split) embedded for real."""
        sources = [self.sources.get(t) or self._index.get(t) for t in texts]
        self.prefetch({i for s in sources if s is not None
                       for i in (s if isinstance(s, tuple) else (s,))})
        other = [t for t, s in zip(texts, sources, strict=True) if s is None]
        other_vectors = iter(self.real.embed(other)) if other else iter(())
        out = []
        for source in sources:
            if source is None:
                out.append(next(other_vectors))
            elif isinstance(source, int):
                out.append(self._paragraph(source))
            else:
                mean = self._paragraph(source[0]) + self._paragraph(source[1])
                out.append(mean / np.linalg.norm(mean))
        return np.stack(out).astype(np.float32)


class _SplicedBuild(Library):
    """The library as the build sees it: splices embedded by a :class:`SpliceEmbedder`."""

    splicer: SpliceEmbedder

    @property
    def embedder(self) -> Any:
        return self.splicer


def build(size: int, texts: list[tuple[str, Splice]], paragraphs: list[Paragraph],
          root: Path) -> tuple[Library, float]:
    """Index ``size`` texts; return the library opened the normal way, and the build time."""
    profile = Home.resolve(root).ensure().profile("bench").ensure()
    lib = _SplicedBuild(profile)
    sources = {t: s for t, s in texts[:size] if s is not None}
    lib.splicer = SpliceEmbedder(Library(profile).embedder, paragraphs, sources)
    docs = [Document(f"bench:{i}", f"bench/{i}", "", None, text, "text", content_hash(text))
            for i, (text, _) in enumerate(texts[:size])]
    start = time.perf_counter()
    for s in range(0, len(docs), 5000):
        lib.index_documents(docs[s:s + 5000])
        print(f"  indexed {min(s + 5000, len(docs))}/{len(docs)} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    lib.close()
    return Library(profile), seconds


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
    texts = synthetic_variants_with_sources(paragraphs, max(sizes))
    queries = list(dict.fromkeys(p.title for p in paragraphs))[: args.queries + 1]
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "real_paragraphs": len(paragraphs), "queries": len(queries) - 1, "k": 5,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "stored_vectors": "real paragraphs embedded; beyond them, splices stored with the "
                          "normalized mean of their two source paragraphs' vectors",
        "sizes": {}}
    for size in sizes:
        print(f"size {size}: building", flush=True)
        with tempfile.TemporaryDirectory(prefix="inkwell-latency-") as tmp:
            lib, build_s = build(size, texts, paragraphs, Path(tmp))
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
