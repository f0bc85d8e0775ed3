"""The first BM25 search after a change, with the index updated in place versus rebuilt.

Target: p95 <= 50 ms for the first BM25 query after adding one file to a
100,000-chunk library (it used to rebuild the whole index: 9.6 s).

At each size, the lexical index (``core.library.bm25``) is built from real
paragraphs of the shared data (beyond the ~11.6k real ones, splices of two real
paragraphs, as in ``library_query_latency.py``): build time, disk, the RAM its
arrays take.  Then ``--trials`` times one file of 3 new chunks is added and
one older chunk replaced, as indexing does (``advance``; its time is the
writer's, not the search's), and the first query after it is timed — the
query path, which must find the index current.  Both sides in this run: the
rebuild bm25s needed after any change (tokenising every chunk again and
indexing them) is timed ``--rebuilds`` times at each size (0: not run).  Also timed: p50/p95
of ``--queries`` real queries (item titles) and loading the saved index, which
is what another process's first search after the change costs.

    .venv/bin/python benchmarks/library_bm25_update.py --data ../shared/data \\
        --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.privacy import install_network_guard

install_network_guard()

from library_data import DEFAULT_DATA, load_paragraphs, synthetic_variants, write_result  # noqa: E402

from core.library.bm25 import LexicalIndex, _stopwords, tokenize  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(float(np.max(ms)), 2), "n": len(ms)}


def bm25s_rebuild(chunks: list[tuple[str, str]]) -> float:
    """Seconds for what the bm25s index needed after any change: every chunk again."""
    import bm25s

    start = time.perf_counter()
    stopwords = _stopwords()
    retriever = bm25s.BM25()
    retriever.index([tokenize(text, stopwords) or ["<empty>"] for _, text in chunks],
                    show_progress=False)
    return time.perf_counter() - start


def no_rebuild() -> NoReturn:
    """A derived index's source where the benchmark must find the index current."""
    raise AssertionError("the search rebuilt the index")


def measure(size: int, texts: list[str], queries: list[str],
            args: argparse.Namespace) -> dict[str, Any]:
    chunks = [(f"c{i}", text) for i, text in enumerate(texts[:size])]
    extra = iter(texts[size:])
    with tempfile.TemporaryDirectory(prefix="inkwell-bm25-") as tmp:
        generation = [0]
        index = LexicalIndex(Path(tmp) / "bm25", lambda: generation[0])
        before_mb = rss_mb()
        start = time.perf_counter()
        snapshot = index.ensure(0, lambda: chunks)
        build_s = time.perf_counter() - start
        lexicon = snapshot.data
        arrays_mb = (sum(s.indptr.nbytes + s.indices.nbytes + s.counts.nbytes
                         for s in lexicon.segments)
                     + lexicon.lengths.nbytes + lexicon.live.nbytes) / 2**20
        per: dict[str, Any] = {
            "chunks": size, "build_seconds": build_s, "segments": len(lexicon.segments),
            "vocabulary": len(lexicon.vocab), "disk_mb": folder_mb(index.folder),
            "arrays_mb": arrays_mb, "rss_growth_mb": rss_mb() - before_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        times = []
        for q in queries:
            start = time.perf_counter()
            index.search(index.ensure(0, no_rebuild), q, 5)
            times.append(1000 * (time.perf_counter() - start))
        per["query"] = percentiles(times)
        first, advance, persist = [], [], []
        for trial in range(args.trials):
            added = [(f"new{trial}-{j}", next(extra)) for j in range(3)]
            added.append((f"c{trial * 7 % size}", next(extra)))  # a changed chunk
            start = time.perf_counter()
            index.advance(generation[0], generation[0] + 1, index.change(added, []))
            generation[0] += 1
            advance.append(1000 * (time.perf_counter() - start))
            query = queries[trial % len(queries)]
            start = time.perf_counter()
            index.search(index.ensure(generation[0], no_rebuild), query, 5)
            first.append(1000 * (time.perf_counter() - start))
            if trial < 5:  # what the end of an indexing job adds
                start = time.perf_counter()
                index.persist()
                persist.append(1000 * (time.perf_counter() - start))
        index.persist()
        start = time.perf_counter()
        reader = LexicalIndex(index.folder, lambda: generation[0])
        reader.search(reader.ensure(generation[0], no_rebuild), queries[0], 5)
        per["first_query_after_add"] = percentiles(first)
        per["advance_ms"] = percentiles(advance)
        per["persist_ms"] = percentiles(persist)
        per["other_process_load_and_query_s"] = time.perf_counter() - start
        per["segments_after_trials"] = len(index.ensure(generation[0], no_rebuild)
                                           .data.segments)
        rebuilds = [bm25s_rebuild(chunks) for _ in range(args.rebuilds)]
        per["bm25s_rebuild_s"] = rebuilds
        if rebuilds:
            per["speedup_first_query"] = (1000 * min(rebuilds)
                                          / per["first_query_after_add"]["p95_ms"])
    return per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rebuilds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_bm25_update.json")
    args = parser.parse_args()

    paragraphs = load_paragraphs(args.data)
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = synthetic_variants(paragraphs, max(sizes) + 4 * args.trials, seed=1)
    queries = list(dict.fromkeys(p.title for p in paragraphs))[: args.queries]
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "chunks": "real paragraphs of the shared data; beyond them, splices of two",
        "file_added": "3 new chunks, and 1 older chunk replaced (its id re-written)",
        "sizes": {}}
    for size in sizes:
        per = measure(size, texts, queries, args)
        result["sizes"][str(size)] = per
        first, query = per["first_query_after_add"], per["query"]
        print(f"{size} chunks: build {per['build_seconds']:.1f} s, {per['disk_mb']:.0f} MB "
              f"on disk, arrays {per['arrays_mb']:.0f} MB; query p95 {query['p95_ms']:.1f} ms; "
              f"first query after an add p95 {first['p95_ms']:.1f} ms (advance p95 "
              f"{per['advance_ms']['p95_ms']:.0f} ms); bm25s rebuilds "
              f"{', '.join(f'{r:.1f} s' for r in per['bm25s_rebuild_s']) or 'not run'}",
              flush=True)
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
