"""What the search indexes derived from the library have in common.

The manifest and Chroma are the truth; the lexical (BM25) index and the vector
matrix are derived from them.  Each is rebuilt lazily — on the first search
after a change, so re-indexing one file stays fast — when the manifest's
generation counter moved (any add, change, repair or forget), saved in its own
folder with the generation it reflects, and loaded by later processes.  A
forget deletes them at once: they hold the forgotten words and vectors.

The folder is written beside the old one and swapped in, so a reader (or a
crash) sees the old index, the new one, or none — and none means "rebuild".
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from core.fsutil import ensure_private_dir

Source = TypeVar("Source")

_META = "ids.json"


class DerivedIndex(ABC, Generic[Source]):
    """An index over chunk ids, kept current for the manifest's generation.

    Subclasses say how to build their in-memory state from ``Source`` (and
    return the chunk ids in index order), how to write and read it, and how to
    drop it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._ids: list[str] = []
        self._generation: int | None = None

    def ensure(self, generation: int, source: Callable[[], Source]) -> None:
        """Make the index current for ``generation``; ``source`` is read only to rebuild."""
        if self._generation is None and (self.folder / _META).is_file():
            try:
                meta = json.loads((self.folder / _META).read_text(encoding="utf-8"))
                self._ids, self._generation = list(meta["ids"]), int(meta["generation"])
                self._read(self.folder)
            except (OSError, ValueError, KeyError, TypeError):
                # Swapped out by another process mid-read, or damaged: it is derived, rebuild.
                self._ids, self._generation = [], None
                self._clear()
        if self._generation != generation:
            self.build(generation, source())

    def build(self, generation: int, source: Source) -> None:
        ids = self._build(source)
        ensure_private_dir(self.folder.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}-", dir=self.folder.parent))
        try:
            self._write(tmp)
            (tmp / _META).write_text(json.dumps({"generation": generation, "ids": ids}),
                                     encoding="utf-8")
            shutil.rmtree(self.folder, ignore_errors=True)
            os.replace(tmp, self.folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._ids, self._generation = ids, generation

    def delete(self) -> None:
        """Remove the saved index and forget the loaded one."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._ids, self._generation = [], None
        self._clear()

    @abstractmethod
    def _build(self, source: Source) -> list[str]:
        """Build the in-memory index; return its chunk ids in index order."""

    @abstractmethod
    def _write(self, folder: Path) -> None:
        """Save the in-memory index into ``folder`` (empty, private)."""

    @abstractmethod
    def _read(self, folder: Path) -> None:
        """Load what :meth:`_write` saved."""

    @abstractmethod
    def _clear(self) -> None:
        """Drop the in-memory index."""
