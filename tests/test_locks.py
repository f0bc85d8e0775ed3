"""core.locks: one lock across processes and threads, and a core that needs no ``fcntl``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from core.errors import DataDirBusy
from core.locks import hold, process_lock

HOLD_IN_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from core.errors import DataDirBusy
    from core.locks import hold
    try:
        with hold(Path(sys.argv[1]), busy="busy", wait_s=0.2):
            print("got it")
    except DataDirBusy as exc:
        print(exc)
""")


def _child_tries(path: Path) -> str:
    out = subprocess.run([sys.executable, "-c", HOLD_IN_CHILD, str(path)], capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_another_process_waits_then_is_told_busy(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "write.lock"
    with hold(path, busy="x") as outermost:
        assert outermost and path.parent.is_dir()
        assert _child_tries(path) == "busy"
    assert _child_tries(path) == "got it"  # released on leaving the block


def test_reentrant_in_a_thread_exclusive_between_threads(tmp_path: Path) -> None:
    path = tmp_path / "job.lock"
    lock = process_lock(path)
    assert process_lock(tmp_path / "." / "job.lock") is lock  # one per path in a process
    seen: list[str] = []

    def other_thread() -> None:
        try:
            with hold(path, busy="held by another thread", wait_s=0.1):
                seen.append("got it")
        except DataDirBusy as exc:
            seen.append(str(exc))

    with lock.hold(busy="x") as outer, hold(path, busy="x") as inner:
        assert outer and not inner and lock.held
        t = threading.Thread(target=other_thread, daemon=True)
        t.start()
        t.join(30)
    assert seen == ["held by another thread"]
    assert not lock.held
    other_thread()
    assert seen[-1] == "got it"


WITHOUT_FCNTL = textwrap.dedent("""
    import importlib, pkgutil, sys, threading, warnings
    sys.modules["fcntl"] = None  # as on Windows: `import fcntl` raises ImportError
    warnings.simplefilter("ignore")  # filelock says it falls back to soft locks
    from pathlib import Path
    import core
    for info in pkgutil.walk_packages(core.__path__, "core."):
        if info.name != "core.__main__":
            importlib.import_module(info.name)
    from core.errors import DataDirBusy
    from core.locks import hold
    path = Path(sys.argv[1])
    busy = []
    def other():
        try:
            with hold(path, busy="busy", wait_s=0):
                pass
        except DataDirBusy:
            busy.append(True)
    with hold(path, busy="busy"):
        t = threading.Thread(target=other); t.start(); t.join()
    with hold(path, busy="busy"):
        pass
    print("ok", busy)
""")


@pytest.mark.timeout(300)
def test_core_imports_and_locks_without_fcntl(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", WITHOUT_FCNTL, str(tmp_path / "a.lock")],
                         capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok [True]"
