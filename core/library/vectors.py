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

Indexing keeps the index current in place, as it does the BM25 index
(``core.library.derived``): the vectors it just computed for the chunks it wrote
become a new *segment* (codes, scales and float32 rows), and the rows it replaced
or removed are masked as dead (``advance``).  A saved segment never changes: the
save at the end of a job writes the new segments and hard-links the others into the
new folder, so a job adding one file to a million-chunk library writes kilobytes of
rows, not the 1.5 GB matrix.  A segment a quarter dead is rewritten without its dead
rows, and small segments are merged when there are many (a search visits each).

The index is derived from Chroma and kept current by the manifest's generation;
vectors are L2-normalised when they enter it, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.library.derived import DerivedIndex, SavedPartGone, Snapshot

Pages = Iterable[tuple[list[str], np.ndarray]]

_SEGMENTS = "segments.json"
_LIVE = "live.npy"
_PARTS = ("vectors", "codes", "scales")  # a segment's files: f"{name}.{part}.npy"
SMALL_ROWS = 10_000  # a segment this small is merged with the others ...
MAX_SMALL = 8  # ... when there are more of them than this (a search visits every segment)
MAX_DEAD = 0.25  # a segment with a larger fraction of dead rows is rewritten


def shortlist(k: int) -> int:
    """How many rows the codes pick for the exact re-rank of a top ``k``."""
    return max(100, 10 * k)


@dataclass(frozen=True)
class SavedMatrix:
    """A float32 matrix as saved: where, and which file it is (so a replaced one is seen)."""

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

    def read(self) -> np.ndarray:
        """Every row (a segment being rewritten); :class:`SavedPartGone` if replaced."""
        out = np.empty(self.shape, np.float32)
        try:
            with open(self.path, "rb", buffering=0) as file:
                if _identity(os.fstat(file.fileno())) != self.identity:
                    raise SavedPartGone(f"{self.path} was replaced")
                file.seek(self.offset)
                if file.readinto(out.data) != out.nbytes:
                    raise SavedPartGone(f"{self.path} is short")
        except OSError as exc:
            raise SavedPartGone(f"{self.path}: {exc}") from exc
        return out


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class Segment:
    """Consecutive rows: row i ≈ ``codes[i] * scales[i]``; ``exact`` holds the float32 rows,
    in memory (not saved yet) or on disk.  ``name`` names its files, which never change."""

    name: str
    codes: np.ndarray  # int8 [rows, d]
    scales: np.ndarray  # float32 [rows]
    exact: np.ndarray | SavedMatrix

    @property
    def rows(self) -> int:
        return len(self.scales)

    @classmethod
    def of(cls, vectors: np.ndarray) -> Segment:
        """A new segment of these vectors, L2-normalised."""
        unit = _unit(vectors)
        codes, scales = quantise(unit)
        return cls(secrets.token_hex(8), codes, scales, unit)

    @classmethod
    def joined(cls, parts: Sequence[Segment]) -> Segment:
        """A new segment of these segments' rows, in order (their float32 rows in memory)."""
        return cls(secrets.token_hex(8), np.concatenate([p.codes for p in parts]),
                   np.concatenate([p.scales for p in parts]),
                   np.concatenate([p.all_exact() for p in parts]))

    def subset(self, indices: np.ndarray) -> Segment:
        """Rows ``indices`` of this segment (read from disk if saved), unnamed until joined."""
        return Segment("", self.codes[indices], self.scales[indices], self.all_exact()[indices])

    def exact_rows(self, indices: np.ndarray) -> np.ndarray:
        """Rows ``indices`` (sorted), exact; from the codes if the saved file was replaced
        since this index was loaded (see the module's docstring)."""
        rows = self.exact[indices] if isinstance(self.exact, np.ndarray) else (
            self.exact.rows(indices))
        return self.codes[indices] * self.scales[indices, None] if rows is None else rows

    def all_exact(self) -> np.ndarray:
        """Every float32 row (to rewrite the segment); :class:`SavedPartGone` if replaced."""
        return self.exact if isinstance(self.exact, np.ndarray) else self.exact.read()


@dataclass(frozen=True)
class Vectors:
    """Every row of the index, segment after segment, and which rows are live (a row is dead
    once its chunk was replaced or removed)."""

    segments: tuple[Segment, ...]
    live: np.ndarray  # bool per row

    @property
    def starts(self) -> np.ndarray:
        """Each segment's first row, and the row count last."""
        return np.cumsum([0, *(s.rows for s in self.segments)])


def _unit(vectors: np.ndarray) -> np.ndarray:
    """The rows L2-normalised, float32: a dot product of two is their cosine."""
    unit = np.asarray(vectors, dtype=np.float32)
    return unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)


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
    positive factor (the query's scale): what picks the shortlist.  Dead rows score -inf."""
    code, _ = quantise(query[None, :])
    parts = [np.multiply(_int8_product().run(None, {"codes": s.codes, "query": code.T})[0][:, 0],
                         s.scales, dtype=np.float32)
             for s in data.segments]
    scores = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if not data.live.all():
        scores[~data.live] = -np.inf
    return scores


class VectorIndex(DerivedIndex[Pages, Vectors]):
    """The int8 codes of the L2-normalised vectors, one row per chunk id, and the float32
    rows for the re-rank, in segments."""

    def _empty(self) -> Vectors:
        return Vectors((), np.zeros(0, bool))

    def _build(self, source: Pages) -> tuple[list[str], Vectors]:
        ids: list[str] = []
        pages = []
        for page_ids, vectors in source:  # a page at a time bounds quantising's temporaries
            ids += page_ids
            pages.append(Segment.of(vectors))
        if not pages:
            return ids, self._empty()
        return ids, Vectors((Segment.joined(pages),), np.ones(len(ids), bool))

    def change(self, added: Sequence[str], vectors: np.ndarray, removed: Iterable[str]
               ) -> Callable[[Snapshot[Vectors]], tuple[list[str], Vectors]]:
        """What indexing did, for :meth:`advance`: chunk ids written (new or replacing a chunk
        of the same id) with their vectors in the same order, and chunk ids removed."""
        return lambda snapshot: self._apply(snapshot, added, vectors, removed)

    def _apply(self, snapshot: Snapshot[Vectors], added: Sequence[str], vectors: np.ndarray,
               removed: Iterable[str]) -> tuple[list[str], Vectors]:
        ids = list(snapshot.ids)
        gone = set(removed) | set(added)  # a re-indexed chunk keeps its id
        live = snapshot.data.live.copy()
        live[[i for i, cid in enumerate(ids) if cid in gone]] = False
        segments = snapshot.data.segments
        if added:
            segments = (*segments, Segment.of(vectors))
            ids += added
            live = np.concatenate([live, np.ones(len(added), bool)])
        return self._merged(ids, Vectors(segments, live))

    def _merged(self, ids: list[str], data: Vectors) -> tuple[list[str], Vectors]:
        """Rewrite, as one segment of their live rows, every segment a quarter dead, and the
        small segments when there are many; the others stay as they are (their files too)."""
        segments, starts = data.segments, data.starts
        group = [i for i, s in enumerate(segments)
                 if not data.live[starts[i]:starts[i + 1]].mean() >= 1 - MAX_DEAD]
        small = [i for i, s in enumerate(segments) if s.rows < SMALL_ROWS]
        if len(small) > MAX_SMALL:
            group = sorted({*group, *small})
        if not group:
            return ids, data
        kept = [i for i in range(len(segments)) if i not in group]
        alive = {i: np.flatnonzero(data.live[starts[i]:starts[i + 1]]) for i in group}
        order = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in kept]
                               + [alive[i] + starts[i] for i in group]).astype(np.int64)
        merged = Segment.joined([segments[i].subset(alive[i]) for i in group])
        return [ids[j] for j in order], Vectors(
            (*(segments[i] for i in kept), *((merged,) if merged.rows else ())), data.live[order])

    def _write(self, folder: Path, data: Vectors) -> None:
        for segment in data.segments:
            if isinstance(segment.exact, np.ndarray):
                for part, array in zip(_PARTS, (segment.exact, segment.codes, segment.scales),
                                       strict=True):
                    np.save(folder / f"{segment.name}.{part}.npy", array)
                continue
            for part in _PARTS:  # saved before and unchanged since: the same files
                name = f"{segment.name}.{part}.npy"
                try:
                    os.link(segment.exact.path.parent / name, folder / name)
                except FileNotFoundError as exc:
                    raise SavedPartGone(f"{segment.exact.path.parent / name}: {exc}") from exc
                except OSError:  # a file system without hard links
                    shutil.copyfile(segment.exact.path.parent / name, folder / name)
        np.save(folder / _LIVE, data.live)
        (folder / _SEGMENTS).write_text(json.dumps([s.name for s in data.segments]),
                                        encoding="utf-8")

    def _kept(self, written: Path, data: Vectors) -> Vectors:
        """Once saved, the float32 rows are read from disk: memory keeps the codes."""
        return Vectors(tuple(
            Segment(s.name, s.codes, s.scales,
                    SavedMatrix.of(written / f"{s.name}.vectors.npy",
                                   self.folder / f"{s.name}.vectors.npy"))
            for s in data.segments), data.live)

    def _read(self, folder: Path, ids: list[str]) -> Vectors:
        segments = []
        for name in json.loads((folder / _SEGMENTS).read_text(encoding="utf-8")):
            codes = np.load(folder / f"{name}.codes.npy")
            scales = np.load(folder / f"{name}.scales.npy")
            exact = SavedMatrix.of(folder / f"{name}.vectors.npy",
                                   folder / f"{name}.vectors.npy")
            if not len(codes) == len(scales) == exact.shape[0] or (
                    codes.dtype != np.int8 or codes.shape[1:] != exact.shape[1:]):
                raise ValueError(f"{folder}: segment {name}'s files do not match")
            segments.append(Segment(name, codes, scales, exact))
        live = np.load(folder / _LIVE)
        if not len(ids) == len(live) == sum(s.rows for s in segments) or live.dtype != bool:
            raise ValueError(f"{folder}: the saved vectors do not match their {len(ids)} ids")
        return Vectors(tuple(segments), live)

    @staticmethod
    def search(index: Snapshot[Vectors], vector: np.ndarray,
               k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        ids, data = index.ids, index.data
        live = int(np.count_nonzero(data.live))
        if not live or k < 1:
            return []
        query = np.asarray(vector, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        if shortlist(k) < live:
            approximate = approximate_scores(data, query)
            candidates = np.sort(np.argpartition(-approximate, shortlist(k) - 1)[:shortlist(k)])
        else:  # every live row is re-ranked: the codes are not consulted
            candidates = np.flatnonzero(data.live)
        starts = data.starts
        bounds = np.searchsorted(candidates, starts)
        rows = np.concatenate([
            segment.exact_rows(candidates[bounds[i]:bounds[i + 1]] - starts[i])
            for i, segment in enumerate(data.segments) if bounds[i] < bounds[i + 1]])
        scores = rows @ query
        k = min(k, len(candidates))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[candidates[i]], float(scores[i])) for i in top]
