"""Training an adapter in a child process driven by QProcess.

The child is ``core.adapters.worker``, the same one ``inkwell adapter train``
runs: it reads a request file from the job's folder, speaks JSON lines on
stdout (``progress`` ..., then ``done`` / ``error`` / ``cancelled``) and, on
SIGTERM, saves a checkpoint at the next step and exits.  QProcess rather than a
thread, so Cancel is real (the training stops between two steps, not whenever
Python gets around to it) and a crash in torch cannot take the window down.
Because the request stays in the job's folder until the adapter is published,
an interrupted training can be resumed after a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from core.adapters.config import TrainConfig
from core.adapters.data import examples_from_documents
from core.adapters.job import REQUEST, TrainJob, worker_command
from core.adapters.store import AdapterRecord
from core.jobs import Progress
from core.models import ModelRegistry
from desktop.session import Session

CANCEL_GRACE_MS = 30_000  # after SIGTERM; then the worker is killed (its last checkpoint stays)


def write_request(session: Session, config: TrainConfig) -> Path:
    """Check the library's data and write the worker's request; return its path.

    The adapter's name is the one ``inkwell adapter train`` gives it, so the
    same data gives the same adapter id and job folder from either front end:
    a training started in one resumes in the other.
    """
    model = ModelRegistry(session.home).get(session.app_settings().model)
    examples = examples_from_documents(session.library().documents())
    job = TrainJob(session.profile, model, examples, config, f"{session.profile.name}-{model.name}")
    job.prepare()  # too little data, an untrainable model: a clear error before any process
    return job.write_request()


def interrupted_requests(session: Session) -> list[Path]:
    """Requests of trainings that were stopped before their adapter was published."""
    root = session.profile.training_dir
    return sorted(root.glob(f"*/{REQUEST}")) if root.is_dir() else []


class TrainingProcess(QObject):
    """One run of the training worker; emits ``finished`` last, whatever happened."""

    progress = Signal(object)  # core.jobs.Progress
    trained = Signal(object)  # AdapterRecord
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._proc = QProcess(self)
        # The worker's stderr (library chatter) goes to ours; stdout is the protocol.
        self._proc.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("TRANSFORMERS_VERBOSITY", "error")
        env.insert("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self._proc.setProcessEnvironment(env)
        self._proc.readyReadStandardOutput.connect(self._read)
        self._proc.finished.connect(self._finished)
        self._proc.errorOccurred.connect(self._error)
        self._outcome: dict[str, Any] = {}
        self._cancelling = False

    @property
    def running(self) -> bool:
        return self._proc.state() != QProcess.ProcessState.NotRunning

    def start(self, request: Path) -> None:
        self._outcome = {}
        self._cancelling = False
        program, *arguments = worker_command(
            self.session.home.root, self.session.profile.name, request)
        self._proc.start(program, arguments)

    def cancel(self) -> None:
        """Ask the worker to checkpoint and stop; kill it if it does not within the grace."""
        if not self.running or self._cancelling:
            return
        self._cancelling = True
        self._proc.terminate()
        QTimer.singleShot(CANCEL_GRACE_MS, self._kill_if_running)

    def stop_and_wait(self) -> None:
        """For closing the window: cancel and wait until the checkpoint is written."""
        self.cancel()
        if self.running and not self._proc.waitForFinished(CANCEL_GRACE_MS):
            self._proc.kill()
            self._proc.waitForFinished(5_000)

    def _kill_if_running(self) -> None:
        if self.running:
            self._proc.kill()

    def _read(self) -> None:
        while self._proc.canReadLine():
            line = bytes(self._proc.readLine().data()).decode("utf-8", "replace")
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # not a protocol line
            kind = event.get("event")
            if kind == "progress":
                self.progress.emit(Progress(event["done"], event["total"],
                                            event.get("message", ""), event.get("eta_s"),
                                            event.get("metrics", {})))
            elif kind in ("done", "error", "cancelled"):
                self._outcome = event

    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._read()
        kind = self._outcome.get("event")
        if kind == "done":
            data = self._outcome["adapter"]
            self.trained.emit(AdapterRecord.from_json(data, Path(data["dir"])))
        elif kind == "cancelled" or self._cancelling:
            self.cancelled.emit()
        elif kind == "error":
            self.failed.emit(self._outcome["message"])
        else:
            self.failed.emit(f"The training process stopped unexpectedly (exit status "
                             f"{exit_code}). Train again to resume from its last checkpoint.")
        self.finished.emit()

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed.emit("The training process could not be started "
                             f"({self._proc.errorString()}).")
            self.finished.emit()
