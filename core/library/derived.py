"""What the search indexes derived from the library have in common.

The manifest and Chroma are the truth; the lexical (BM25) index and the vector
matrix are derived from them, each current for the manifest's generation
counter (moved by any add, change, repair or forget), saved in its own folder
with the generation it reflects, and loaded by later processes.  Both follow
indexing's changes in place: the writer advances them (``advance``, then
``persist`` once per job), so the first search after an add finds them current;
what the writer cannot advance (a repair, an index not current before the
change) is rebuilt on the first search after it.  A forget deletes them at
once: they hold the forgotten words and vectors.

Searches take no library lock, so a rebuild can read the stores just before a
forget and finish after it.  Such a rebuild must not write the forgotten data
back: the saved folder is swapped in only under ``derived.lock`` and only if
the manifest's generation is still the one the rebuild read, and a forget
bumps the generation before it deletes the folders under the same lock.  The
folder is written beside the old one and swapped in, so a reader (or a crash)
sees the old index, the new one, or none — and none means "rebuild".

In memory an index is one immutable :class:`Snapshot` (ids, data and their
generation) replaced by a single assignment, so a search running in another
thread sees the old pair or the new one, never new vectors with old ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from core.fsutil import ensure_private_dir
from core.locks import hold

Source = TypeVar("Source")
Data = TypeVar("Data")

_META = "ids.json"
LOCK_NAME = "derived.lock"


class SavedPartGone(Exception):
    """A saved file an index still refers to was replaced or deleted by another process
    (its rebuild swapped the folder): what was derived from it is left to the next search."""


@dataclass(frozen=True)
class Snapshot(Generic[Data]):
    """An index as one search sees it: chunk ids in index order and what they index."""

    generation: int | None
    ids: list[str]
    data: Data


class DerivedIndex(ABC, Generic[Source, Data]):
    """An index over chunk ids, kept current for the manifest's generation.

    Subclasses say how to build their data from ``Source`` (and return the
    chunk ids in index order), how to write and read it, and what an empty
    index holds.  ``current_generation`` reads the manifest's generation now:
    a rebuilt index is saved only while it still matches.
    """

    def __init__(self, folder: Path, current_generation: Callable[[], int]) -> None:
        self.folder = folder
        self._current_generation = current_generation
        self._snapshot: Snapshot[Data] = Snapshot(None, [], self._empty())
        self._building = threading.Lock()  # one rebuild at a time per process
        self._unsaved = False  # advanced in memory, not saved yet

    def ensure(self, generation: int, source: Callable[[], Source]) -> Snapshot[Data]:
        """The index for ``generation``: in memory, saved, or rebuilt from ``source()``.

        A rebuild whose generation is no longer current when it ends is used for
        this search only (its hits are looked up in the manifest, which drops
        what was forgotten meanwhile): it is neither saved nor kept.
        """
        snapshot = self._snapshot
        if snapshot.generation == generation:
            return snapshot
        with self._building:
            snapshot = self._snapshot
            if snapshot.generation == generation:
                return snapshot
            saved = self._load(generation)
            if saved is not None:
                self._snapshot = saved
                return saved
            ids, data = self._build(source())
            snapshot = Snapshot(generation, ids, data)
            saved = self._save(snapshot)
            if saved is None:
                return snapshot
            self._snapshot = saved
            return saved

    def advance(self, before: int, after: int,
                change: Callable[[Snapshot[Data]], tuple[list[str], Data]]) -> None:
        """Bring the index from generation ``before`` to ``after`` by ``change`` (what a
        writer just did), if it is at ``before`` in memory or on disk; otherwise leave it to
        the next search.  Called under the library's write lock, so no forget interleaves;
        :meth:`persist` saves the result when the writer is done.
        """
        with self._building:
            current = self._snapshot
            snapshot = current if current.generation == before else self._load(before)
            if snapshot is None:
                return
            try:
                ids, data = change(snapshot)
            except SavedPartGone:
                self._forget_loaded()
                return
            self._snapshot = Snapshot(after, ids, data)
            self._unsaved = True

    def persist(self) -> None:
        """Save what :meth:`advance` changed (once per indexing job, not per batch)."""
        with self._building:
            if self._unsaved:
                try:
                    self._snapshot = self._save(self._snapshot) or self._snapshot
                except SavedPartGone:
                    self._forget_loaded()
                self._unsaved = False

    def _load(self, generation: int) -> Snapshot[Data] | None:
        """The saved index if it reflects ``generation``; None if absent, older or damaged."""
        try:
            meta = json.loads((self.folder / _META).read_text(encoding="utf-8"))
            if int(meta["generation"]) != generation:
                return None
            ids = list(meta["ids"])
            return Snapshot(generation, ids, self._read(self.folder, ids))
        except (OSError, ValueError, KeyError, TypeError):
            # Absent, swapped out by another process mid-read, or damaged: it is derived.
            return None

    def _save(self, snapshot: Snapshot[Data]) -> Snapshot[Data] | None:
        """Swap ``snapshot`` in as the saved index unless the library changed since it was
        read; return it as memory keeps it once saved (see :meth:`_kept`), or None."""
        ensure_private_dir(self.folder.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}-", dir=self.folder.parent))
        try:
            self._write(tmp, snapshot.data)
            kept = Snapshot(snapshot.generation, snapshot.ids, self._kept(tmp, snapshot.data))
            (tmp / _META).write_text(
                json.dumps({"generation": snapshot.generation, "ids": snapshot.ids}),
                encoding="utf-8")
            with self._swap_lock():
                if self._current_generation() != snapshot.generation:
                    return None
                shutil.rmtree(self.folder, ignore_errors=True)
                os.replace(tmp, self.folder)
            return kept
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def delete(self) -> None:
        """Remove the saved index and forget the loaded one.

        A forget calls this after bumping the generation: a rebuild that read the
        old data then either swapped in before (and is deleted here) or finds the
        generation moved and saves nothing.
        """
        with self._swap_lock():
            shutil.rmtree(self.folder, ignore_errors=True)
        self._forget_loaded()

    def _forget_loaded(self) -> None:
        """Drop the index in memory: the next search loads the saved one or rebuilds."""
        self._snapshot = Snapshot(None, [], self._empty())
        self._unsaved = False

    def _swap_lock(self) -> contextlib.AbstractContextManager[bool]:
        """``derived.lock`` beside the folder: held only to check the generation and swap."""
        return hold(self.folder.parent / LOCK_NAME, wait_s=None,
                    busy=f"{self.folder.parent}: the search index is locked")

    @abstractmethod
    def _empty(self) -> Data:
        """The data of an index of no chunks."""

    @abstractmethod
    def _build(self, source: Source) -> tuple[list[str], Data]:
        """Build the data; return the chunk ids in index order with it."""

    @abstractmethod
    def _write(self, folder: Path, data: Data) -> None:
        """Save ``data`` into ``folder`` (empty, private)."""

    def _kept(self, written: Path, data: Data) -> Data:
        """What memory keeps of ``data`` once saved (``written`` becomes ``self.folder``): all
        of it, unless an index reads part of it from disk."""
        return data

    @abstractmethod
    def _read(self, folder: Path, ids: list[str]) -> Data:
        """Load what :meth:`_write` saved (raise ValueError if it does not match ``ids``)."""
