"""Dense retrieval: exact cosine search over every chunk's vector, held in one matrix.

Why not Chroma's HNSW index: an approximate graph can lose a document
outright.  With many near-identical chunks (a log pasted into a note, a long
repetitive line, templated mails) hnswlib's neighbour pruning leaves other
vectors with almost no path to them: among 1,770 chunks, 1,768 of them from
eight repetitive files, a note that is by far the query's nearest neighbour
(cosine 0.77, the next 0.20) was not in HNSW's top 5 in 51 of 200 builds with
Chroma's defaults, and in 16 to 26 with a denser graph
(``benchmarks/library_hnsw_recall.py``).  For a personal library exact search
is cheap: at 100,000 chunks (a 150 MB matrix) a dense search, query embedding
included, has p95 21.4 ms on two cores (``benchmarks/library_query_latency.py``).

The matrix is derived from Chroma and kept current by the manifest's
generation (``core.library.derived``); vectors are L2-normalised when the
matrix is built, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.library.derived import DerivedIndex, Snapshot

Pages = Iterable[tuple[list[str], np.ndarray]]


class VectorIndex(DerivedIndex[Pages, np.ndarray]):
    """Its data is the matrix of L2-normalised vectors, one row per chunk id."""

    def _empty(self) -> np.ndarray:
        return np.zeros((0, 0), dtype=np.float32)

    def _build(self, source: Pages) -> tuple[list[str], np.ndarray]:
        ids: list[str] = []
        parts: list[np.ndarray] = []
        for page_ids, vectors in source:
            ids += page_ids
            parts.append(vectors)
        matrix = np.concatenate(parts) if parts else self._empty()
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return ids, np.ascontiguousarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)

    def _write(self, folder: Path, data: np.ndarray) -> None:
        np.save(folder / "vectors.npy", data)

    def _read(self, folder: Path, ids: list[str]) -> np.ndarray:
        matrix = np.load(folder / "vectors.npy")
        if len(matrix) != len(ids):
            raise ValueError(f"{folder}: {len(matrix)} vectors for {len(ids)} ids")
        return matrix

    @staticmethod
    def search(index: Snapshot[np.ndarray], vector: np.ndarray,
               k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        ids, matrix = index.ids, index.data
        if not ids or k < 1:
            return []
        query = np.asarray(vector, dtype=np.float32)
        scores = matrix @ (query / max(float(np.linalg.norm(query)), 1e-12))
        k = min(k, len(ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[i], float(scores[i])) for i in top]
