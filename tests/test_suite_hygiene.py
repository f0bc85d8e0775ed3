"""The suite cannot hang on what a test leaves running: every ``threading.Thread`` a test
starts is a daemon, and every ``subprocess.run``/``check_output``/``check_call``/``call``
has a timeout.  (A ``Popen`` is waited for by its test with a timeout of its own; each test
is also bounded by pytest-timeout, and tests/hang_guard.py ends a suite a stuck thread would
keep from exiting.)"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BLOCKING = {"run", "check_output", "check_call", "call"}


def _offences(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)):
            continue
        module, name = node.func.value.id, node.func.attr
        keywords = {k.arg for k in node.keywords}
        daemon = any(k.arg == "daemon" and isinstance(k.value, ast.Constant) and k.value.value
                     is True for k in node.keywords)
        where = f"{path}:{node.lineno}"
        if module == "subprocess" and name in BLOCKING and "timeout" not in keywords:
            found.append(f"{where}: subprocess.{name} without a timeout")
        if module == "threading" and name == "Thread" and not daemon:
            found.append(f"{where}: a thread that is not a daemon")
    return found


def test_every_test_thread_is_a_daemon_and_every_child_has_a_timeout() -> None:
    offences = [o for path in sorted(TESTS.rglob("*.py")) for o in _offences(path)]
    assert offences == []


def test_the_check_sees_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "test_probe.py"
    bad.write_text("import subprocess, threading\nsubprocess.run(['true'])\n"
                   "threading.Thread(target=print, daemon=False)\n")
    assert len(_offences(bad)) == 2
