"""The training child process: ``python -m core.adapters.worker --request FILE``.

Speaks JSON lines on stdout (``progress``, then ``done`` with the adapter
record, or ``error`` / ``cancelled``); everything else any library prints goes
to stderr, so the protocol stream stays clean.  SIGTERM and SIGINT cancel: the
training loop saves a checkpoint at the next step boundary and the worker exits
with status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from core.privacy import install_network_guard


class _Protocol:
    """The JSON-lines stream to the parent.  When the parent is gone (killed with -9, its
    end of the pipe closed) writes fail; the worker then stops at the next step boundary
    with a checkpoint instead of training on unobserved, or dying mid-step of EPIPE."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.parent_gone = False

    def emit(self, event: dict[str, Any]) -> bool:
        if self.parent_gone:
            return False
        try:
            self.out.write(json.dumps(event, default=str) + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream is already closed
            self.parent_gone = True
            self.out = open(os.devnull, "w")  # noqa: SIM115 - nothing left to flush at exit
            return False
        return True


def main(argv: list[str] | None = None) -> int:
    install_network_guard()  # first, before anything can open a connection
    parser = argparse.ArgumentParser(prog="python -m core.adapters.worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--request", required=True, type=Path)
    args = parser.parse_args(argv)

    # The protocol gets a private copy of stdout; fd 1 itself now points at stderr.
    protocol = _Protocol(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from core.adapters.config import TrainConfig
    from core.adapters.data import Example
    from core.adapters.job import TrainJob, progress_event
    from core.errors import InkwellError, JobCancelled
    from core.jobs import Progress
    from core.models import ModelInfo
    from core.paths import Home

    home = Home.resolve(args.home).ensure()
    install_network_guard(log_file=home.logs_dir / "network-guard.log")
    try:
        home.hold_app_lock()  # "Delete everything" waits for this process to end
        request = json.loads(args.request.read_text(encoding="utf-8"))
        model = ModelInfo(**{**request["model"], "path": Path(request["model"]["path"])})
        job = TrainJob(
            home.profile(args.profile),
            model,
            [Example.from_json(e) for e in request["examples"]],
            TrainConfig.from_json(request["config"]),
            request["name"],
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: job.cancel())

        def relay(progress: Progress) -> None:
            if not protocol.emit(progress_event(progress)):
                job.cancel()  # nobody is listening: checkpoint at the next step and stop

        job.on_progress(relay)
        record = job.execute()
    except JobCancelled:
        protocol.emit({"event": "cancelled"})
        return 130
    except InkwellError as exc:
        protocol.emit({"event": "error", "message": str(exc)})
        return 2
    protocol.emit({"event": "done", "adapter": record.to_json()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
