"""Locks between Inkwell processes: the one place that knows how a file is locked.

Built on ``filelock`` (``flock`` on POSIX, ``LockFileEx`` on Windows), so the core
runs where ``fcntl`` does not exist.  A lock belongs to an open file, not to the
lock file's existence: a process that dies, however it dies, releases its locks.

One lock per path per process (:func:`process_lock`): the threads of a process
share it re-entrantly — a nested hold by the holding thread goes through, other
threads wait their turn like other processes do — so a library's writer, a
training job and a one-time export all lock the same way.

``wait_s``: ``0`` tries once, a positive number waits that long, ``None`` waits
for as long as it takes (for quick work that must happen once, such as an export
another process may be doing right now).  A lock not had in time raises
:class:`~core.errors.DataDirBusy` with the caller's message.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import filelock

from core.errors import DataDirBusy
from core.fsutil import PRIVATE_FILE_MODE, ensure_private_dir

POLL_S = 0.05


class ProcessLock:
    """An exclusive lock on ``path`` across processes, re-entrant within this process.

    Get it with :func:`process_lock` rather than constructing one: two instances for
    one path in the same process would exclude each other like two processes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # thread_local=False: this process, not one thread, owns the file lock; the RLock
        # below makes this process's other threads wait for their turn.
        self._file_lock = filelock.FileLock(path, mode=PRIVATE_FILE_MODE, thread_local=False)
        self._threads = threading.RLock()
        self._depth = 0

    @contextlib.contextmanager
    def hold(self, *, busy: str, wait_s: float | None = 0.0) -> Iterator[bool]:
        """Hold the lock; yield True for the outermost hold of this process (e.g. to reconcile).

        ``busy``: the message of the :class:`DataDirBusy` raised when it is not had in time.
        """
        timeout = -1.0 if wait_s is None else wait_s
        if not self._threads.acquire(timeout=timeout):
            raise DataDirBusy(busy)
        try:
            outermost = self._depth == 0
            if outermost:
                ensure_private_dir(self.path.parent)
                try:
                    self._file_lock.acquire(timeout=timeout, poll_interval=POLL_S)
                except filelock.Timeout:
                    raise DataDirBusy(busy) from None
            self._depth += 1
            try:
                yield outermost
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._file_lock.release()
        finally:
            self._threads.release()

    @property
    def held(self) -> bool:
        """Whether a thread of this process holds the lock now."""
        return self._depth > 0


_LOCKS: dict[str, ProcessLock] = {}
_REGISTRY = threading.Lock()


def process_lock(path: Path) -> ProcessLock:
    """This process's lock on ``path`` (one per path: see :class:`ProcessLock`)."""
    key = os.path.abspath(path)
    with _REGISTRY:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = ProcessLock(Path(key))
        return lock


@contextlib.contextmanager
def hold(path: Path, *, busy: str, wait_s: float | None = 0.0) -> Iterator[bool]:
    """Hold the lock on ``path`` for one block; yields True for the outermost hold."""
    with process_lock(path).hold(busy=busy, wait_s=wait_s) as outermost:
        yield outermost
