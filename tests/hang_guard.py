"""A suite that fails instead of hanging, once every test has run.

pytest-timeout stops a test that runs too long, but not what a test leaves behind:
Python waits at exit for every non-daemon thread, so one blocked in ``accept()`` keeps
the finished suite from exiting (a CI job then dies at its time limit with no red line).
After the session this plugin gives such threads a few seconds, then prints where each
one is stuck and exits with a failure.  tests/conftest.py takes its hooks in.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import pytest

GRACE_S = 20.0
_status: list[int] = [0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status[0] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    left = [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    deadline = time.monotonic() + GRACE_S
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in left if t.is_alive()]
    if not stuck:
        return
    frames = sys._current_frames()
    print(f"\nhang_guard: {len(stuck)} non-daemon thread(s) still running {GRACE_S:.0f} s after "
          "the tests ended; Python would wait for them forever:", file=sys.stderr)
    for thread in stuck:
        frame = frames.get(thread.ident or 0)
        stack = "".join(traceback.format_stack(frame)) if frame else ""
        print(f"--- {thread.name}\n{stack}", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(_status[0] or 1)
