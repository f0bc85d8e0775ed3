"""The library manifest (SQLite): what was indexed from where, and why a file was not.

Rows:

* ``origins``: one per indexed unit — a file (key = its absolute path), a commit
  (``<repo>@<sha>``) or a document given directly (its ``source``) — with the
  file's signature (size, mtime, ctime) and content hash for change detection,
  and its status: ``indexed``, ``skipped`` / ``error`` with a reason, or
  ``pending`` while its chunks are being replaced in Chroma.
* ``documents``: full text, title, date and fields of each document, so the
  adapter trainer gets whole documents back and search hits can show text
  without Chroma storing it a second time.
* ``chunks``: chunk id → document, position and text (what BM25 indexes).

``pending`` is the crash journal: it is committed *before* Chroma is touched
and replaced by ``indexed`` in the same transaction that writes the new
document and chunk rows, *after* the vectors are in Chroma.  A process killed in
between leaves ``pending`` rows that the next run reconciles.

* ``forgotten``: tombstones — the ids (never the text) of documents the user
  forgot, until the same document is added again.  Work that read documents
  before a forget (a training, the advice) checks them before it publishes
  anything (:mod:`core.tombstones`).

Privacy: ``secure_delete`` zeroes deleted content in place, the rollback
journal (not WAL) leaves no copy behind once a transaction ends, and
:meth:`Manifest.vacuum` rewrites the file after a forget.

Threads: each thread gets its own connection.  One connection shared by threads
mixes their statements into each other's transactions, and a ``VACUUM`` fails
("SQL statements in progress") while another thread's query is being read;
with a connection each, SQLite's file locks order them (a ``VACUUM`` waits for
the reader to finish).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.documents import Document

SCHEMA = """
CREATE TABLE IF NOT EXISTS origins (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,            -- file | commit | document
    grp TEXT,                      -- the git import (repo + author) a commit belongs to
    size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,
    content_hash TEXT,
    status TEXT NOT NULL,          -- indexed | skipped | error | pending
    reason TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS origins_status ON origins(status);
CREATE INDEX IF NOT EXISTS origins_grp ON origins(grp);
CREATE TABLE IF NOT EXISTS documents (
    origin TEXT NOT NULL REFERENCES origins(key) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    source TEXT NOT NULL, title TEXT NOT NULL, date TEXT, kind TEXT NOT NULL,
    text TEXT NOT NULL, fields TEXT NOT NULL, content_hash TEXT NOT NULL,
    PRIMARY KEY (origin, doc_id)
);
CREATE INDEX IF NOT EXISTS documents_doc_id ON documents(doc_id);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    origin TEXT NOT NULL REFERENCES origins(key) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_origin ON chunks(origin);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forgotten (doc_id TEXT PRIMARY KEY, forgotten REAL NOT NULL);
"""


@dataclass(frozen=True)
class OriginRow:
    key: str
    kind: str
    grp: str | None
    size: int | None
    mtime_ns: int | None
    ctime_ns: int | None
    content_hash: str | None
    status: str
    reason: str | None
    updated: float


@dataclass(frozen=True)
class ChunkRow:
    chunk_id: str
    origin: str
    doc_id: str
    chunk_index: int
    text: str
    source: str
    title: str
    date: str | None


@dataclass(frozen=True)
class NewChunk:
    chunk_id: str
    doc_id: str
    chunk_index: int
    text: str


def _connect(path: Path) -> sqlite3.Connection:
    # check_same_thread=False only so that close() may close every thread's connection.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA secure_delete=ON")
    db.execute("PRAGMA foreign_keys=ON")
    return db


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._db.executescript(SCHEMA)

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = _connect(self.path)
            with self._all_lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes; BEGIN IMMEDIATE takes the write lock up front."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself fails (a full disk): SQLite may or may not have rolled
            # back already, and a transaction left open would swallow every later write.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # --- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def bump_generation(self, db: sqlite3.Connection) -> None:
        """Count content changes; derived indexes (BM25) compare it to see they are stale."""
        self.set_meta(db, "generation", str(int(self.get_meta("generation", "0") or 0) + 1))

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation", "0") or 0)

    # --- origins ------------------------------------------------------------------------

    def origin(self, key: str) -> OriginRow | None:
        row = self._db.execute("SELECT * FROM origins WHERE key=?", (key,)).fetchone()
        return OriginRow(*row) if row else None

    def origins(self, status: str | None = None) -> list[OriginRow]:
        sql = "SELECT * FROM origins" + (" WHERE status=?" if status else "") + " ORDER BY key"
        return [OriginRow(*r) for r in self._db.execute(sql, (status,) if status else ())]

    def origins_by_key(self) -> dict[str, OriginRow]:
        """Every origin at once: one query instead of one per file when re-adding a folder."""
        return {r[0]: OriginRow(*r) for r in self._db.execute("SELECT * FROM origins")}

    def origins_in_group(self, grp: str) -> list[OriginRow]:
        return [OriginRow(*r) for r in
                self._db.execute("SELECT * FROM origins WHERE grp=? ORDER BY key", (grp,))]

    def origins_matching(self, path: str) -> list[OriginRow]:
        """Origins that are ``path`` or lie below it: files in a folder, commits of a repo,
        items of a LaMP file, messages of an mbox."""
        rows = self._db.execute("SELECT * FROM origins WHERE key=?", (path,)).fetchall()
        for sep in ("/", "@", "#"):
            # Keys starting with path+sep: a range scan on the primary key.
            rows += self._db.execute(
                "SELECT * FROM origins WHERE key >= ? AND key < ?",
                (path + sep, path + chr(ord(sep) + 1)),
            ).fetchall()
        return [OriginRow(*r) for r in sorted(set(rows))]

    def set_status(self, db: sqlite3.Connection, key: str, kind: str, status: str,
                   reason: str | None = None, grp: str | None = None,
                   signature: tuple[int, int, int] | None = None,
                   content_hash: str | None = None) -> None:
        size, mtime_ns, ctime_ns = signature or (None, None, None)
        db.execute(
            "INSERT INTO origins(key, kind, grp, size, mtime_ns, ctime_ns, content_hash, status,"
            " reason, updated) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET"
            " kind=excluded.kind, grp=excluded.grp, size=excluded.size,"
            " mtime_ns=excluded.mtime_ns, ctime_ns=excluded.ctime_ns,"
            " content_hash=excluded.content_hash, status=excluded.status,"
            " reason=excluded.reason, updated=excluded.updated",
            (key, kind, grp, size, mtime_ns, ctime_ns, content_hash, status, reason, time.time()),
        )

    def mark(self, db: sqlite3.Connection, keys: Iterable[str], status: str) -> None:
        """Set the status of existing origins, keeping the rest of their rows."""
        db.executemany("UPDATE origins SET status=?, updated=? WHERE key=?",
                       [(status, time.time(), k) for k in keys])

    def replace_content(self, db: sqlite3.Connection, key: str, docs: Sequence[Document],
                        chunks: Sequence[NewChunk]) -> None:
        """Swap the documents and chunks of one origin (call inside a transaction)."""
        db.execute("DELETE FROM documents WHERE origin=?", (key,))
        db.execute("DELETE FROM chunks WHERE origin=?", (key,))
        db.executemany(
            "INSERT INTO documents(origin, doc_id, position, source, title, date, kind, text,"
            " fields, content_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(key, d.doc_id, i, d.source, d.title, d.date, d.kind, d.text,
              json.dumps(dict(d.fields), ensure_ascii=False, sort_keys=True), d.content_hash)
             for i, d in enumerate(docs)],
        )
        db.executemany(
            "INSERT INTO chunks(chunk_id, origin, doc_id, chunk_index, text) VALUES (?,?,?,?,?)",
            [(c.chunk_id, key, c.doc_id, c.chunk_index, c.text) for c in chunks],
        )
        # The same document added again is no longer forgotten.
        db.executemany("DELETE FROM forgotten WHERE doc_id=?", [(d.doc_id,) for d in docs])

    def delete_origins(self, db: sqlite3.Connection, keys: Iterable[str]) -> None:
        db.executemany("DELETE FROM origins WHERE key=?", [(k,) for k in keys])

    # --- documents and chunks -----------------------------------------------------------

    def chunk_ids(self, keys: Iterable[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            out += [r[0] for r in self._db.execute(
                "SELECT chunk_id FROM chunks WHERE origin=? ORDER BY chunk_id", (key,))]
        return out

    def doc_ids(self, keys: Iterable[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            out += [r[0] for r in self._db.execute(
                "SELECT doc_id FROM documents WHERE origin=? ORDER BY position", (key,))]
        return out

    def all_chunk_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT chunk_id FROM chunks")}

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def document_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM documents").fetchone()[0])

    def chunk_texts(self) -> Iterator[tuple[str, str]]:
        """(chunk id, title + text) of every chunk: what the lexical index sees."""
        yield from self._db.execute(
            "SELECT c.chunk_id, d.title || char(10) || c.text FROM chunks c"
            " JOIN documents d ON d.origin = c.origin AND d.doc_id = c.doc_id ORDER BY c.rowid")

    def chunk_rows(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRow]:
        out: dict[str, ChunkRow] = {}
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start:start + 500])
            marks = ",".join("?" * len(part))
            for row in self._db.execute(
                "SELECT c.chunk_id, c.origin, c.doc_id, c.chunk_index, c.text, d.source, d.title,"
                " d.date FROM chunks c JOIN documents d ON d.origin = c.origin"
                f" AND d.doc_id = c.doc_id WHERE c.chunk_id IN ({marks})", part):
                out[row[0]] = ChunkRow(*row)
        return out

    def chunks_of_origins(self, keys: Iterable[str]) -> list[ChunkRow]:
        out: list[ChunkRow] = []
        for key in keys:
            out += [ChunkRow(*r) for r in self._db.execute(
                "SELECT c.chunk_id, c.origin, c.doc_id, c.chunk_index, c.text, d.source, d.title,"
                " d.date FROM chunks c JOIN documents d ON d.origin = c.origin"
                " AND d.doc_id = c.doc_id WHERE c.origin=? ORDER BY c.rowid", (key,))]
        return out

    _DOC_COLUMNS = ("SELECT d.doc_id, d.source, d.title, d.date, d.text, d.kind, d.content_hash,"
                    " d.fields FROM documents d JOIN origins o ON o.key = d.origin"
                    " WHERE o.status='indexed'")

    @staticmethod
    def _document(row: Sequence[Any]) -> Document:
        return Document(doc_id=row[0], source=row[1], title=row[2], date=row[3], text=row[4],
                        kind=row[5], content_hash=row[6], fields=json.loads(row[7]))

    def documents(self) -> Iterator[Document]:
        """Every indexed document, whole, oldest first (undated ones last)."""
        for row in self._db.execute(
            self._DOC_COLUMNS + " ORDER BY d.date IS NULL, d.date, d.origin, d.position"
        ):
            yield self._document(row)

    def document(self, doc_id: str) -> Document | None:
        row = self._db.execute(self._DOC_COLUMNS + " AND d.doc_id=? LIMIT 1", (doc_id,)).fetchone()
        return self._document(row) if row else None

    def origins_with_counts(self) -> Iterator[tuple[OriginRow, int, int, str, str | None]]:
        """Every origin with its number of documents and chunks, and its first document's
        title and date (for the status view: a commit is shown by its subject and date)."""
        first = "(SELECT {} FROM documents d WHERE d.origin = o.key ORDER BY position LIMIT 1)"
        for row in self._db.execute(
            "SELECT o.*, (SELECT count(*) FROM documents d WHERE d.origin = o.key),"
            " (SELECT count(*) FROM chunks c WHERE c.origin = o.key),"
            f" {first.format('title')}, {first.format('date')} FROM origins o ORDER BY o.key"
        ):
            yield OriginRow(*row[:10]), int(row[10]), int(row[11]), row[12] or "", row[13]

    def status_counts(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in
                self._db.execute("SELECT status, count(*) FROM origins GROUP BY status")}

    # --- tombstones ---------------------------------------------------------------------

    def bury(self, doc_ids: Iterable[str]) -> None:
        """Record ``doc_ids`` as forgotten (ids only) for work that read them earlier."""
        now = time.time()
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO forgotten(doc_id, forgotten) VALUES (?, ?)",
                           [(d, now) for d in doc_ids])

    def vacuum(self) -> None:
        """Rewrite the file so no page keeps text of deleted rows."""
        self._db.execute("VACUUM")

