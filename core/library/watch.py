"""Optional folder watching: changes under watched folders are queued and indexed in batches.

watchdog reports every write of an editor's save (often several per second);
indexing on each would re-embed the same file repeatedly.  Events are collected
into a set of paths and, once no new event arrived for ``quiet_s`` seconds,
handed to one ordinary incremental ``add`` job — the same code path as
``inkwell library add``, so a deleted file is removed, a changed one re-indexed,
an unchanged one skipped.

Watching goes on whatever happens to one batch: when another Inkwell process (the
desktop indexing) holds the library, the batch is queued again for the next quiet
period; any other error is reported (``on_error``) and the watcher keeps going.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from core.errors import DataDirBusy, InkwellError
from core.library.indexing import IndexReport
from core.library.library import Library
from core.library.readers import reader_for
from core.library.scanning import absolute


class FolderWatcher:
    """Watch folders; index what changed in them after a quiet period."""

    def __init__(self, library: Library, folders: Iterable[str | os.PathLike[str]],
                 quiet_s: float = 2.0,
                 on_indexed: Callable[[IndexReport], object] | None = None,
                 on_error: Callable[[str], object] | None = None) -> None:
        self.library = library
        self.folders = [absolute(f) for f in folders]
        for folder in self.folders:
            if not folder.is_dir():
                raise InkwellError(f"{folder}: not a folder; only folders can be watched")
        self.quiet_s = quiet_s
        self.on_indexed = on_indexed
        self.on_error = on_error
        self._pending: set[Path] = set()
        self._last_event = 0.0
        self._cond = threading.Condition()
        self._stop = False
        self._observer: Any = None
        self._worker: threading.Thread | None = None

    def queue(self, path: str | bytes) -> None:
        """Record a changed path (called from watchdog's thread)."""
        p = Path(os.fsdecode(path))
        if self._hidden(p) or reader_for(p) is None:
            return
        self._requeue([p])

    def _hidden(self, path: Path) -> bool:
        """Hidden below the watched folder (an editor's swap file, ``.git``); a watched
        folder may itself lie inside a hidden one (``~/.notes``)."""
        for folder in self.folders:
            if path.is_relative_to(folder):
                return any(part.startswith(".") for part in path.relative_to(folder).parts)
        return True

    def _requeue(self, paths: Iterable[Path]) -> None:
        with self._cond:
            self._pending.update(paths)
            self._last_event = time.monotonic()
            self._cond.notify()

    def start(self) -> FolderWatcher:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory:
                    return
                watcher.queue(event.src_path)
                if getattr(event, "dest_path", ""):
                    watcher.queue(event.dest_path)

        self._observer = Observer()
        for folder in self.folders:
            self._observer.schedule(Handler(), str(folder), recursive=True)
        self._observer.start()
        self._worker = threading.Thread(target=self._run, name="inkwell-watch", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        if self._worker is not None:
            self._worker.join(timeout=60)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (
                        not self._pending
                        or time.monotonic() - self._last_event < self.quiet_s):
                    self._cond.wait(timeout=self.quiet_s / 4)
                if self._stop:
                    return
                paths, self._pending = self._pending, set()
            try:
                report = self.index(paths)
            except DataDirBusy:
                self._requeue(paths)  # the other process is done some quiet periods later
                continue
            except Exception as exc:  # a watcher that dies silently still says "watching"
                if self.on_error is not None:
                    self.on_error(str(exc) if isinstance(exc, InkwellError)
                                  else f"{type(exc).__name__}: {exc}")
                continue
            if self.on_indexed is not None and report is not None:
                self.on_indexed(report)

    def index(self, paths: Iterable[Path]) -> IndexReport | None:
        """Index changed paths that still exist or were indexed before (i.e. were deleted)."""
        known = [p for p in paths
                 if os.path.lexists(p) or self.library.manifest.origin(str(p)) is not None]
        if not known:
            return None
        return self.library.add_job(known).execute()
