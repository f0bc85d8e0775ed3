"""Dense search at 10k / 100k / 1M chunks: the exact float32 matrix against smaller ones.

The library's dense retriever (``core.library.vectors``) multiplies the query by a matrix
of every chunk's L2-normalised 384-d vector.  At a million chunks that matrix is 1.5 GB,
over the 1 GB goal for index RAM, so two alternatives are measured beside it, each picking
a shortlist that is re-ranked exactly against the candidates' float32 rows read from the
saved matrix on disk (memory-mapped: only those rows are read): the matrix in float16 (half
the RAM; ``--shortlist`` candidates), and one sign bit per dimension (48 bytes a chunk;
Hamming distance; ``--binary-shortlist`` candidates).  Recall@5 of each is measured against
exact search.

Vectors: ``--real`` real paragraphs of the shared data embedded for real (MiniLM, as the
library does); the rest derived the way ``library_query_latency.py`` stores splices, the
normalised mean of two real paragraphs' vectors (embedding a million texts is hours of CPU
here; query latency depends on the number and spread of the vectors, not on how they were
computed).  Queries: real item titles, embedded for real (that time is reported apart).

    nice -n 10 .venv/bin/python benchmarks/library_dense_scale.py --data ../shared/data

Writes benchmarks/results/library_dense_scale.json.
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

from library_data import DEFAULT_DATA, load_paragraphs, write_result  # noqa: E402

from core.library.derived import Snapshot  # noqa: E402
from core.library.embedder import Embedder  # noqa: E402
from core.library.vectors import VectorIndex  # noqa: E402
from core.paths import Home  # noqa: E402

K = 5


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(float(np.max(ms)), 2), "n": len(ms)}


def derived_vectors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """The real vectors, then normalised means of two random real ones, ``n`` rows."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real[:n]
    for start in range(len(real), n, 100_000):
        end = min(n, start + 100_000)
        pairs = rng.integers(len(real), size=(end - start, 2))
        mean = real[pairs[:, 0]] + real[pairs[:, 1]]
        out[start:end] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    return out


def half_search(half: np.ndarray, exact_rows: np.ndarray, query: np.ndarray,
                shortlist: int) -> np.ndarray:
    """Top-K row indices: float16 scores pick a shortlist, float32 rows re-rank it."""
    import torch

    scores = torch.mv(torch.from_numpy(half), torch.from_numpy(query.astype(np.float16)))
    candidates = torch.topk(scores.float(), shortlist).indices.numpy()
    candidates.sort()  # read the memory-mapped rows in file order
    exact = exact_rows[candidates] @ query
    return candidates[np.argsort(-exact, kind="stable")[:K]]


def binary_search(codes: np.ndarray, exact_rows: np.ndarray, query: np.ndarray,
                  shortlist: int) -> np.ndarray:
    """Top-K row indices: Hamming distance of sign bits picks a shortlist, float32 re-ranks."""
    code = np.packbits(query > 0).view(np.uint64)
    distance = np.bitwise_count(codes ^ code).sum(axis=1, dtype=np.uint16)
    candidates = np.sort(np.argpartition(distance, shortlist - 1)[:shortlist])
    exact = exact_rows[candidates] @ query
    return candidates[np.argsort(-exact, kind="stable")[:K]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--real", type=int, default=3000, help="paragraphs embedded for real")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--shortlist", type=int, default=100, help="float16 candidates")
    parser.add_argument("--binary-shortlist", type=int, default=1000, help="sign-bit candidates")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_dense_scale.json")
    args = parser.parse_args()

    import torch

    paragraphs = load_paragraphs(args.data)
    rng = np.random.default_rng(0)
    chosen = [paragraphs[int(i)] for i in rng.choice(len(paragraphs), args.real, replace=False)]
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="inkwell-dense-") as tmp:
        embedder = Embedder(Home.resolve(Path(tmp) / "home").ensure().cache_dir)
        start = time.perf_counter()
        real = embedder.embed([p.text for p in chosen])
        embed_s = time.perf_counter() - start
        titles = list(dict.fromkeys(p.title for p in paragraphs))[: args.queries]
        query_ms = []
        for title in titles:
            start = time.perf_counter()
            embedder.embed([title])
            query_ms.append(1000 * (time.perf_counter() - start))
        queries = embedder.embed(titles)
        everything = derived_vectors(real, max(sizes))
        result: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "torch_threads": torch.get_num_threads()},
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "vectors": f"{args.real} real paragraphs embedded for real "
                       f"({embed_s:.0f} s); the rest normalised means of two of them",
            "query_embedding": percentiles(query_ms),
            "k": K, "shortlist": args.shortlist, "sizes": {}}
        for size in sizes:
            matrix = np.ascontiguousarray(everything[:size])
            ids = [f"c{i}" for i in range(size)]
            snapshot = Snapshot(0, ids, matrix)
            saved = Path(tmp) / f"vectors-{size}.npy"
            np.save(saved, matrix)
            on_disk = np.load(saved, mmap_mode="r")
            half = matrix.astype(np.float16)
            codes = np.packbits(matrix > 0, axis=1).view(np.uint64)
            exact_ms, half_ms, recall, bits_ms, bits_recall = [], [], [], [], []
            for query in queries:
                start = time.perf_counter()
                exact = VectorIndex.search(snapshot, query, K)
                exact_ms.append(1000 * (time.perf_counter() - start))
                start = time.perf_counter()
                found = half_search(half, on_disk, query, args.shortlist)
                half_ms.append(1000 * (time.perf_counter() - start))
                truth = {cid for cid, _ in exact}
                recall.append(len({f"c{i}" for i in found} & truth) / K)
                start = time.perf_counter()
                found = binary_search(codes, on_disk, query, args.binary_shortlist)
                bits_ms.append(1000 * (time.perf_counter() - start))
                bits_recall.append(len({f"c{i}" for i in found} & truth) / K)
            per = {
                "exact_float32": {**percentiles(exact_ms),
                                  "matrix_mb": round(matrix.nbytes / 2**20)},
                "float16_shortlist_exact_rerank": {
                    **percentiles(half_ms), "matrix_mb": round(half.nbytes / 2**20),
                    "recall_at_5": round(float(np.mean(recall)), 4)},
                "sign_bits_shortlist_exact_rerank": {
                    **percentiles(bits_ms), "codes_mb": round(codes.nbytes / 2**20),
                    "recall_at_5": round(float(np.mean(bits_recall)), 4)},
            }
            result["sizes"][str(size)] = per
            print(f"{size} chunks: exact float32 p95 {per['exact_float32']['p95_ms']} ms "
                  f"({per['exact_float32']['matrix_mb']} MB); float16 + re-rank p95 "
                  f"{per['float16_shortlist_exact_rerank']['p95_ms']} ms "
                  f"({per['float16_shortlist_exact_rerank']['matrix_mb']} MB), recall@5 "
                  f"{per['float16_shortlist_exact_rerank']['recall_at_5']}; sign bits + re-rank "
                  f"p95 {per['sign_bits_shortlist_exact_rerank']['p95_ms']} ms "
                  f"({per['sign_bits_shortlist_exact_rerank']['codes_mb']} MB), recall@5 "
                  f"{per['sign_bits_shortlist_exact_rerank']['recall_at_5']}", flush=True)
            del matrix, snapshot, half, codes, on_disk
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
