"""Locks between Inkwell processes: the one place that knows how a file is locked.

Built on ``filelock`` (``flock`` on POSIX, ``LockFileEx`` on Windows), so the core
runs where ``fcntl`` does not exist.  A lock belongs to an open file, not to the
lock file's existence: a process that dies, however it dies, releases its locks.

One lock per path per process (:func:`process_lock`): the threads of a process
share it re-entrantly — a nested hold by the holding thread goes through, other
threads wait their turn like other processes do — so a library's writer, a
training job and a one-time export all lock the same way.

One lock is shared rather than exclusive: the data dir's app lock
(:func:`share_app_lock`), which every Inkwell process holds for its lifetime and
"Delete everything" takes exclusively (:func:`exclusive_app_lock`), so it cannot
pull the data dir from under a running desktop, training or server.  It is
filelock's reader/writer lock (a SQLite transaction on the lock file).

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


_APP_LOCKS: dict[str, filelock.ReadWriteLock] = {}


def share_app_lock(path: Path, *, busy: str) -> None:
    """Hold the app lock ``path`` shared until this process exits (a no-op when held).

    ``busy``: the message when "Delete everything" holds it right now.
    """
    key = os.path.abspath(path)
    with _REGISTRY:
        if key in _APP_LOCKS:
            return
        ensure_private_dir(path.parent)
        lock = filelock.ReadWriteLock(key, is_singleton=False)
        try:
            lock.acquire_read(timeout=0)
        except filelock.Timeout:
            lock.close()
            raise DataDirBusy(busy) from None
        _APP_LOCKS[key] = lock


@contextlib.contextmanager
def exclusive_app_lock(path: Path, *, busy: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the app lock ``path`` alone: no other Inkwell process is running on the data dir.

    This process's own shared hold is given up first (and not taken back: the caller is
    about to delete what it protects).  Released, and its file closed, on leaving.
    """
    key = os.path.abspath(path)
    with _REGISTRY:
        mine = _APP_LOCKS.pop(key, None)
    if mine is not None:
        mine.release(force=True)
        mine.close()
    ensure_private_dir(path.parent)
    lock = filelock.ReadWriteLock(key, is_singleton=False)
    try:
        try:
            lock.acquire_write(timeout=wait_s)
        except filelock.Timeout:
            raise DataDirBusy(busy) from None
        try:
            yield
        finally:
            lock.release(force=True)
    finally:
        lock.close()
