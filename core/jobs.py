"""Long jobs (indexing, training, evaluation) as objects.

A job is prepared (inputs validated, amount of work counted), then run; while it
runs it reports progress to its listeners and checks for cancellation between
units of work.  The CLI renders progress on stderr, the GUI forwards it to Qt
signals from a worker thread — both drive the same ``Job`` objects, so there is
one implementation of each long operation.  Jobs persist their own progress
(manifest rows, checkpoints, per-user results), so running the same job again
after a crash or a cancel resumes it.
"""

from __future__ import annotations

import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TextIO, TypeVar

from core.errors import JobCancelled

R = TypeVar("R")


@dataclass(frozen=True)
class Progress:
    """One progress report.  ``metrics`` carries job-specific numbers (loss, examples/s)."""

    done: int
    total: int | None
    message: str = ""
    eta_s: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressListener = Callable[[Progress], None]


class CancelToken:
    """Shared between a job and whoever may cancel it (another thread, a signal handler)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelled()


class Job(ABC, Generic[R]):
    """Base class: subclasses implement ``run`` and call ``report`` and ``check_cancelled``."""

    title = "job"

    def __init__(self) -> None:
        self.cancel_token = CancelToken()
        self._listeners: list[ProgressListener] = []
        self._started: float | None = None
        self._done_at_start = 0

    def on_progress(self, listener: ProgressListener) -> None:
        self._listeners.append(listener)

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def check_cancelled(self) -> None:
        self.cancel_token.raise_if_cancelled()

    def prepare(self) -> None:
        """Validate inputs and count the work; raise ``InkwellError`` for bad input."""

    @abstractmethod
    def run(self) -> R:
        """Do the work; resumable from whatever the previous run persisted."""

    def execute(self) -> R:
        self.prepare()
        return self.run()

    def report(self, done: int, total: int | None, message: str = "", **metrics: Any) -> Progress:
        """Send progress to the listeners; ETA uses the rate of *this* run only.

        Work done by an earlier, interrupted run is counted in ``done`` but not in
        the rate, so a resumed job does not promise an impossible finish time.
        """
        now = time.monotonic()
        if self._started is None:
            self._started = now
            self._done_at_start = done
        eta = None
        progressed = done - self._done_at_start
        if total is not None and progressed > 0:
            rate = progressed / max(now - self._started, 1e-9)
            eta = max(0.0, (total - done) / rate)
        progress = Progress(done, total, message, eta, metrics)
        for listener in self._listeners:
            listener(progress)
        return progress


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class StderrProgress:
    """A progress listener for the CLI: one line, rewritten in place on a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None, min_interval: float = 0.2) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self._last = 0.0
        self._tty = self.stream.isatty()

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.total is not None and p.done >= p.total
        if not final and now - self._last < self.min_interval:
            return
        self._last = now
        total = "?" if p.total is None else str(p.total)
        extras = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.metrics.items()
        )
        line = f"{self.label}: {p.done}/{total} ETA {format_eta(p.eta_s)} {extras} {p.message}"
        if self._tty:
            self.stream.write("\r\033[K" + line.rstrip())
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(line.rstrip() + "\n")
        self.stream.flush()
