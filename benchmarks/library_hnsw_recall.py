"""Why dense search is exact: how often Chroma's HNSW loses a document among near-duplicates.

The case is the one that failed in CI (tests/privacy/test_hostile_input.py):
a library holds two ordinary notes, added first, then files whose chunks are
nearly identical to each other (one very long, repetitive line each).  The
query "orchids light" has one right answer, the orchid note (cosine ~0.82;
the next chunk ~0.20).

The vectors come from Inkwell's own pipeline (a real library is built once);
then, per trial, a fresh Chroma collection is filled in the same order (notes
first, the repetitive chunks in a second upsert, as a second ``library add``
does, each step with its own client as each command is its own process) with each
HNSW configuration, and queried.  HNSW graphs are built by
several threads, so each build differs: the result is a failure rate.  The
exact matrix search Inkwell uses is checked on the same library.

    .venv/bin/python benchmarks/library_hnsw_recall.py --trials 200 --repeats 1,8
"""

from __future__ import annotations

import argparse
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

from library_data import write_result  # noqa: E402

from core.library import Library  # noqa: E402
from core.paths import Home  # noqa: E402

QUERY = "orchids light"
CONFIGS: dict[str, dict[str, int]] = {
    "chroma defaults (M 16, ef_construction 100, ef_search 100)": {},
    "ef_construction 200": {"ef_construction": 200},
    "ef_construction 200, max_neighbors 32": {"ef_construction": 200, "max_neighbors": 32},
    "ef_search 200": {"ef_search": 200},
}


def repetitive_line(seed: int) -> str:
    """Like the hostile-input test's long line: 15,000 short tokens cycling through 997."""
    return " ".join(f"w{(i * (seed + 1)) % 997}" for i in range(15_000)) + " linewordecho"


def build_library(root: Path, repeats: int) -> tuple[Library, Path]:
    docs = root / "docs"
    (docs / "good").mkdir(parents=True)
    (docs / "good" / "keep.md").write_text(
        "# Keep\n\nThe lighthouse keeper logs every passing ship.\n")
    (docs / "good" / "also.md").write_text("# Also\n\nOrchids need indirect light.\n")
    (docs / "bad").mkdir()
    for seed in range(repeats):
        (docs / "bad" / f"longline-{seed}.txt").write_text(repetitive_line(seed))
    library = Library(Home.resolve(root / "home").ensure().profile("default").ensure())
    library.add_job([docs / "good"]).execute()
    library.add_job([docs / "bad"]).execute()
    return library, docs / "good" / "also.md"


def hnsw_failures(first: tuple[list[str], np.ndarray], rest: tuple[list[str], np.ndarray],
                  query: np.ndarray, target: str, config: dict[str, int],
                  trials: int) -> dict[str, Any]:
    import chromadb
    from chromadb.config import Settings

    def opened(folder: str) -> Any:
        return chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))

    missed_top1 = missed_top5 = 0
    for _ in range(trials):
        with tempfile.TemporaryDirectory() as folder:
            # One client per step, as each `inkwell` command is its own process.
            client = opened(folder)
            client.get_or_create_collection(
                "recall-trial", embedding_function=None,
                configuration={"hnsw": {"space": "cosine", **config}}).upsert(
                ids=first[0], embeddings=first[1])
            client.close()
            client = opened(folder)
            col = client.get_collection("recall-trial", embedding_function=None)
            for s in range(0, len(rest[0]), 512):  # the indexer's flush size
                col.upsert(ids=rest[0][s:s + 512], embeddings=rest[1][s:s + 512])
            client.close()
            client = opened(folder)
            col = client.get_collection("recall-trial", embedding_function=None)
            top = col.query(query_embeddings=[query], n_results=5)["ids"][0]
            missed_top1 += top[0] != target
            missed_top5 += target not in top
            client.close()
    return {"trials": trials, "missed_top1": missed_top1, "missed_top5": missed_top5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", default="1,8",
                        help="repetitive files per library, comma-separated")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results"
                        / "library_hnsw_recall.json")
    args = parser.parse_args()

    rows = []
    for repeats in (int(r) for r in args.repeats.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            library, target_path = build_library(Path(tmp), repeats)
            ids, parts = [], []
            for page_ids, vectors in library.store.vectors():
                ids += page_ids
                parts.append(vectors)
            matrix = np.concatenate(parts)
            origins = {cid: row.origin for cid, row in
                       library.manifest.chunk_rows(ids).items()}
            (target,) = library.manifest.chunk_ids([str(target_path)])
            good = [i for i, cid in enumerate(ids) if "/good/" in origins[cid]]
            bad = sorted(set(range(len(ids))) - set(good))
            query = library.embedder.embed([QUERY])[0]
            cosine = matrix @ query / np.linalg.norm(matrix, axis=1) / np.linalg.norm(query)
            order = np.argsort(-cosine)
            assert ids[order[0]] == target, "the orchid note must be the exact nearest"
            exact = library.search(QUERY, k=1, retriever="dense")[0].source
            row: dict[str, Any] = {
                "repetitive_files": repeats, "chunks": len(ids),
                "target_cosine": round(float(cosine[order[0]]), 3),
                "runner_up_cosine": round(float(cosine[order[1]]), 3),
                "inkwell_exact_top1_correct": exact == str(target_path),
                "hnsw": {},
            }
            library.close()
            for name, config in CONFIGS.items():
                t0 = time.perf_counter()
                row["hnsw"][name] = hnsw_failures(
                    ([ids[i] for i in good], matrix[good]), ([ids[i] for i in bad], matrix[bad]),
                    query, target, config, args.trials)
                row["hnsw"][name]["seconds"] = round(time.perf_counter() - t0, 1)
                print(repeats, len(ids), name, row["hnsw"][name], flush=True)
            rows.append(row)
    write_result(args.out, {"benchmark": "library_hnsw_recall", "query": QUERY,
                            "machine": platform.processor() or platform.machine(),
                            "command": " ".join(sys.argv), "rows": rows})


if __name__ == "__main__":
    main()
