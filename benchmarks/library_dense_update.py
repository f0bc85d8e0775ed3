"""The first dense search after a change, with the index updated in place versus rebuilt.

Target (issue 15, as for BM25): the first dense query after adding one file to a
100,000-chunk library as fast as any other.  It used to rebuild the whole index:
every vector read back from Chroma, quantised and saved (2.8 s of reading alone at 100k).

At each size the dense index (``core.library.vectors``) is built from the vectors of
``library_dense_scale.py``: ``--real`` real paragraphs embedded for real (MiniLM) and
splices of two whose vector is the normalised mean of theirs.  Then ``--trials`` times
one file is indexed as indexing does it: 3 new chunks and 1 older chunk rewritten
(``advance`` with their vectors, then ``persist``, once per job: the writer's time),
and the first query after it is timed (the query path, which must find the index
current; a rebuild fails the run), then the same query again (an ordinary query, taking
turns with the first).  Also: p50/p95 of ``--queries`` real item titles (their embedding
not timed, as in ``library_dense_scale.py``), what another process pays to load the saved
index and search, and in the same run the rebuild the first search used to do:
``--rebuilds`` times from vectors in memory (quantise and save), and at
``--chroma-sizes`` from a real Chroma collection of the same vectors (read, quantise,
save: exactly the path the search took), whose filling is timed apart.

    nice -n 10 .venv/bin/python benchmarks/library_dense_update.py --data ../shared/data \\
        --sizes 10000,100000 --chroma-sizes 100000

Writes benchmarks/results/library_dense_update.json (after each size).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import shutil
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

from library_bm25_update import folder_mb, no_rebuild, percentiles, rss_mb  # noqa: E402
from library_data import DEFAULT_DATA, load_paragraphs, sample, write_result  # noqa: E402
from library_dense_scale import pages, splices  # noqa: E402

from core.library.embedder import Embedder  # noqa: E402
from core.library.store import ChunkStore  # noqa: E402
from core.library.vectors import VectorIndex  # noqa: E402
from core.paths import Home  # noqa: E402

FILL_PAGE = 5_000  # vectors per upsert when filling Chroma (as library_hnsw_ram.py)


def no_embedder() -> Any:
    raise AssertionError("vectors are given; nothing is embedded")


def spliced(real: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """The vector of each splice: the normalised mean of its two paragraphs' vectors."""
    mean = real[pairs[:, 0]] + real[pairs[:, 1]]
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def chroma_rebuild(real: np.ndarray, pairs: np.ndarray, size: int,
                   tmp: Path) -> dict[str, float]:
    """The old first search after a change, for real: fill a Chroma collection with the
    index's vectors (timed apart), then rebuild the index from it as ``Library.search``
    did (every vector read back, quantised, saved)."""
    store = ChunkStore(tmp / f"chroma-{size}", "inkwell-library-1", no_embedder)
    start = time.perf_counter()
    for ids, vectors in pages(real, pairs, size):
        for first in range(0, len(ids), FILL_PAGE):
            part = ids[first:first + FILL_PAGE]
            store.upsert(part, vectors[first:first + FILL_PAGE],
                         [{"origin": f"file{i}"} for i in range(len(part))])
    fill_s = time.perf_counter() - start
    index = VectorIndex(tmp / f"rebuilt-chroma-{size}", lambda: 1)
    start = time.perf_counter()
    index.ensure(1, store.vectors)
    rebuild_s = time.perf_counter() - start
    store.close()
    return {"fill_seconds": round(fill_s, 1), "rebuild_seconds": round(rebuild_s, 2)}


def measure(size: int, real: np.ndarray, pairs: np.ndarray, queries: np.ndarray, tmp: Path,
            args: argparse.Namespace) -> dict[str, Any]:
    generation = [0]
    index = VectorIndex(tmp / f"vectors-{size}", lambda: generation[0])
    before_mb = rss_mb()
    start = time.perf_counter()
    index.ensure(0, lambda: pages(real, pairs, size))
    build_s = time.perf_counter() - start
    gc.collect()
    per: dict[str, Any] = {
        "chunks": size, "build_seconds": round(build_s, 2),
        "disk_mb": round(folder_mb(index.folder)), "rss_growth_mb": round(rss_mb() - before_mb)}
    times = []
    for query in queries:
        start = time.perf_counter()
        VectorIndex.search(index.ensure(0, no_rebuild), query, 5)
        times.append(1000 * (time.perf_counter() - start))
    per["query"] = percentiles(times)
    first, again, advance, persist = [], [], [], []
    fresh = size  # the next new chunk's number: its vector is splice ``fresh``'s
    for trial in range(args.trials):
        added = [f"c{fresh + j}" for j in range(3)] + [f"c{trial * 7 % size}"]
        vectors = spliced(real, pairs[fresh - len(real): fresh - len(real) + 4])
        fresh += 4
        start = time.perf_counter()
        index.advance(generation[0], generation[0] + 1, index.change(added, vectors, []))
        generation[0] += 1
        advance.append(1000 * (time.perf_counter() - start))
        start = time.perf_counter()
        index.persist()  # the end of the indexing job
        persist.append(1000 * (time.perf_counter() - start))
        query = queries[trial % len(queries)]
        for timed in (first, again):
            start = time.perf_counter()
            VectorIndex.search(index.ensure(generation[0], no_rebuild), query, 5)
            timed.append(1000 * (time.perf_counter() - start))
    start = time.perf_counter()
    reader = VectorIndex(index.folder, lambda: generation[0])
    VectorIndex.search(reader.ensure(generation[0], no_rebuild), queries[0], 5)
    per["other_process_load_and_query_s"] = round(time.perf_counter() - start, 3)
    per["first_query_after_add"] = percentiles(first)
    per["same_query_again"] = percentiles(again)
    per["advance_ms"] = percentiles(advance)
    per["persist_ms"] = percentiles(persist)
    per["segments_after_trials"] = len(index.ensure(generation[0], no_rebuild).data.segments)
    per["disk_mb_after_trials"] = round(folder_mb(index.folder))
    del reader, index
    gc.collect()
    rebuilds = []
    for r in range(args.rebuilds):  # from vectors in memory: quantise and save
        rebuilt = VectorIndex(tmp / f"rebuilt-{size}-{r}", lambda: 0)
        start = time.perf_counter()
        rebuilt.ensure(0, lambda: pages(real, pairs, size))
        rebuilds.append(round(time.perf_counter() - start, 2))
        del rebuilt
        gc.collect()
    per["rebuild_from_memory_s"] = rebuilds
    if size in args.chroma_sizes:
        per["rebuild_from_chroma"] = chroma_rebuild(real, pairs, size, tmp)
    old = per.get("rebuild_from_chroma", {}).get("rebuild_seconds") or min(rebuilds, default=0)
    if old:
        per["speedup_first_query_p95"] = round(1000 * old / per["first_query_after_add"]["p95_ms"])
    per["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--chroma-sizes", default="100000",
                        help="sizes at which the old rebuild reads a real Chroma collection")
    parser.add_argument("--real", type=int, default=3000, help="paragraphs embedded for real")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rebuilds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_dense_update.json")
    args = parser.parse_args()
    args.chroma_sizes = {int(s) for s in args.chroma_sizes.split(",") if s}

    paragraphs = load_paragraphs(args.data)
    texts = [p.text for p in sample(paragraphs, args.real, seed=0)]
    sizes = [int(s) for s in args.sizes.split(",")]
    if min(sizes) <= args.real:
        parser.error("every size must be larger than --real (new chunks are splices)")
    pairs = splices(len(texts), max(sizes) + 4 * args.trials)
    with tempfile.TemporaryDirectory(prefix="inkwell-dense-update-") as tmp:
        embedder = Embedder(Home.resolve(Path(tmp) / "home").ensure().cache_dir)
        real = embedder.embed(texts)
        titles = list(dict.fromkeys(p.title for p in paragraphs))[: args.queries]
        queries = embedder.embed(titles)
        result: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "chunks": f"{args.real} real paragraphs embedded for real; the rest splices of "
                      "two, vector the normalised mean of theirs",
            "file_added": "3 new chunks, and 1 older chunk replaced (its id re-written); "
                          "each trial one indexing job (advance, then persist)",
            "sizes": {}}
        for size in sizes:
            per = measure(size, real, pairs, queries, Path(tmp), args)
            result["sizes"][str(size)] = per
            result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            first, query = per["first_query_after_add"], per["query"]
            chroma = per.get("rebuild_from_chroma", {})
            print(f"{size} chunks: first query after an add p50/p95 {first['p50_ms']}/"
                  f"{first['p95_ms']} ms, ordinary p50/p95 {query['p50_ms']}/{query['p95_ms']} "
                  f"ms; writer: advance p50 {per['advance_ms']['p50_ms']} ms, persist p50 "
                  f"{per['persist_ms']['p50_ms']} ms; rebuild before: from memory "
                  f"{per['rebuild_from_memory_s']} s, from Chroma "
                  f"{chroma.get('rebuild_seconds', 'not run')} s", flush=True)
            write_result(args.out, result)
            for leftover in Path(tmp).glob(f"*-{size}*"):
                shutil.rmtree(leftover)
    return 0


if __name__ == "__main__":
    sys.exit(main())
