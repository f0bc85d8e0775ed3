"""The personal library of one profile: the facade the CLI, GUI, trainer and evaluation use.

``Library(profile)`` opens (or creates) ``profile.library_dir``:

    library/
      manifest.sqlite3     origins, documents (full text), chunks, status — the source of truth
      chroma/              Chroma PersistentClient: vectors + small metadata
      bm25/                lexical index, derived from the manifest, updated by indexing
      vectors/             every chunk's vector for exact dense search, derived from Chroma,
                           updated by indexing
      derived.lock         held to swap a rebuilt bm25/ or vectors/ in (core.library.derived)
      write.lock           one writer per library across processes (core.locks)

Writes (add, add-git, index_documents, forget) hold the write lock and begin
by reconciling what a killed process may have left half done; reads need no
lock.  Chroma and the embedder are opened on first use, so ``status`` and
``documents`` stay instant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.documents import Document
from core.errors import InkwellError
from core.fsutil import ensure_private_dir, repair_private_permissions
from core.library.bm25 import LexicalIndex
from core.library.chunking import Chunker
from core.library.embedder import Embedder, load_tokenizer, shared_embedder
from core.library.gitlog import commit_documents, group_key
from core.library.indexing import IndexJob, IndexReport, Item, chunk_id, documents_plan, file_plan
from core.library.manifest import Manifest, NewChunk
from core.library.scanning import absolute
from core.library.store import COLLECTION_PREFIX, ChunkStore, scrub_hnsw_files
from core.library.vectors import VectorIndex
from core.locks import process_lock
from core.paths import ProfilePaths

Retriever = Literal["bm25", "dense", "hybrid"]
RETRIEVERS: tuple[str, ...] = ("bm25", "dense", "hybrid")
RRF_K = 60  # reciprocal-rank-fusion constant (Cormack et al.): damps the head of each list
LOCK_WAIT_S = 5.0


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with what a writer needs to cite its source."""

    doc_id: str
    source: str
    title: str
    date: str | None
    text: str
    score: float
    chunk_index: int


@dataclass(frozen=True)
class FileStatus:
    path: str
    kind: str
    status: str
    reason: str | None
    documents: int
    chunks: int
    title: str = ""  # of its first document: a commit's subject, a file's heading
    date: str | None = None


@dataclass
class LibraryStatus:
    counts: dict[str, int]
    documents: int
    chunks: int
    files: list[FileStatus] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ForgetReport:
    paths: list[str]
    doc_ids: list[str]
    chunks: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Library:
    def __init__(self, profile: ProfilePaths, lock_wait_s: float = LOCK_WAIT_S) -> None:
        profile.ensure()
        self.profile = profile
        self.dir = ensure_private_dir(profile.library_dir)
        self.cache_dir = profile.home.cache_dir
        self.manifest = Manifest(profile.manifest_file)
        self._lexical = LexicalIndex(self.dir / "bm25", lambda: self.manifest.generation)
        self._vectors = VectorIndex(self.dir / "vectors", lambda: self.manifest.generation)
        self._lock = process_lock(self.dir / "write.lock")
        self._lock_wait_s = lock_wait_s
        self._store: ChunkStore | None = None
        self._chunker: Chunker | None = None

    # --- lazily opened parts ------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        return shared_embedder(self.cache_dir)

    @property
    def store_is_open(self) -> bool:
        """Whether Chroma has been opened: a search the saved matrix serves never opens it."""
        return self._store is not None

    @property
    def store(self) -> ChunkStore:
        if self._store is None:
            name = self.manifest.get_meta("collection") or f"{COLLECTION_PREFIX}1"
            self._store = ChunkStore(self.dir / "chroma", name, lambda: self.embedder)
        return self._store

    def chunk(self, origin: str, docs: Sequence[Document]) -> list[NewChunk]:
        """Split documents into chunks with deterministic ids (title-only items stay whole)."""
        if self._chunker is None:
            self._chunker = Chunker(load_tokenizer())
        out: list[NewChunk] = []
        for doc in docs:
            pieces = self._chunker.split(doc.text) or ([doc.title] if doc.title.strip() else [])
            out += [NewChunk(chunk_id=chunk_id(origin, doc.doc_id, i), doc_id=doc.doc_id,
                             chunk_index=i, text=text)
                    for i, text in enumerate(pieces)]
        return out

    # --- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock; the outermost holder first repairs an interrupted run."""
        busy = (f"{self.dir}: another Inkwell process is changing this library (indexing or "
                "forgetting); wait for it to finish and try again")
        with self._lock.hold(busy=busy, wait_s=self._lock_wait_s) as outermost:
            if outermost:
                self.reconcile()
            try:
                yield
                if outermost:  # what indexing advanced (see ``indexed``)
                    self._lexical.persist()
                    self._vectors.persist()
            finally:
                if outermost:
                    scrub_hnsw_files(self.dir / "chroma")
                    repair_private_permissions(self.dir)  # Chroma creates its files 0644

    def indexed(self, before: int, after: int, added: Sequence[tuple[str, str]],
                vectors: np.ndarray, removed: Sequence[str]) -> None:
        """Indexing moved the generation from ``before`` to ``after`` by writing ``added``
        (chunk id, title and text; ``vectors``: their embeddings, row for row) and removing
        ``removed``: both search indexes follow in place, so the first search after a
        change rebuilds neither."""
        self._lexical.advance(before, after, self._lexical.change(added, removed))
        self._vectors.advance(before, after, self._vectors.change(
            [cid for cid, _ in added], vectors, removed))

    def add_job(self, paths: Iterable[str | os.PathLike[str]]) -> IndexJob:
        """Index files and folders (incremental; removes files gone from added folders)."""
        return IndexJob(self, file_plan(self.manifest, [Path(p) for p in paths]))

    def add_git_job(self, repo: str | os.PathLike[str], author_email: str) -> IndexJob:
        """Index one author's commit messages from a local repository."""
        repo_path = Path(repo)

        def plan() -> tuple[list[Item], int]:
            root, docs = commit_documents(repo_path, author_email)
            return documents_plan(self.manifest, docs, "commit",
                                  group_key(root, author_email))()

        return IndexJob(self, plan)

    def index_documents(self, docs: Iterable[Document]) -> IndexReport:
        """Index ready documents (one origin per ``source``); unchanged ones are skipped."""
        return IndexJob(self, documents_plan(self.manifest, list(docs))).execute()

    def forget(self, path: str | os.PathLike[str]) -> ForgetReport:
        """Remove a file, folder, repository or source and everything derived from it.

        Afterwards no file in the library holds its text: manifest rows are
        deleted and the file vacuumed, the BM25 index and the vector matrix are
        dropped, and Chroma's collection is rebuilt without its vectors and its
        SQLite vacuumed.
        """
        with self.writing():
            keys: list[str] = []
            for candidate in dict.fromkeys([str(absolute(path)), os.fspath(path)]):
                keys += [r.key for r in self.manifest.origins_matching(candidate)
                         if r.key not in keys]
            if not keys:
                raise InkwellError(f"{path}: nothing from here is in the library")
            doc_ids = list(dict.fromkeys(self.manifest.doc_ids(keys)))
            chunk_ids = self.manifest.chunk_ids(keys)
            with self.manifest.transaction() as db:
                self.manifest.mark(db, keys, "forgetting")
            self._remove_forgotten()
            return ForgetReport(paths=keys, doc_ids=doc_ids, chunks=len(chunk_ids))

    def _remove_forgotten(self) -> None:
        """Finish every ``forgetting`` origin, then purge what deletes leave behind."""
        keys = [r.key for r in self.manifest.origins("forgetting")]
        if keys:
            self.store.delete(self.manifest.chunk_ids(keys))
            with self.manifest.transaction() as db:
                self.manifest.delete_origins(db, keys)
                self.manifest.bump_generation(db)
                self.manifest.set_meta(db, "needs_purge", "1")
        if self.manifest.get_meta("needs_purge") == "1":
            self._purge()

    def _purge(self) -> None:
        """Rewrite every store so deleted text and vectors leave no bytes behind."""
        self._lexical.delete()
        self._vectors.delete()
        self.manifest.vacuum()
        store = self.store
        old = store.name
        number = int(old.rsplit("-", 1)[1]) + 1 if old.startswith(COLLECTION_PREFIX) else 1
        new = f"{COLLECTION_PREFIX}{number}"
        store.drop_collection(new)  # a copy left by a killed purge
        store.compact(new)
        with self.manifest.transaction() as db:
            self.manifest.set_meta(db, "collection", new)
        store.drop_collection(old)
        store.remove_orphan_segments()
        store.vacuum()
        with self.manifest.transaction() as db:
            self.manifest.set_meta(db, "needs_purge", "0")
        self.manifest.vacuum()

    def reconcile(self) -> dict[str, int]:
        """Repair what a killed writer left: pending origins, unfinished forgets, strays.

        A ``pending`` origin still has its previous chunk rows in the manifest;
        its vectors in Chroma may be old, new or half of each, so they are
        replaced by the manifest's (re-embedded) and the origin is marked for a
        re-check on the next add.  Then Chroma's ids are compared with the
        manifest's, cheaply by count and fully only on a mismatch.
        """
        fixed = {"pending": 0, "orphans": 0, "missing": 0}
        if self.manifest.origins("forgetting") or self.manifest.get_meta("needs_purge") == "1":
            self._remove_forgotten()
        pending = self.manifest.origins("pending")
        if pending:
            self._restore(row.key for row in pending)
            fixed["pending"] = len(pending)
        if not pending and self.store.count() == self.manifest.chunk_count():
            return fixed
        in_store = self.store.all_ids()
        in_manifest = self.manifest.all_chunk_ids()
        orphans = sorted(in_store - in_manifest)
        self.store.delete(orphans)
        missing = in_manifest - in_store
        if missing:
            rows = self.manifest.chunk_rows(sorted(missing))
            self.store.write(list(rows.values()))
        if orphans or missing:
            with self.manifest.transaction() as db:
                self.manifest.bump_generation(db)  # the vector matrix must be rebuilt
        fixed["orphans"], fixed["missing"] = len(orphans), len(missing)
        return fixed

    def _restore(self, keys: Iterable[str]) -> None:
        """Put back the manifest's chunks of interrupted origins; have them re-checked."""
        keys = list(keys)
        rows = self.manifest.chunks_of_origins(keys)
        store = self.store
        # Whatever the killed run upserted for these origins goes; the manifest's chunks return.
        keep = {r.chunk_id for r in rows}
        stale = [cid for cid in store.ids_of_origins(keys) if cid not in keep]
        store.delete(stale)
        store.write(rows)
        with self.manifest.transaction() as db:
            for key in keys:
                origin = self.manifest.origin(key)
                if origin is None:
                    continue
                if self.manifest.doc_ids([key]):
                    # Forget the signature and hash so the next add reads the file again.
                    self.manifest.set_status(db, key, origin.kind, "indexed", None, origin.grp)
                else:
                    self.manifest.delete_origins(db, [key])
            self.manifest.bump_generation(db)

    # --- reading ------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, retriever: Retriever | str = "bm25") -> list[Hit]:
        """The ``k`` chunks most relevant to ``query``, best first."""
        if retriever not in RETRIEVERS:
            raise InkwellError(f"unknown retriever {retriever!r}; use one of "
                               f"{', '.join(RETRIEVERS)}")
        if k < 1 or not query.strip():
            return []
        depth = k if retriever != "hybrid" else max(4 * k, 20)
        ranked: list[tuple[str, float]]
        generation = self.manifest.generation
        if retriever in ("bm25", "hybrid"):
            lexical = self._lexical.search(
                self._lexical.ensure(generation, self.manifest.chunk_texts), query, depth)
            ranked = lexical
        if retriever in ("dense", "hybrid"):
            # A lambda: naming self.store here would open Chroma even when the saved
            # matrix is current, and opening it is most of a fresh CLI search's time
            # (docs/LIBRARY.md, query latency).
            matrix = self._vectors.ensure(generation, lambda: self.store.vectors())
            dense = self._vectors.search(matrix, self.embedder.embed([query])[0], depth)
            ranked = dense
        if retriever == "hybrid":
            ranked = reciprocal_rank_fusion([lexical, dense])
        rows = self.manifest.chunk_rows([cid for cid, _ in ranked])
        hits = [Hit(doc_id=r.doc_id, source=r.source, title=r.title, date=r.date, text=r.text,
                    score=score, chunk_index=r.chunk_index)
                for cid, score in ranked if (r := rows.get(cid)) is not None]
        return hits[:k]

    def documents(self) -> Iterator[Document]:
        """Every indexed document, whole (text, title, date, fields), oldest first."""
        return self.manifest.documents()

    def get_document(self, doc_id: str) -> Document | None:
        """One indexed document by id (a search hit's whole document), or ``None``."""
        return self.manifest.document(doc_id)

    def status(self) -> LibraryStatus:
        files = [
            FileStatus(path=row.key, kind=row.kind, status=row.status, reason=row.reason,
                       documents=n_docs, chunks=n_chunks, title=title, date=date)
            for row, n_docs, n_chunks, title, date in self.manifest.origins_with_counts()
        ]
        return LibraryStatus(counts=self.manifest.status_counts(),
                             documents=self.manifest.document_count(),
                             chunks=self.manifest.chunk_count(), files=files)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self.manifest.close()


def reciprocal_rank_fusion(rankings: Sequence[Sequence[tuple[str, float]]]) -> list[
        tuple[str, float]]:
    """Fuse ranked lists by Σ 1/(k + rank): robust to the incomparable scales of BM25 and
    cosine similarity."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, (cid, _) in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
