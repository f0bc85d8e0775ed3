"""Dense retrieval: cosine search over every chunk's vector, exact in what it returns.

Why not Chroma's HNSW index: an approximate graph can lose a document
outright.  With many near-identical chunks (a log pasted into a note, a long
repetitive line, templated mails) hnswlib's neighbour pruning leaves other
vectors with almost no path to them: among 1,770 chunks, 1,768 of them from
eight repetitive files, a note that is by far the query's nearest neighbour
(cosine 0.77, the next 0.20) was not in HNSW's top 5 in 51 of 200 builds with
Chroma's defaults, and in 16 to 26 with a denser graph
(``benchmarks/library_hnsw_recall.py``).

Why int8 codes with an exact re-rank, not the float32 matrix in RAM: a million
chunks (a decade of mail) make a 1.5 GB float32 matrix, over the 1 GB the index may
take.  RAM holds one int8 code per dimension and a scale per row instead (a
quarter of it); onnxruntime's ``MatMulInteger`` scores every code against the
quantised query, the best ``shortlist(k)`` rows are read from the float32 matrix
saved on disk, and their exact cosines decide the order and are the scores
returned.  A row is quantised on its own scale (its largest component is ±127),
so a code's error is far below the gaps the re-rank has to close: recall against
exact search and the latencies at 10k / 100k / 1M chunks are in docs/LIBRARY.md
("A million chunks", ``benchmarks/library_dense_scale.py``).

No search keeps the saved matrix open or mapped: each re-rank opens the file, reads
its rows and closes it.  So a forget that deletes the folder leaves no mapping
serving forgotten vectors in any process, and on Windows (where an open or mapped
file cannot be deleted or replaced) a rebuild in another process can swap the folder.
A re-rank checks that the file is still the one its codes were made with; when a
rebuild or forget replaced it meanwhile, that one search scores its shortlist from
the codes (its hits are looked up in the manifest, which drops forgotten chunks),
and the next search loads the current index.

The index is derived from Chroma and kept current by the manifest's generation
(``core.library.derived``); vectors are L2-normalised when it is built, so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.library.derived import DerivedIndex, Snapshot

Pages = Iterable[tuple[list[str], np.ndarray]]

_MATRIX = "vectors.npy"
_CODES = "codes.npy"
_SCALES = "scales.npy"


def shortlist(k: int) -> int:
    """How many rows the codes pick for the exact re-rank of a top ``k``."""
    return max(100, 10 * k)


@dataclass(frozen=True)
class SavedMatrix:
    """The float32 matrix as saved: where, and which file it is (so a replaced one is seen)."""

    path: Path
    identity: tuple[int, ...]
    offset: int
    shape: tuple[int, int]

    @classmethod
    def of(cls, written: Path, path: Path) -> SavedMatrix:
        """The matrix written at ``written``, to be read at ``path`` (where it will be moved)."""
        with open(written, "rb") as file:
            version = np.lib.format.read_magic(file)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"{written}: .npy format {version}")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(file)
            if len(shape) != 2 or fortran_order or dtype != np.float32:
                raise ValueError(f"{written}: not a float32 matrix")
            return cls(path, _identity(os.fstat(file.fileno())), file.tell(),
                       (int(shape[0]), int(shape[1])))

    def rows(self, indices: np.ndarray) -> np.ndarray | None:
        """Rows ``indices`` (sorted) read from disk; None if the file is no longer this one."""
        out = np.empty((len(indices), self.shape[1]), np.float32)
        size = out.itemsize * self.shape[1]
        try:
            with open(self.path, "rb", buffering=0) as file:
                if _identity(os.fstat(file.fileno())) != self.identity:
                    return None
                for row, i in zip(out, indices, strict=True):
                    file.seek(self.offset + int(i) * size)
                    if file.readinto(row.data) != size:
                        return None
        except OSError:  # deleted by a forget, or mid-swap
            return None
        return out


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class Vectors:
    """Row i ≈ ``codes[i] * scales[i]``; ``exact`` holds the float32 rows: in memory
    (built, not saved) or on disk."""

    codes: np.ndarray  # int8 [n, d]
    scales: np.ndarray  # float32 [n]
    exact: np.ndarray | SavedMatrix


def quantise(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 codes of each row on its own scale, and the scales."""
    scales = np.maximum(np.abs(matrix).max(axis=1), 1e-12).astype(np.float32) / 127
    scaled = matrix / scales[:, None]
    return np.rint(scaled, out=scaled).astype(np.int8), scales


# The ONNX model of the product (IR 14, opset 17): one MatMulInteger node, "codes" int8
# [n, d] times "query" int8 [d, 1] gives "dots" int32 [n, 1].  Kept serialised because
# importing the onnx package to build it added 0.46 s to every searching process's start;
# tests/library/test_vectors.py builds the same graph with onnx.helper and compares.
INT8_PRODUCT_ONNX = bytes.fromhex(
    "080e3a80010a230a05636f6465730a0571756572791204646f7473220d4d61744d756c496e7465676572"
    "120b696e74385f73636f7265735a190a05636f64657312100a0e0803120a0a0312016e0a031201645a18"
    "0a057175657279120f0a0d080312090a031201640a02080162170a04646f7473120f0a0d080612090a03"
    "12016e0a02080142040a001011")


@functools.cache
def _int8_product() -> Any:
    """An onnxruntime session of :data:`INT8_PRODUCT_ONNX` (one per process)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.inter_op_num_threads = 1
    # As the embedder's session: no busy-waiting, which took the cores from the next step.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(INT8_PRODUCT_ONNX, options, providers=["CPUExecutionProvider"])


def approximate_scores(data: Vectors, query: np.ndarray) -> np.ndarray:
    """Every row's cosine to the unit vector ``query`` as the codes estimate it, times a
    positive factor (the query's scale): what picks the shortlist."""
    code, _ = quantise(query[None, :])
    dots = _int8_product().run(None, {"codes": data.codes, "query": code.T})[0]
    return np.multiply(dots[:, 0], data.scales, dtype=np.float32)


class VectorIndex(DerivedIndex[Pages, Vectors]):
    """Its data is the int8 codes of the L2-normalised vectors, one row per chunk id, and
    the float32 rows for the re-rank."""

    def _empty(self) -> Vectors:
        return Vectors(np.zeros((0, 0), np.int8), np.zeros(0, np.float32),
                       np.zeros((0, 0), np.float32))

    def _build(self, source: Pages) -> tuple[list[str], Vectors]:
        ids: list[str] = []
        units, codes, scales = [], [], []
        for page_ids, vectors in source:  # a page at a time bounds quantising's temporaries
            ids += page_ids
            unit = np.asarray(vectors, dtype=np.float32)
            unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
            page_codes, page_scales = quantise(unit)
            units.append(unit)
            codes.append(page_codes)
            scales.append(page_scales)
        if not units:
            return ids, self._empty()
        return ids, Vectors(np.concatenate(codes), np.concatenate(scales),
                            np.concatenate(units))

    def _write(self, folder: Path, data: Vectors) -> None:
        # Only a fresh build is saved (this index is never advanced in place), so the
        # float32 rows are in memory.
        assert isinstance(data.exact, np.ndarray)
        np.save(folder / _MATRIX, data.exact)
        np.save(folder / _CODES, data.codes)
        np.save(folder / _SCALES, data.scales)

    def _kept(self, written: Path, data: Vectors) -> Vectors:
        """Once saved, the float32 rows are read from disk: memory keeps the codes."""
        if not len(data.codes):
            return data
        return Vectors(data.codes, data.scales,
                       SavedMatrix.of(written / _MATRIX, self.folder / _MATRIX))

    def _read(self, folder: Path, ids: list[str]) -> Vectors:
        codes, scales = np.load(folder / _CODES), np.load(folder / _SCALES)
        exact = SavedMatrix.of(folder / _MATRIX, folder / _MATRIX)
        if not len(ids) == len(codes) == len(scales) == exact.shape[0] or (
                codes.dtype != np.int8 or codes.shape[1:] != exact.shape[1:]):
            raise ValueError(f"{folder}: the saved vectors do not match their {len(ids)} ids")
        return Vectors(codes, scales, exact)

    @staticmethod
    def search(index: Snapshot[Vectors], vector: np.ndarray,
               k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        ids, data = index.ids, index.data
        if not ids or k < 1:
            return []
        query = np.asarray(vector, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        candidates = np.arange(len(ids))
        if shortlist(k) < len(ids):
            approximate = approximate_scores(data, query)
            candidates = np.sort(np.argpartition(-approximate, shortlist(k) - 1)[:shortlist(k)])
        rows = data.exact[candidates] if isinstance(data.exact, np.ndarray) else (
            data.exact.rows(candidates))
        if rows is None:  # replaced since this index was loaded: see the module's docstring
            rows = data.codes[candidates] * data.scales[candidates, None]
        scores = rows @ query
        k = min(k, len(candidates))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[candidates[i]], float(scores[i])) for i in top]
