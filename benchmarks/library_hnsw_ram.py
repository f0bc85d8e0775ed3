"""The RAM Chroma's HNSW index takes per vector, to judge it for a million-chunk library.

Fills a collection the way the library does (``ChunkStore``, cosine space, Chroma's HNSW
defaults) with ``--size`` random unit 384-d vectors (RAM does not depend on their values),
then, in a fresh process as a later search would, opens the store and measures the
resident memory its first query adds (the HNSW index loaded), and that query's time.
Also timed there: reading every vector back a page at a time (``ChunkStore.vectors``),
which is what rebuilding the dense index after a change reads.

    nice -n 10 .venv/bin/python benchmarks/library_hnsw_ram.py --size 100000

Writes benchmarks/results/library_hnsw_ram.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.privacy import install_network_guard

install_network_guard(allow_programs=[sys.executable])  # this script's own fresh process

from library_bm25_update import folder_mb, rss_mb  # noqa: E402
from library_data import write_result  # noqa: E402

from core.library.store import ChunkStore  # noqa: E402

COLLECTION = "inkwell-library-1"
DIM = 384


def no_embedder() -> Any:
    raise AssertionError("vectors are given; nothing is embedded")


def fill(folder: Path, size: int) -> float:
    """Seconds to store ``size`` vectors, a page at a time as indexing writes them."""
    rng = np.random.default_rng(0)
    store = ChunkStore(folder, COLLECTION, no_embedder)
    start = time.perf_counter()
    for first in range(0, size, 5000):
        n = min(5000, size - first)
        vectors = rng.standard_normal((n, DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.upsert([f"c{first + i}" for i in range(n)], vectors,
                     [{"origin": f"file{(first + i) // 10}"} for i in range(n)])
    store.count()
    seconds = time.perf_counter() - start
    store.close()
    return seconds


def first_query(folder: Path) -> dict[str, float]:
    """In this (fresh) process: RSS added by opening the store, then by its first query."""
    base = rss_mb()
    store = ChunkStore(folder, COLLECTION, no_embedder)
    opened = rss_mb()
    query = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    start = time.perf_counter()
    store._collection.query(query_embeddings=[query / np.linalg.norm(query)], n_results=5,
                            include=[])
    query_s = time.perf_counter() - start
    loaded = rss_mb()
    start = time.perf_counter()
    pages = [time.perf_counter()]
    for _ in store.vectors():
        pages.append(time.perf_counter())
    read_s = time.perf_counter() - start
    page_s = np.diff(pages)
    return {"open_mb": opened - base, "first_query_mb": loaded - opened,
            "first_query_s": query_s, "read_all_vectors_s": read_s,
            "read_first_page_s": float(page_s[0]), "read_last_page_s": float(page_s[-1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the fresh process
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_hnsw_ram.json")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(first_query(args.measure)))
        return 0
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_average_before": [round(x, 2) for x in os.getloadavg()], "size": args.size}
    with tempfile.TemporaryDirectory(prefix="inkwell-hnsw-") as tmp:
        folder = Path(tmp) / "chroma"
        result["fill_seconds"] = round(fill(folder, args.size), 1)
        result["disk_mb"] = round(folder_mb(folder))
        child = subprocess.run([sys.executable, __file__, "--measure", str(folder)],
                               capture_output=True, text=True, check=True)
        measured = json.loads(child.stdout.strip().splitlines()[-1])
    result.update({k: round(v, 2) for k, v in measured.items()})
    result["bytes_per_vector_loaded"] = round(measured["first_query_mb"] * 2**20 / args.size)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"{args.size} vectors: filled in {result['fill_seconds']} s, {result['disk_mb']} MB "
          f"on disk; a fresh process's first query adds {measured['first_query_mb']:.0f} MB "
          f"({result['bytes_per_vector_loaded']} bytes a vector), "
          f"{measured['first_query_s']:.2f} s; reading every vector back "
          f"{measured['read_all_vectors_s']:.1f} s")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
