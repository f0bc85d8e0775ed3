"""A finished suite with a thread stuck in ``accept()`` exits red, promptly, naming the thread."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

STUCK = '''
import socket, threading

def test_leaves_a_thread_blocked_in_accept():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    threading.Thread(target=server.accept, name="stuck-accept").start()
'''


def test_a_leftover_thread_fails_the_suite_instead_of_hanging(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(STUCK)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.hang_guard", "-c",
         str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert "1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "stuck-accept" in proc.stderr and "accept" in proc.stderr, proc.stderr
