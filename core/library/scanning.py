"""Walking the folders the user adds: which files to read, which to report as unusable.

The walk follows symlinked folders (a user may link a notes folder in) but
remembers every real folder it entered, so a link back to an ancestor is
reported as a symlink loop instead of recursing forever.  Hidden entries
(``.git``, ``.venv``, editor swap files) are passed over silently; files of a
type no reader handles are counted but not listed, so adding a code checkout
does not flood the status with thousands of ``.py`` rows.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from core.library.readers import MAX_FILE_BYTES, reader_for

Signature = tuple[int, int, int]  # size, mtime_ns, ctime_ns: a change in any means re-check


@dataclass(frozen=True)
class Candidate:
    path: Path
    signature: Signature | None = None  # None: could not stat; ``skip`` says why
    skip: str | None = None


@dataclass
class ScanResult:
    candidates: list[Candidate] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # scanned folders (to find deletions)
    ignored: int = 0  # files of an unsupported type


def absolute(path: str | os.PathLike[str]) -> Path:
    """Absolute, normalised path without resolving the last component's symlink."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    return p.parent.resolve() / p.name if p.name else p


def stat_candidate(path: Path, max_bytes: int = MAX_FILE_BYTES) -> Candidate:
    """Check one file before reading it: it exists, is a regular file, is under the cap."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return Candidate(path, skip="broken symlink (its target does not exist)")
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Candidate(path, skip="symlink loop (too many levels of symbolic links)")
        if exc.errno == errno.EACCES:
            return Candidate(path, skip="unreadable: permission denied")
        return Candidate(path, skip=f"cannot be read ({exc.strerror or exc})")
    signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if not stat.S_ISREG(st.st_mode):
        return Candidate(path, signature, "not a regular file (device, pipe or socket)")
    if st.st_size > max_bytes:
        return Candidate(path, signature, f"over the size cap ({max_bytes // (1024 * 1024)} MB; "
                                          f"this file has {st.st_size:,} bytes)")
    return Candidate(path, signature)


def scan(paths: list[Path], max_bytes: int = MAX_FILE_BYTES) -> ScanResult:
    """Expand files and folders into candidate files (explicit files are always candidates)."""
    result = ScanResult()
    for path in paths:
        if path.is_dir():
            result.folders.append(path)
            _walk(path, {path.resolve()}, result, max_bytes)
        elif os.path.lexists(path):
            result.candidates.append(stat_candidate(path, max_bytes))
    return result


def _walk(folder: Path, active: set[Path], result: ScanResult, max_bytes: int) -> None:
    """Depth-first walk; ``active`` holds the real paths of the folders on the current branch."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        result.candidates.append(Candidate(folder, skip=f"folder cannot be listed "
                                                        f"({exc.strerror or exc})"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            real = path.resolve()
            if real in active or any(real in a.parents for a in active):
                result.candidates.append(Candidate(path, skip=f"symlink loop (links back to "
                                                              f"{real})"))
                continue
            _walk(path, active | {real}, result, max_bytes)
        elif reader_for(path) is None:
            result.ignored += 1
        else:
            try:
                result.candidates.append(stat_candidate(path, max_bytes))
            except FileNotFoundError:
                continue  # vanished between listing and stat: nothing to index
