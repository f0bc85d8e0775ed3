"""The training worker: ``python -P -m core.adapters.worker --request FILE``.

Its protocol — events on stdout, cancel on stdin, how it is started — is
:mod:`core.adapters.protocol`.  Everything else any library prints goes to
stderr (the data dir's worker log), so the event stream stays clean.  A cancel
(a ``cancel`` line or the end of stdin; SIGTERM/SIGINT where the OS has them)
makes the training loop save a checkpoint at the next step boundary, and the
worker exits with status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TextIO

from core.privacy import install_network_guard


class _Events:
    """The event stream to the parent.  When the parent is gone (killed with -9, its end of
    the pipe closed) writes fail; the worker then stops at the next step boundary with a
    checkpoint instead of training on unobserved, or dying mid-step of EPIPE."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.parent_gone = False

    def emit(self, line: str) -> bool:
        if self.parent_gone:
            return False
        try:
            self.out.write(line)
            self.out.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream is already closed
            self.parent_gone = True
            self.out = open(os.devnull, "w")  # noqa: SIM115 - nothing left to flush at exit
            return False
        return True


def _watch_stdin(stdin: IO[str], cancel_line: str, cancel: Callable[[], None]) -> None:
    """Cancel on a ``cancel`` line or at the end of stdin (the parent closed it, or died)."""
    for line in stdin:
        if line.strip() == cancel_line:
            break
    cancel()


def main(argv: list[str] | None = None) -> int:
    install_network_guard()  # first, before anything can open a connection
    parser = argparse.ArgumentParser(prog="python -P -m core.adapters.worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--request", required=True, type=Path)
    args = parser.parse_args(argv)

    # The events get a private copy of stdout; fd 1 itself now points at stderr.
    events = _Events(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from core.adapters.config import TrainConfig
    from core.adapters.data import Example
    from core.adapters.job import TrainJob
    from core.adapters.protocol import CANCEL, Finished, encode
    from core.errors import InkwellError, JobCancelled
    from core.jobs import Progress
    from core.models import ModelInfo
    from core.paths import Home

    home = Home.resolve(args.home).ensure()
    install_network_guard(log_file=home.logs_dir / "network-guard.log")
    try:
        home.hold_app_lock()  # "Delete everything" waits for this process to end
        try:
            request = json.loads(args.request.read_text(encoding="utf-8"))
            model = ModelInfo(**{**request["model"], "path": Path(request["model"]["path"])})
            examples = [Example.from_json(e) for e in request["examples"]]
            config = TrainConfig.from_json(request["config"])
            name = str(request["name"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InkwellError(f"{args.request}: cannot read the training request ({exc})") from exc
        job = TrainJob(home.profile(args.profile), model, examples, config, name)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: job.cancel())
        if sys.stdin is not None:  # None in a frozen app started without one
            threading.Thread(target=_watch_stdin, args=(sys.stdin, CANCEL, job.cancel),
                             daemon=True).start()

        def relay(progress: Progress) -> None:
            if not events.emit(encode(progress)):
                job.cancel()  # nobody is listening: checkpoint at the next step and stop

        job.on_progress(relay)
        record = job.execute()
    except JobCancelled:
        events.emit(encode(Finished("cancelled")))
        return 130
    except InkwellError as exc:
        events.emit(encode(Finished("error", message=str(exc))))
        return 2
    events.emit(encode(Finished("done", adapter=record.to_json())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
