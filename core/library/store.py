"""The vector store: an embedded Chroma ``PersistentClient`` under the profile's library dir.

Chroma keeps ids, vectors and small metadata (document id, path, chunk index,
title, date); chunk text lives once, in the manifest.  Telemetry is off in the
client settings (and by the guard's environment), and the collection gets
Inkwell's own embedding function, so Chroma never reaches for its default
model (which it would download).

Chroma is where vectors live, not how they are searched: dense search scores every
chunk and returns exact cosines, over vectors read from here (``core.library.vectors``
says why and how).

Forgetting: deleted vectors stay in the HNSW files and deleted metadata in free
SQLite pages.  :meth:`ChunkStore.compact` therefore copies the surviving
vectors into a fresh collection, drops the old one (its segment folder goes
with it) and vacuums Chroma's SQLite file.  And hnswlib writes its element buffers
whole, unused slots included, which hold whatever the writing process freed
before (chroma-core/chroma#7688): :func:`scrub_hnsw_files` zeroes them after
every write.
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import struct
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InkwellError
from core.library.embedder import Embedder
from core.library.manifest import ChunkRow

COLLECTION_PREFIX = "inkwell-library-"
# The start of hnswlib's header.bin (chroma-core/hnswlib's persistent index, version 1):
# version, offset of level 0, capacity, live elements, bytes per element.
_HNSW_HEADER = struct.Struct("<iQQQQ")
_SCRUB_BLOCK = 1 << 20
WRITE_BATCH = 512  # chunks embedded at once: bounds the texts and vectors held in memory


def _chroma_settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False, is_persistent=True)


@functools.cache
def _embedding_function_class() -> Any:
    """Inkwell's embedder as a registered Chroma embedding function class (defined once)."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class InkwellMiniLM(EmbeddingFunction[Documents]):
        def __init__(self, get_embedder: Callable[[], Embedder] | None = None) -> None:
            self._get_embedder = get_embedder

        def __call__(self, input: Documents) -> Embeddings:
            if self._get_embedder is None:
                raise InkwellError("this Chroma collection is Inkwell's: open it through "
                                   "core.library.Library")
            return list(self._get_embedder().embed(list(input)))

        @staticmethod
        def name() -> str:
            return "inkwell-minilm-onnx"

        def get_config(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> InkwellMiniLM:
            return InkwellMiniLM()

        def default_space(self) -> Space:
            return "cosine"

        def supported_spaces(self) -> list[Space]:
            return ["cosine"]

    return InkwellMiniLM


def make_embedding_function(get_embedder: Callable[[], Embedder]) -> Any:
    """The embedding function Chroma is given: never its default (which downloads a model)."""
    return _embedding_function_class()(get_embedder)


class ChunkStore:
    def __init__(self, folder: Path, collection_name: str,
                 get_embedder: Callable[[], Embedder]) -> None:
        import chromadb

        self.folder = folder
        self._get_embedder = get_embedder
        self._client: Any = chromadb.PersistentClient(path=str(folder), settings=_chroma_settings())
        self._ef = make_embedding_function(get_embedder)
        self._collection = self._open(collection_name)
        self._max_batch = int(self._client.get_max_batch_size())

    def _open(self, name: str) -> Any:
        return self._client.get_or_create_collection(
            name=name, embedding_function=self._ef, configuration={"hnsw": {"space": "cosine"}})

    def close(self) -> None:
        """Release Chroma's system for this path (its SQLite connections, loaded HNSW index):
        processes that open many libraries (the evaluation) would otherwise keep them all."""
        self._client.close()

    @property
    def name(self) -> str:
        return str(self._collection.name)

    def count(self) -> int:
        return int(self._collection.count())

    def write(self, rows: Sequence[ChunkRow]) -> np.ndarray:
        """Embed these chunks, store their vectors with their metadata, and return the
        vectors (row i is ``rows[i]``'s: the dense index takes them from here).

        The one way chunks reach Chroma: indexing writes new chunks through it, and the
        library's repair writes back the chunks the manifest holds.
        """
        written = []
        for start in range(0, len(rows), WRITE_BATCH):
            part = rows[start:start + WRITE_BATCH]
            vectors = self._get_embedder().embed([r.text for r in part])
            self.upsert([r.chunk_id for r in part], vectors, [chunk_metadata(r) for r in part])
            written.append(np.asarray(vectors, dtype=np.float32))
        return np.concatenate(written) if written else np.zeros((0, 0), np.float32)

    def upsert(self, ids: Sequence[str], vectors: np.ndarray,
               metadatas: Sequence[dict[str, Any]]) -> None:
        """Idempotent: re-running after a crash overwrites instead of duplicating."""
        for s in range(0, len(ids), self._max_batch):
            e = s + self._max_batch
            self._collection.upsert(ids=list(ids[s:e]), embeddings=vectors[s:e],
                                    metadatas=list(metadatas[s:e]))

    def delete(self, ids: Sequence[str]) -> None:
        for s in range(0, len(ids), self._max_batch):
            self._collection.delete(ids=list(ids[s:s + self._max_batch]))

    def all_ids(self) -> set[str]:
        return {cid for page in _pages(self._collection, []) for cid in page["ids"]}

    def vectors(self) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every stored (ids, vectors), a page at a time (the exact search's source)."""
        for page in _pages(self._collection, ["embeddings"]):
            yield list(page["ids"]), np.asarray(page["embeddings"], dtype=np.float32)

    def ids_of_origins(self, origins: Sequence[str]) -> list[str]:
        """Ids of every chunk Chroma holds for these origins (including ones the manifest
        never recorded because a writer was killed)."""
        if not origins:
            return []
        got = self._collection.get(where={"origin": {"$in": list(origins)}}, include=[])
        return list(got["ids"])

    def compact(self, new_name: str) -> None:
        """Copy the live vectors into ``new_name``, drop the old collection, vacuum.

        The caller records ``new_name`` as current before dropping: a crash before
        that point leaves the old, complete collection in use.
        """
        old = self._collection
        self._collection = self._open(new_name)
        for page in _pages(old, ["embeddings", "metadatas"]):
            self.upsert(page["ids"], np.asarray(page["embeddings"], dtype=np.float32),
                        page["metadatas"])

    def drop_collection(self, name: str) -> None:
        if name in {c.name for c in self._client.list_collections()}:
            self._client.delete_collection(name)

    def remove_orphan_segments(self) -> None:
        """Delete segment folders of dropped collections (Chroma leaves them on disk)."""
        db = sqlite3.connect(self.folder / "chroma.sqlite3", timeout=30.0)
        try:
            live = {row[0] for row in db.execute("SELECT id FROM segments")}
        finally:
            db.close()
        for entry in self.folder.iterdir():
            if entry.is_dir() and entry.name not in live and _is_uuid(entry.name):
                shutil.rmtree(entry, ignore_errors=True)

    def vacuum(self) -> None:
        """Rewrite Chroma's SQLite so deleted rows leave no trace in free pages."""
        db = sqlite3.connect(self.folder / "chroma.sqlite3", timeout=30.0)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("VACUUM")
        finally:
            db.close()


def chunk_metadata(row: ChunkRow) -> dict[str, Any]:
    """What Chroma keeps beside each vector (Chroma refuses ``None`` values)."""
    meta: dict[str, Any] = {"doc_id": row.doc_id, "path": row.source, "origin": row.origin,
                            "chunk_index": row.chunk_index, "title": row.title}
    if row.date:
        meta["date"] = row.date
    return meta


def _pages(collection: Any, include: list[str], size: int = 5_000) -> Iterator[dict[str, Any]]:
    """A whole collection, ``size`` records at a time (one ``get`` would hold it all)."""
    offset = 0
    while True:
        page = collection.get(include=include, limit=size, offset=offset)
        if page["ids"]:
            yield page
        if len(page["ids"]) < size:
            return
        offset += size


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


_scrubbed: dict[Path, tuple[int, int]] = {}  # file -> (size, mtime_ns) when it was last scrubbed


def scrub_hnsw_files(folder: Path) -> None:
    """Zero the slots past the live elements in every HNSW segment under ``folder``.

    hnswlib allocates its per-element buffers (``data_level0.bin``, ``length.bin``)
    at full capacity with ``malloc`` and writes them whole: the unused slots hold
    recycled memory of the process that wrote them, where a forgotten text or
    vector may still lie (chroma-core/chroma#7688).  Only slots past the live count
    in ``header.bin`` are touched, and only under the library's write lock, while
    no other Chroma client writes.  A header this does not know is left alone.
    """
    for header in folder.glob("*/header.bin"):
        raw = header.read_bytes()
        if len(raw) < _HNSW_HEADER.size:
            continue
        version, _offset, capacity, live, element = _HNSW_HEADER.unpack_from(raw)
        if version != 1 or live > capacity:
            continue
        _zero_from(header.parent / "data_level0.bin", live * element)
        _zero_from(header.parent / "length.bin", live * 4)  # a float per element


def _zero_from(path: Path, start: int) -> None:
    """Zero ``path`` from ``start`` to its end, writing only the blocks that are not zero."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return
    if stat.st_size <= start or _scrubbed.get(path) == (stat.st_size, stat.st_mtime_ns):
        return
    with open(path, "r+b") as file:
        file.seek(start)
        position = start
        while block := file.read(_SCRUB_BLOCK):
            if np.count_nonzero(np.frombuffer(block, np.uint8)):
                file.seek(position)
                file.write(bytes(len(block)))
            position += len(block)
        file.flush()
        os.fsync(file.fileno())
    stat = path.stat()
    _scrubbed[path] = (stat.st_size, stat.st_mtime_ns)
