"""How the training worker is started, how it talks, and how it is stopped: both ends.

The parent (:class:`core.adapters.job.TrainProcessJob`, which the CLI and the
desktop both run) starts ``python -P -m core.adapters.worker`` with
:func:`start_worker`; the worker (:mod:`core.adapters.worker`) answers with one
JSON object per line on its stdout:

* ``{"event": "progress", "done", "total", "message", "eta_s", "metrics"}`` — any number;
* then one of ``{"event": "done", "adapter": {...}}``, ``{"event": "error", "message"}``,
  ``{"event": "cancelled"}``.

Cancel travels the other way on the worker's stdin, which works on every OS: a
``cancel`` line, or the end of the stream (the parent closed it, or died), makes
the worker save a checkpoint at the next step boundary and exit.  SIGTERM and
SIGINT do the same where the OS has them.  A worker that has not stopped
``CANCEL_GRACE_S`` after being asked is killed; its last checkpoint still resumes.

The worker runs with ``-P`` and its working directory in the data dir, so a
``core/`` folder in whatever directory the app was started from can neither
shadow Inkwell's modules nor run code in the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.fsutil import PRIVATE_FILE_MODE, ensure_private_dir
from core.jobs import Progress
from core.paths import ProfilePaths
from core.third_party_output import QUIET_ENV

TRAIN_WORKER_FLAG = "--train-worker"  # a frozen app's executable runs the worker with it
CANCEL = "cancel"  # the line on the worker's stdin that asks it to checkpoint and stop
CANCEL_GRACE_S = 30.0  # then the worker is killed; its last checkpoint still resumes
WORKER_LOG = "training-worker.log"  # in the data dir's logs/: the worker's stderr
LOG_LIMIT_BYTES = 1 << 20  # a larger log is moved to .old when the next worker starts


# -- the events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    """The worker's last word: ``done`` (with the adapter record), ``error`` or ``cancelled``."""

    kind: str
    adapter: dict[str, Any] | None = None
    message: str = ""


Event = Progress | Finished


def encode(event: Event) -> str:
    """One protocol line (with its newline)."""
    if isinstance(event, Progress):
        data: dict[str, Any] = {"event": "progress", "done": event.done, "total": event.total,
                                "message": event.message, "eta_s": event.eta_s,
                                "metrics": event.metrics}
    elif event.kind == "done":
        data = {"event": "done", "adapter": event.adapter}
    elif event.kind == "error":
        data = {"event": "error", "message": event.message}
    else:
        data = {"event": "cancelled"}
    return json.dumps(data, default=str) + "\n"


def decode(line: str | bytes) -> Event | None:
    """The event of one line; None for a line that is not one (the protocol ignores those)."""
    try:
        data = json.loads(line)
        kind = data["event"]
        if kind == "progress":
            return Progress(int(data["done"]), data["total"], str(data.get("message", "")),
                            data.get("eta_s"), dict(data.get("metrics") or {}))
        if kind == "done":
            return Finished("done", adapter=dict(data["adapter"]))
        if kind == "error":
            return Finished("error", message=str(data["message"]))
        if kind == "cancelled":
            return Finished("cancelled")
    except (ValueError, TypeError, KeyError):
        pass
    return None


# -- starting the worker ---------------------------------------------------------------------------


def worker_command(home: Path, profile: str, request: Path) -> list[str]:
    """The worker's command line.

    From a source install it is ``python -P -m core.adapters.worker`` (``-P``: the
    working directory is not put on ``sys.path``); a frozen (PyInstaller) app has no
    ``python``, so it runs its own executable with ``--train-worker``, which the app's
    entry point hands to the worker first thing.
    """
    if getattr(sys, "frozen", False):
        program = [sys.executable, TRAIN_WORKER_FLAG]
    else:
        program = [sys.executable, "-P", "-m", "core.adapters.worker"]
    return [*program, "--home", str(Path(home).resolve()), "--profile", profile,
            "--request", str(Path(request).resolve())]


def worker_environment() -> dict[str, str]:
    """Ours, with libraries' progress bars and advice turned down (they would fill its log)."""
    return {**QUIET_ENV, **os.environ}


def start_worker(profile: ProfilePaths, request: Path) -> subprocess.Popen[str]:
    """Start the worker on ``request``: stdin for cancel, stdout for events, cwd in the data dir.

    Its stderr (libraries' warnings and progress bars, a crash's traceback) goes to
    :data:`WORKER_LOG` in the data dir's ``logs/``, never to the user's terminal.
    """
    home = profile.home
    log_path = ensure_private_dir(home.logs_dir) / WORKER_LOG
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > LOG_LIMIT_BYTES:
            os.replace(log_path, log_path.with_suffix(".log.old"))
    # Its own session (process group): a Ctrl-C in the terminal reaches only the parent,
    # which then cancels the worker cleanly instead of both dying mid-step.
    isolation: dict[str, Any] = (
        {"start_new_session": True} if os.name == "posix"
        else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    )
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        return subprocess.Popen(
            worker_command(home.root, profile.name, request), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, text=True, encoding="utf-8", cwd=home.root,
            env=worker_environment(), **isolation,
        )
    finally:
        os.close(log)


def ask_to_stop(proc: subprocess.Popen[str]) -> None:
    """Ask the worker to checkpoint and stop: a ``cancel`` line, then the end of its stdin."""
    if proc.stdin is None or proc.stdin.closed:
        return
    try:
        proc.stdin.write(CANCEL + "\n")
        proc.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass  # it has already exited
    with contextlib.suppress(BrokenPipeError, OSError):
        proc.stdin.close()
