"""Dense and hybrid search at 10k / 100k / 1M chunks: the int8 index against exact float32.

The library's dense retriever (``core.library.vectors``) keeps int8 codes of every chunk's
L2-normalised 384-d vector in RAM, picks a shortlist with them and re-ranks it exactly
against the float32 rows read from the matrix saved on disk.  Beside it in the same run,
taking turns ``--block`` queries at a time: the exact float32 matrix held in RAM (what the
library did before; 1.5 GB at a million chunks, over the 1 GB goal for index RAM).  At each size:
the built index's build time (quantising and saving included), disk, the RAM it takes
once loaded by another process, p50/p95 of both searches, recall@5 and @10 of the
library's search against exact search, and the recall a shortlist of ``--candidates``
rows would give (re-ranking is exact, so recall@k is the share of the exact top k among
the candidates).  Hybrid: the library's BM25 index over the same chunks' texts, the dense
index, and the library's fusion (``reciprocal_rank_fusion``) at the depth a hybrid search
uses; p50/p95 and the RAM of both indexes.

Chunks: ``--real`` real paragraphs of the shared data, embedded for real (MiniLM, as the
library does); beyond them, splices of two of them (first half of one, second half of
the other) as ``library_query_latency.py`` stores, whose vector is the normalised mean of
the two paragraphs' vectors (embedding a million texts is hours of CPU here).  Queries:
real item titles, embedded for real (that time is reported apart, not in the figures).

    nice -n 10 .venv/bin/python benchmarks/library_dense_scale.py --data ../shared/data

Writes benchmarks/results/library_dense_scale.json (after each size).
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.privacy import install_network_guard

install_network_guard()

from library_bm25_update import folder_mb, no_rebuild, percentiles, rss_mb  # noqa: E402
from library_data import DEFAULT_DATA, load_paragraphs, sample, write_result  # noqa: E402

from core.library.bm25 import LexicalIndex  # noqa: E402
from core.library.embedder import Embedder  # noqa: E402
from core.library.library import reciprocal_rank_fusion  # noqa: E402
from core.library.vectors import VectorIndex, approximate_scores, shortlist  # noqa: E402
from core.paths import Home  # noqa: E402

PAGE = 100_000
TIE = 1e-6  # cosines this close are a tie (float32 rounding)
PAUSE_S = 0.3  # longer than OpenBLAS's threads spin after a product


def splices(n_real: int, n: int, seed: int = 0) -> np.ndarray:
    """Rows ``n_real``..``n``: the two real paragraphs each chunk is spliced from."""
    rng = np.random.default_rng(seed)
    return rng.integers(n_real, size=(max(0, n - n_real), 2))


def splice_texts(texts: list[str], pairs: np.ndarray) -> Iterator[str]:
    for i, j in pairs:
        a, b = texts[i].split(), texts[j].split()
        yield " ".join(a[: len(a) // 2] + b[len(b) // 2:])


def pages(real: np.ndarray, pairs: np.ndarray, size: int) -> Iterator[tuple[list[str],
                                                                          np.ndarray]]:
    """(ids, vectors) of chunks 0..size, as Chroma hands them over: a page at a time."""
    for start in range(0, size, PAGE):
        end = min(size, start + PAGE)
        rows = np.empty((end - start, real.shape[1]), np.float32)
        first_splice = max(start, len(real))
        rows[: first_splice - start] = real[start:first_splice]
        chosen = pairs[first_splice - len(real): end - len(real)]
        mean = real[chosen[:, 0]] + real[chosen[:, 1]]
        rows[first_splice - start:] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
        yield [f"c{i}" for i in range(start, end)], rows


def exact_search(matrix: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """The float32 matrix in RAM, every row scored: the library's dense search before."""
    scores = matrix @ query
    top = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]


def alternating(searches: dict[str, Callable[..., object]], queries: np.ndarray,
                block: int) -> dict[str, list[float]]:
    """Milliseconds of each search over every query, the searches taking turns a block of
    queries at a time, with a pause between blocks: OpenBLAS's threads spin for a while
    after a product (the exact side's), and would take the cores from the next search."""
    ms: dict[str, list[float]] = {name: [] for name in searches}
    for first in range(0, len(queries), block):
        for name, search in searches.items():
            time.sleep(PAUSE_S)
            for query in queries[first:first + block]:
                start = time.perf_counter()
                search(query)
                ms[name].append(1000 * (time.perf_counter() - start))
    return ms


def recall(matrix: np.ndarray, query: np.ndarray, truth: list[int], found: list[int],
           k: int) -> float:
    """Share of the exact top ``k`` (``truth``) that ``found`` holds, a chunk tied with the
    exact k-th counting as a hit: splices of the same two paragraphs have the same vector,
    and either of two tied chunks is right."""
    kth = float(matrix[truth[k - 1]] @ query)
    return min(k, int(np.sum(matrix[found] @ query >= kth - TIE))) / k


def measure(size: int, real: np.ndarray, pairs: np.ndarray, texts: list[str],
            titles: list[str], queries: np.ndarray, tmp: Path,
            args: argparse.Namespace) -> dict[str, Any]:
    folder = tmp / f"vectors-{size}"
    built = VectorIndex(folder, lambda: 0)
    start = time.perf_counter()
    built.ensure(0, lambda: pages(real, pairs, size))
    build_s = time.perf_counter() - start
    del built
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    index = VectorIndex(folder, lambda: 0)  # another process's: loaded from disk
    dense = index.ensure(0, no_rebuild)
    load_s = time.perf_counter() - start
    index_rss = rss_mb() - before
    # The exact side, in RAM as before (a fresh build: one segment).
    matrix = np.concatenate([segment.all_exact() for segment in dense.data.segments])
    depth = max(4 * 5, 20)  # Library.search's depth for a hybrid top 5
    timed = {"exact": functools.partial(exact_search, matrix, k=5),
             "int8": functools.partial(VectorIndex.search, dense, k=5)}
    ms = alternating(timed, queries, args.block)
    recall5, recall10 = [], []
    candidate_recall: dict[int, list[tuple[float, float]]] = {c: [] for c in args.candidates}
    for query in queries:  # untimed: how much of the exact top 10 each search finds
        truth = exact_search(matrix, query, 10)
        got = [int(cid[1:]) for cid, _ in VectorIndex.search(dense, query, 5)]
        recall5.append(recall(matrix, query, truth, got, 5))
        got = [int(cid[1:]) for cid, _ in VectorIndex.search(dense, query, 10)]
        recall10.append(recall(matrix, query, truth, got, 10))
        approx = approximate_scores(dense.data, query)
        most = min(max(args.candidates), size)
        top = np.argpartition(-approx, most - 1)[:most]
        order = top[np.argsort(-approx[top])].tolist()
        for c in args.candidates:
            candidate_recall[c].append((recall(matrix, query, truth, order[:c], 5),
                                        recall(matrix, query, truth, order[:c], 10)))
    per: dict[str, Any] = {
        "chunks": size,
        "library_int8_rerank": {
            **percentiles(ms["int8"]), "build_seconds": round(build_s, 1),
            "load_seconds": round(load_s, 2), "disk_mb": round(folder_mb(folder)),
            "codes_and_scales_mb": round(sum(s.codes.nbytes + s.scales.nbytes
                                             for s in dense.data.segments) / 2**20),
            "rss_growth_on_load_mb": round(index_rss),
            "shortlist_k5": shortlist(5),
            "recall_at_5": round(float(np.mean(recall5)), 4),
            "recall_at_10": round(float(np.mean(recall10)), 4)},
        "exact_float32_in_ram": {**percentiles(ms["exact"]),
                                 "matrix_mb": round(matrix.nbytes / 2**20)},
        "recall_at_5_and_10_by_candidates": {
            str(c): [round(float(x), 4) for x in np.mean(r, axis=0)]
            for c, r in candidate_recall.items()},
    }
    del matrix, timed
    gc.collect()
    if args.hybrid:
        before = rss_mb()
        lexical = LexicalIndex(tmp / f"bm25-{size}", lambda: 0)
        start = time.perf_counter()
        lexical.ensure(0, lambda: _chunk_texts(texts, pairs, size))
        bm25_build_s = time.perf_counter() - start
        gc.collect()
        bm25_rss = rss_mb() - before
        words = lexical.ensure(0, no_rebuild)
        hybrid_ms = []
        time.sleep(PAUSE_S)
        for title, query in zip(titles, queries, strict=True):
            start = time.perf_counter()
            reciprocal_rank_fusion([lexical.search(words, title, depth),
                                    VectorIndex.search(dense, query, depth)])
            hybrid_ms.append(1000 * (time.perf_counter() - start))
        per["hybrid"] = {**percentiles(hybrid_ms), "depth": depth,
                         "bm25_build_seconds": round(bm25_build_s, 1),
                         "bm25_disk_mb": round(folder_mb(lexical.folder)),
                         "bm25_rss_growth_mb": round(bm25_rss),
                         "index_ram_mb": round(bm25_rss + index_rss)}
        del lexical, words
    per["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return per


def _chunk_texts(texts: list[str], pairs: np.ndarray, size: int) -> Iterator[tuple[str, str]]:
    """(chunk id, text) of chunks 0..size, in the dense index's order."""
    for i, text in enumerate(texts[:size]):
        yield f"c{i}", text
    for i, text in enumerate(splice_texts(texts, pairs[: max(0, size - len(texts))])):
        yield f"c{len(texts) + i}", text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--real", type=int, default=3000, help="paragraphs embedded for real")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--candidates", default="10,20,50,100,200",
                        help="shortlist sizes whose recall@5 and @10 are reported")
    parser.add_argument("--block", type=int, default=25,
                        help="queries one side runs before the other takes its turn")
    parser.add_argument("--no-hybrid", dest="hybrid", action="store_false")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_dense_scale.json")
    args = parser.parse_args()
    args.candidates = [int(c) for c in args.candidates.split(",")]

    paragraphs = load_paragraphs(args.data)
    chosen = sample(paragraphs, args.real, seed=0)
    texts = [p.text for p in chosen]
    sizes = [int(s) for s in args.sizes.split(",")]
    pairs = splices(len(texts), max(sizes))
    with tempfile.TemporaryDirectory(prefix="inkwell-dense-") as tmp:
        embedder = Embedder(Home.resolve(Path(tmp) / "home").ensure().cache_dir)
        start = time.perf_counter()
        real = embedder.embed(texts)
        embed_s = time.perf_counter() - start
        titles = list(dict.fromkeys(p.title for p in random.Random(1).sample(
            paragraphs, len(paragraphs))))[: args.queries]
        query_ms = []
        for title in titles:
            start = time.perf_counter()
            embedder.embed([title])
            query_ms.append(1000 * (time.perf_counter() - start))
        queries = embedder.embed(titles)
        result: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "chunks": f"{args.real} real paragraphs embedded for real ({embed_s:.0f} s); "
                      "the rest splices of two, vector the normalised mean of theirs",
            "query_embedding": percentiles(query_ms), "sizes": {}}
        for size in sizes:
            per = measure(size, real, pairs, texts, titles, queries, Path(tmp), args)
            result["sizes"][str(size)] = per
            result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            mine, exact = per["library_int8_rerank"], per["exact_float32_in_ram"]
            hybrid = per.get("hybrid", {})
            print(f"{size} chunks: int8 + re-rank p50/p95 {mine['p50_ms']}/{mine['p95_ms']} ms, "
                  f"{mine['codes_and_scales_mb']} MB codes (RSS +{mine['rss_growth_on_load_mb']}"
                  f" MB), recall@5 {mine['recall_at_5']} @10 {mine['recall_at_10']}, build "
                  f"{mine['build_seconds']} s, disk {mine['disk_mb']} MB | exact float32 "
                  f"p50/p95 {exact['p50_ms']}/{exact['p95_ms']} ms, {exact['matrix_mb']} MB | "
                  f"hybrid p50/p95 {hybrid.get('p50_ms')}/{hybrid.get('p95_ms')} ms, index RAM "
                  f"{hybrid.get('index_ram_mb')} MB", flush=True)
            write_result(args.out, result)
            for leftover in Path(tmp).glob(f"*-{size}"):
                shutil.rmtree(leftover)
    return 0


if __name__ == "__main__":
    sys.exit(main())
