"""Filesystem helpers shared by every store: atomic writes and private permissions.

Every file Inkwell writes that another process may read (settings, manifests,
adapter metadata, results) is written to a temporary file in the same folder and
renamed into place, so a crash leaves either the old or the new file, never half
of one.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable only by the user.

    Every folder this creates is made private, not only the last one:
    ``mkdir(parents=True)`` gives the parents it creates the umask's mode (often
    0755), which left e.g. an evaluation run's folder world-readable.  Folders
    that already existed keep their mode, except ``path`` itself.
    """
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if os.name == "posix":
        for p in (path, *missing):
            os.chmod(p, PRIVATE_DIR_MODE)
    return path


STALE_TEMP_S = 3600.0  # older temp files of a target are a killed writer's leftovers


def _remove_stale_temps(target: Path) -> None:
    """Delete temporary files of earlier writes of ``target`` that a killed process left.

    They hold (part of) what the file held, so they must not pile up beside it.  Only
    old ones go: another process writing the same target right now has a fresh one.
    """
    cutoff = time.time() - STALE_TEMP_S
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.lstat().st_mtime < cutoff:
                tmp.unlink()


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success."""
    ensure_private_dir(target.parent)
    _remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if os.name == "posix":
            os.chmod(tmp, PRIVATE_FILE_MODE)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: Path, obj: Any) -> None:
    atomic_write_text(target, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file written by ``atomic_write_json``; ``default`` if it does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def repair_private_permissions(root: Path) -> int:
    """Strip group/other access from everything below ``root``; return how many were fixed.

    Run at start-up: a data dir copied from a backup or created by an older
    version may have been left world-readable.
    """
    if os.name != "posix" or not root.exists():
        return 0
    fixed = 0
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            st = os.lstat(name)
            mode = stat.S_IMODE(st.st_mode)
            if not stat.S_ISLNK(st.st_mode) and mode & 0o077:
                os.chmod(name, mode & 0o700)
                fixed += 1
    return fixed


def tree_size(path: Path) -> int:
    """Bytes used by the files below ``path`` (0 if it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def fsync_tree(root: Path) -> None:
    """Flush every file and folder below ``root`` to disk.

    Before a rename publishes a folder: the rename is then never on disk ahead of
    the data it names.
    """
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(dirpath))


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
