"""User-facing errors.

Everything ``core`` raises for bad input or an impossible request is an
``InkwellError``: its message is written for the person using the app (it names
the file and the reason), so the CLI and the GUI can show it as-is instead of a
traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator


class InkwellError(Exception):
    """An error whose message is meant for the user."""


class NetworkRefused(InkwellError, PermissionError):
    """A connection to a non-local address was attempted and refused by the guard."""


class JobCancelled(InkwellError):
    """A long job stopped because the user asked it to."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class DocumentsForgotten(InkwellError):
    """Work that read documents stops: the user forgot one of them meanwhile."""


class BadModelFile(InkwellError):
    """A file given as a model is not a usable GGUF model."""


class DataDirBusy(InkwellError):
    """Another Inkwell process is already changing the same data directory."""


class DiskFull(InkwellError):
    """A write failed because the disk (or the user's quota) is full.

    Raised in place of the many shapes a full disk takes underneath (``OSError``
    ENOSPC/EFBIG/EDQUOT, SQLite's "database or disk is full", Chroma's internal
    errors), so the user reads what happened and what to do instead of a traceback.
    """


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_DISK_FULL_WORDS = ("database or disk is full", "no space left on device", "disk quota exceeded",
                    "file too large")
LOW_SPACE_BYTES = 4 * 1024 * 1024


def is_disk_full(exc: BaseException, folder: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``exc`` (or an error it was raised from) means the disk is full.

    Chroma reports some failed writes only as "Error in compaction", without the
    cause; when ``folder`` is given, a failed write there with less than
    ``LOW_SPACE_BYTES`` left on its file system counts as a full disk too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        if any(w in str(current).lower() for w in _DISK_FULL_WORDS):
            return True
        current = current.__cause__ or current.__context__
    if folder is not None:
        try:
            return shutil.disk_usage(folder).free < LOW_SPACE_BYTES  # statvfs is POSIX-only
        except OSError:
            return False
    return False


@contextlib.contextmanager
def saving(
    where: str | os.PathLike[str], what: str, advice: str,
    folder: str | os.PathLike[str] | None = None,
) -> Iterator[None]:
    """Turn a failed write inside the block into an error for the user, the same everywhere.

    A full disk (:func:`is_disk_full`) raises :class:`DiskFull`: "``where``: the disk is
    full, ``what`` could not be saved (reason); ``advice``".  Any other ``OSError`` raises
    :class:`InkwellError`: "``where``: could not save ``what`` (reason)".
    """
    try:
        yield
    except InkwellError:
        raise
    except Exception as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        if is_disk_full(exc, folder):
            raise DiskFull(
                f"{where}: the disk is full, {what} could not be saved ({reason}); {advice}"
            ) from exc
        if isinstance(exc, OSError):
            raise InkwellError(f"{where}: could not save {what} ({reason})") from exc
        raise
