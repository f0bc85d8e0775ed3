"""The indexing job: files, commits or ready documents → chunks → vectors → manifest.

One pipeline serves ``add`` (files and folders), ``add-git`` (commits) and
``index_documents`` (LaMP profiles).  Work is described as :class:`Item` s;
each becomes an :class:`Entry` (new documents and chunks, a skip reason, or a
removal) and entries are flushed in batches so that small files share embedding
batches.

Crash safety, per batch (see ``manifest.py``):

1. one transaction marks every origin of the batch ``pending``;
2. Chroma: stale chunk ids are deleted, new vectors upserted (ids are
   deterministic, so a repeat overwrites instead of duplicating);
3. one transaction writes the new document/chunk rows and the final status.

A kill between 1 and 3 leaves ``pending`` rows; :meth:`Library.reconcile`
restores them from the manifest's own chunk text before the next write.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from core.documents import Document, content_hash
from core.errors import DiskFull, InkwellError, JobCancelled, is_disk_full
from core.jobs import Job
from core.library.manifest import ChunkRow, Manifest, NewChunk, OriginRow
from core.library.readers import SkipFile, read_document_file
from core.library.scanning import Candidate, Signature, absolute, scan
from core.library.store import ChunkStore

FLUSH_CHUNKS = 512  # chunks per embedding/upsert batch
FLUSH_ITEMS = 256  # origins per batch (bounds the work a crash can make us redo)


class Target(Protocol):
    """What an index job writes to: a :class:`~core.library.library.Library`, described
    here so that this module does not import the module that starts its jobs."""

    @property
    def dir(self) -> Path: ...

    @property
    def manifest(self) -> Manifest: ...

    @property
    def store(self) -> ChunkStore: ...

    def writing(self) -> AbstractContextManager[None]: ...

    def chunk(self, origin: str, docs: Sequence[Document]) -> list[NewChunk]: ...

    def indexed(self, before: int, after: int, added: Sequence[tuple[str, str]],
                vectors: np.ndarray, removed: Sequence[str]) -> None: ...


def chunk_id(origin: str, doc_id: str, index: int) -> str:
    """Deterministic: the same chunk of the same document from the same origin, same id."""
    return f"{content_hash(origin, doc_id)[:24]}:{index}"


@dataclass(frozen=True)
class Item:
    """One unit of work: an origin and how to get its documents."""

    key: str
    kind: str  # file | commit | document
    grp: str | None = None
    candidate: Candidate | None = None  # files
    docs: Sequence[Document] | None = None  # commits and ready documents
    remove: bool = False  # the origin no longer exists: drop what was indexed from it


@dataclass
class Entry:
    key: str
    kind: str
    grp: str | None
    status: str  # indexed | skipped | error | (removed when ``remove``)
    reason: str | None = None
    signature: Signature | None = None
    content_hash: str | None = None
    docs: list[Document] = field(default_factory=list)
    chunks: list[NewChunk] = field(default_factory=list)
    remove: bool = False  # drop the origin and everything indexed from it
    touch: bool = False  # content unchanged: only record the new signature


class Problem(NamedTuple):
    """A file that was skipped or failed, and why."""

    path: str
    status: str  # skipped | error
    reason: str


@dataclass
class IndexReport:
    """What one run did.  ``problems`` lists the skipped and failed files."""

    total: int = 0
    indexed: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: int = 0
    removed: int = 0
    ignored: int = 0
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class IndexJob(Job[IndexReport]):
    """Index a list of items under the library's write lock; resumable by re-running."""

    title = "indexing"

    def __init__(self, library: Target, plan: Plan) -> None:
        super().__init__()
        self.library = library
        self._plan = plan
        self._items: list[Item] = []
        self._ignored = 0

    def prepare(self) -> None:
        self._items, self._ignored = self._plan()

    def run(self) -> IndexReport:
        try:
            return self._run()
        except InkwellError:
            raise
        except Exception as exc:
            # A full disk surfaces as OSError, SQLite's or Chroma's own errors: say what it is.
            # Batches written before it stay indexed; the next run reconciles the rest.
            if is_disk_full(exc, self.library.dir):
                raise DiskFull(
                    f"{self.library.dir}: the disk is full, indexing stopped ({exc}"[:400]
                    + "). What was indexed before is kept; free some space and run the same "
                    "command again to finish") from exc
            raise

    def _run(self) -> IndexReport:
        started = time.monotonic()
        report = IndexReport(total=len(self._items), ignored=self._ignored)
        lib = self.library
        with lib.writing():
            batch: list[Entry] = []
            pending_chunks = 0
            known = lib.manifest.origins_by_key()  # read once, under the lock
            try:
                for done, item in enumerate(self._items):
                    self.check_cancelled()
                    entry = make_entry(item, known.get(item.key), lib.chunk,
                                       self.check_cancelled)
                    if entry is not None:
                        batch.append(entry)
                        pending_chunks += len(entry.chunks)
                    _count(report, entry)
                    if len(batch) >= FLUSH_ITEMS or pending_chunks >= FLUSH_CHUNKS:
                        flush(lib, batch)
                        pending_chunks = 0
                    self.report(done + 1, report.total, item.key,
                                indexed=report.indexed, unchanged=report.unchanged,
                                skipped=report.skipped, errors=report.errors)
            except JobCancelled:
                flush(lib, batch)
                raise
            flush(lib, batch)
        if not self._items:
            self.report(0, 0, "nothing to index")
        report.seconds = time.monotonic() - started
        return report


def _count(report: IndexReport, entry: Entry | None) -> None:
    if entry is None or entry.touch:
        report.unchanged += 1
    elif entry.remove:
        report.removed += 1
    elif entry.status == "indexed":
        report.indexed += 1
        report.documents += len(entry.docs)
        report.chunks += len(entry.chunks)
    else:
        if entry.status == "skipped":
            report.skipped += 1
        else:
            report.errors += 1
        report.problems.append(Problem(entry.key, entry.status, entry.reason or ""))


Plan = Callable[[], tuple[list[Item], int]]
ChunkFn = Callable[[str, Sequence[Document]], list[NewChunk]]


def file_plan(manifest: Manifest, paths: Sequence[str | Path]) -> Plan:
    """Files to (re)index, plus removals for indexed files that are gone from the folders."""

    def plan() -> tuple[list[Item], int]:
        roots = [absolute(p) for p in paths]
        for root in roots:
            if not os.path.lexists(root) and not manifest.origins_matching(str(root)):
                raise InkwellError(f"{root}: no such file or folder")
        result = scan(roots)
        # A file reached twice (overlapping paths given) is one item.
        by_key = {str(c.path): Item(str(c.path), "file", candidate=c) for c in result.candidates}
        seen = set(by_key)
        items = list(by_key.values())
        for root in roots:
            for row in manifest.origins_matching(str(root)):
                if row.kind == "file" and row.key not in seen:
                    items.append(Item(row.key, "file", remove=True))
                    seen.add(row.key)
        return items, result.ignored

    return plan


def documents_plan(manifest: Manifest, docs: Sequence[Document], kind: str = "document",
                   grp: str | None = None) -> Plan:
    """Ready documents, one origin each (their ``source``); for a git import (``grp``),
    commits no longer in the author's history are removed."""

    def plan() -> tuple[list[Item], int]:
        by_source: dict[str, list[Document]] = {}
        for doc in docs:
            by_source.setdefault(doc.source, []).append(doc)
        items = [Item(src, kind, grp, docs=group) for src, group in by_source.items()]
        if grp is not None:
            items += [Item(row.key, kind, grp, remove=True)
                      for row in manifest.origins_in_group(grp)
                      if row.key not in by_source]
        return items, 0

    return plan


def make_entry(item: Item, row: OriginRow | None, chunk: ChunkFn,
               check_cancelled: Callable[[], None] | None = None) -> Entry | None:
    """What to write for one item (``row``: what the manifest holds for it); ``None`` when
    nothing changed since the last run.  ``check_cancelled`` is also called between the
    parts of a file (a PDF's pages, an mbox's messages)."""
    if item.remove:
        return Entry(key=item.key, kind=item.kind, grp=item.grp, status="removed", remove=True)
    if item.docs is not None:
        docs = list({d.doc_id: d for d in item.docs}.values())  # an id once per origin
        digest = content_hash(*(f"{d.doc_id}\0{d.content_hash}" for d in docs))
        if row is not None and row.status == "indexed" and row.content_hash == digest:
            return None
        entry: Entry | None = Entry(key=item.key, kind=item.kind, grp=item.grp,
                                    status="indexed", content_hash=digest, docs=docs)
    else:
        entry = _file_entry(item, row, check_cancelled)
    if entry is not None and entry.status == "indexed" and not entry.touch:
        try:
            entry.chunks = chunk(item.key, entry.docs)
        except Exception as exc:  # one bad document must never abort the run
            return Entry(key=item.key, kind=item.kind, grp=item.grp, status="error",
                         reason=f"cannot be chunked ({type(exc).__name__}: {exc})"[:300],
                         signature=entry.signature)
    return entry


def _file_entry(item: Item, row: OriginRow | None,
                check_cancelled: Callable[[], None] | None) -> Entry | None:
    cand = item.candidate
    assert cand is not None, "file items carry their scan result"
    if cand.skip is not None:
        return Entry(key=item.key, kind="file", grp=None, status="skipped", reason=cand.skip,
                     signature=cand.signature)
    signature = cand.signature
    if (row is not None and row.status in ("indexed", "skipped") and signature is not None
            and (row.size, row.mtime_ns, row.ctime_ns) == signature):
        return None
    try:
        data, docs = read_document_file(cand.path, check_cancelled=check_cancelled)
    except JobCancelled:
        raise
    except FileNotFoundError:
        # Vanished mid-scan.
        return Entry(key=item.key, kind="file", grp=None, status="removed", remove=True)
    except SkipFile as exc:
        return Entry(key=item.key, kind="file", grp=None, status="skipped", reason=str(exc),
                     signature=signature)
    except Exception as exc:  # one bad file must never abort the run
        return Entry(key=item.key, kind="file", grp=None, status="error",
                     reason=f"{type(exc).__name__}: {exc}"[:300], signature=signature)
    digest = hashlib.sha256(data).hexdigest()
    unchanged = row is not None and row.status == "indexed" and row.content_hash == digest
    return Entry(key=item.key, kind="file", grp=None, status="indexed", signature=signature,
                 content_hash=digest, docs=[] if unchanged else docs, touch=unchanged)


def flush(library: Target, batch: list[Entry]) -> None:
    """Apply a batch: journal → Chroma → manifest (see the module docstring)."""
    if not batch:
        return
    manifest = library.manifest
    changing = [e for e in batch if not e.touch]
    if changing:
        with manifest.transaction() as db:
            for e in changing:
                if manifest.origin(e.key) is None:
                    manifest.set_status(db, e.key, e.kind, "pending", grp=e.grp)
                else:
                    manifest.mark(db, [e.key], "pending")
        new_ids = {c.chunk_id for e in changing for c in e.chunks}
        stale = [cid for cid in manifest.chunk_ids(e.key for e in changing) if cid not in new_ids]
        store = library.store
        store.delete(stale)
        rows: list[ChunkRow] = []
        for e in changing:
            docs = {d.doc_id: d for d in e.docs}
            rows += [_row(e.key, c, docs[c.doc_id]) for c in e.chunks]
        vectors = store.write(rows)
        written = [(r.chunk_id, f"{r.title}\n{r.text}") for r in rows]
    before = manifest.generation
    with manifest.transaction() as db:
        for e in batch:
            if e.remove:
                manifest.delete_origins(db, [e.key])
                continue
            if not e.touch:
                manifest.replace_content(db, e.key, e.docs, e.chunks)
            manifest.set_status(db, e.key, e.kind, e.status, reason=e.reason, grp=e.grp,
                                signature=e.signature, content_hash=e.content_hash)
        if changing:
            manifest.bump_generation(db)
    if changing:
        library.indexed(before, manifest.generation, written, vectors, stale)
    batch.clear()


def _row(origin: str, chunk: NewChunk, doc: Document) -> ChunkRow:
    """A new chunk as the manifest will hold it (what the store writes beside its vector)."""
    return ChunkRow(chunk_id=chunk.chunk_id, origin=origin, doc_id=chunk.doc_id,
                    chunk_index=chunk.chunk_index, text=chunk.text, source=doc.source,
                    title=doc.title, date=doc.date)
