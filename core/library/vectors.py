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

from core.library.derived import DerivedIndex

Pages = Iterable[tuple[list[str], np.ndarray]]


class VectorIndex(DerivedIndex[Pages]):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def _build(self, source: Pages) -> list[str]:
        ids: list[str] = []
        parts: list[np.ndarray] = []
        for page_ids, vectors in source:
            ids += page_ids
            parts.append(vectors)
        matrix = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._matrix = np.ascontiguousarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)
        return ids

    def _write(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self._matrix)

    def _read(self, folder: Path) -> None:
        matrix = np.load(folder / "vectors.npy")
        if len(matrix) != len(self._ids):
            raise ValueError(f"{folder}: {len(matrix)} vectors for {len(self._ids)} ids")
        self._matrix = matrix

    def _clear(self) -> None:
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        if not self._ids or k < 1:
            return []
        query = np.asarray(vector, dtype=np.float32)
        scores = self._matrix @ (query / max(float(np.linalg.norm(query)), 1e-12))
        k = min(k, len(self._ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in top]
