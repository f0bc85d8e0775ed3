"""Running ``core`` work off the GUI thread.

A :class:`Worker` is a ``QRunnable`` with its own ``QObject`` of signals (a
runnable cannot emit by itself).  It turns ``core``'s outcomes into signals:
``InkwellError`` becomes a readable ``failed`` message, ``JobCancelled`` becomes
``cancelled``, anything else a short message (with the traceback on stderr for
a bug report, never in the window).  Progress and streamed text are coalesced
in the worker thread, so the GUI repaints a few dozen times a second however
fast tokens or files arrive.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import InkwellError, JobCancelled
from core.jobs import CancelToken, Job, Progress

TEXT_INTERVAL_S = 0.04  # streamed text reaches the GUI at most 25 times a second
PROGRESS_INTERVAL_S = 0.1


class WorkerSignals(QObject):
    progress = Signal(object)  # core.jobs.Progress
    text = Signal(str)  # a batch of streamed text
    info = Signal(object)  # an early partial result (a write's sources, before its text)
    result = Signal(object)  # what the work returned
    failed = Signal(str)  # a message for the user
    cancelled = Signal()
    finished = Signal()  # always last, whatever the outcome


class Worker(QRunnable):
    """Runs ``work(worker)`` on a pool thread.

    ``work`` may call :meth:`report`, :meth:`write` and :meth:`publish` to reach the GUI.
    """

    def __init__(self, work: Callable[[Worker], Any], cancel: CancelToken | None = None) -> None:
        super().__init__()
        # The pool releases it once run() returns.  Without auto-delete PySide's pool kept
        # a reference to every worker it ever ran, and with it the job's data.
        self.setAutoDelete(True)
        self.signals = WorkerSignals()
        self.cancel_token = cancel or CancelToken()
        self._work = work
        self._text: list[str] = []
        self._text_at = 0.0
        self._progress_at = 0.0
        # Set on the worker's thread when run() returns: ``finished`` reaches the GUI thread
        # only through its event loop, which a window waiting for its jobs does not run.
        self.returned = threading.Event()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def report(self, progress: Progress) -> None:
        """Forward progress, dropping reports that come faster than the GUI can show them."""
        now = time.monotonic()
        final = progress.total is not None and progress.done >= progress.total
        if final or now - self._progress_at >= PROGRESS_INTERVAL_S:
            self._progress_at = now
            self.signals.progress.emit(progress)

    def write(self, piece: str) -> None:
        """Queue streamed text; it is sent in batches (a repaint per token would stall the GUI)."""
        self._text.append(piece)
        now = time.monotonic()
        if now - self._text_at >= TEXT_INTERVAL_S:
            self._flush_text(now)

    def publish(self, value: Any) -> None:
        self.signals.info.emit(value)

    def _flush_text(self, now: float) -> None:
        if self._text:
            self.signals.text.emit("".join(self._text))
            self._text.clear()
        self._text_at = now

    def run(self) -> None:
        try:
            result = self._work(self)
            self._flush_text(time.monotonic())
            if self.cancel_token.cancelled:
                self.signals.cancelled.emit()
            else:
                self.signals.result.emit(result)
        except JobCancelled:
            self._flush_text(time.monotonic())
            self.signals.cancelled.emit()
        except InkwellError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.signals.failed.emit(f"Something went wrong ({type(exc).__name__}: {exc}).")
        finally:
            self.returned.set()
            self.signals.finished.emit()


def job_worker(job: Job[Any]) -> Worker:
    """A worker that executes a ``core`` job; cancelling the worker cancels the job."""

    def work(worker: Worker) -> Any:
        job.on_progress(worker.report)
        return job.execute()

    return Worker(work, job.cancel_token)


class Workers(QObject):
    """The window's running workers: started here, cancelled and awaited together on close."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        # Indexing, writing and evaluation may overlap; none of them should wait for another.
        self._pool.setMaxThreadCount(max_threads)
        self._running: dict[WorkerSignals, Worker] = {}

    def start(self, worker: Worker) -> Worker:
        """Run ``worker`` on the pool; it is released once it has finished.

        Its signals object is parented to this registry and deleted (``deleteLater``) after
        ``finished``: a connection holding the worker (a lambda capturing it) would keep
        the worker, and the job data its work holds, alive for as long as the window.
        """
        self._running[worker.signals] = worker
        worker.signals.setParent(self)
        worker.signals.finished.connect(self._finished)
        self._pool.start(worker)
        return worker

    def _finished(self) -> None:
        signals = self.sender()
        if isinstance(signals, WorkerSignals):
            self._running.pop(signals, None)
            signals.deleteLater()  # its connections, and what their slots hold, go with it

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def is_running(self, worker: Worker) -> bool:
        """Whether ``worker`` was started here and its work has not returned."""
        return self._running.get(worker.signals) is worker and not worker.returned.is_set()

    def cancel_all(self) -> None:
        for worker in list(self._running.values()):
            worker.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until every worker has returned (jobs stop at their next cancellation check)."""
        return self._pool.waitForDone(timeout_ms)
