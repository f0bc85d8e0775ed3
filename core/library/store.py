"""The vector store: an embedded Chroma ``PersistentClient`` under the profile's library dir.

Chroma keeps ids, vectors and small metadata (document id, path, chunk index,
title, date); chunk text lives once, in the manifest.  Telemetry is off in the
client settings (and by the guard's environment), and the collection gets
Inkwell's own embedding function, so Chroma never reaches for its default
model (which it would download).

Forgetting: deleted vectors stay in the HNSW files and deleted metadata in free
SQLite pages.  :meth:`ChunkStore.compact` therefore copies the surviving
vectors into a fresh collection, drops the old one (its segment folder goes
with it) and vacuums Chroma's SQLite file.
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InkwellError
from core.library.embedder import Embedder

COLLECTION_PREFIX = "inkwell-library-"


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
        ids: set[str] = set()
        page = 10_000
        offset = 0
        while True:
            got = self._collection.get(include=[], limit=page, offset=offset)["ids"]
            ids.update(got)
            if len(got) < page:
                return ids
            offset += page

    def ids_of_origins(self, origins: Sequence[str]) -> list[str]:
        """Ids of every chunk Chroma holds for these origins (including ones the manifest
        never recorded because a writer was killed)."""
        if not origins:
            return []
        got = self._collection.get(where={"origin": {"$in": list(origins)}}, include=[])
        return list(got["ids"])

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first.

        No ``count()`` first: Chroma (pinned 1.5) returns fewer results when it
        holds fewer than ``k``, and counting costs 20+ ms at 100k chunks —
        more than the search itself.
        """
        res = self._collection.query(query_embeddings=[vector], n_results=k,
                                     include=["distances"])
        return [(cid, 1.0 - float(dist))
                for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True)]

    def compact(self, new_name: str) -> None:
        """Copy the live vectors into ``new_name``, drop the old collection, vacuum.

        The caller records ``new_name`` as current before dropping: a crash before
        that point leaves the old, complete collection in use.
        """
        old = self._collection
        self._collection = self._open(new_name)
        page = 5_000
        offset = 0
        while True:
            got = old.get(include=["embeddings", "metadatas"], limit=page, offset=offset)
            if got["ids"]:
                self.upsert(got["ids"], np.asarray(got["embeddings"], dtype=np.float32),
                            got["metadatas"])
            if len(got["ids"]) < page:
                return
            offset += page

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


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True
