"""``library watch`` keeps watching: a busy library is retried, a hidden parent is no reason
to drop events (issue 19: it stopped silently on any error, yet kept saying "watching")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.library import Library
from core.library.watch import FolderWatcher
from tests.crashkit import REPO

HOLD_LOCK = """
import sys
from core.locks import hold
with hold(__import__("pathlib").Path(sys.argv[1]), busy="busy"):
    print("held", flush=True)
    sys.stdin.read()
"""


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"the watcher did not {what}"
        time.sleep(0.1)


def _indexed(library: Library, path: Path) -> bool:
    return getattr(library.manifest.origin(str(path)), "status", "") == "indexed"


def test_a_watched_folder_inside_a_hidden_one_is_watched(tmp_path: Path, profile) -> None:
    folder = tmp_path / ".notes" / "journal"
    folder.mkdir(parents=True)
    library = Library(profile)
    watcher = FolderWatcher(library, [folder], quiet_s=0.3).start()
    try:
        note = folder / "monday.md"
        note.write_text("# Monday\n\nThe ferry was late again.\n")
        (folder / ".monday.md.swp").write_text("an editor's swap file")
        _wait_for(lambda: _indexed(library, note), "index a file below a hidden folder")
        assert library.manifest.origin(str(folder / ".monday.md.swp")) is None
    finally:
        watcher.stop()
        library.close()


def test_a_busy_library_is_retried(tmp_path: Path, profile) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    library = Library(profile, lock_wait_s=0.2)
    errors: list[str] = []
    watcher = FolderWatcher(library, [folder], quiet_s=0.3, on_error=errors.append).start()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(library.dir / "write.lock")],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        note = folder / "tuesday.md"
        note.write_text("# Tuesday\n\nGulls on the quay.\n")
        time.sleep(2)  # several quiet periods: each attempt finds the library busy
        assert not _indexed(library, note)
        holder.communicate("", timeout=60)  # the other process is done
        _wait_for(lambda: _indexed(library, note), "index once the library was free")
        assert errors == []
    finally:
        if holder.poll() is None:
            holder.kill()
        watcher.stop()
        library.close()
