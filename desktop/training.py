"""Training an adapter from the desktop: the core's training job on the window's job workers.

The job is :class:`core.adapters.job.TrainProcessJob`, the one ``inkwell adapter
train`` runs: it starts the training worker (a child process, so Cancel is real
and a crash in torch cannot take the window down), relays its progress, and on
cancel makes it save a checkpoint and stop.  The desktop runs it like indexing,
through :func:`desktop.workers.job_worker`; this module only turns the job's
outcome into the panel's signals.  Because the job's request stays in its folder
until the adapter is published, an interrupted training resumes after a restart,
from either front end.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.adapters.config import TrainConfig
from core.adapters.data import examples_from_documents
from core.adapters.job import REQUEST, TrainProcessJob
from core.models import ModelRegistry
from desktop.session import Session
from desktop.workers import Worker, Workers, job_worker


def training_job(session: Session, config: TrainConfig) -> TrainProcessJob:
    """The training of the library's documents on the current model.

    The adapter's name is the one ``inkwell adapter train`` gives it, so the same
    data gives the same adapter id and job folder from either front end: a training
    started in one resumes in the other.
    """
    model = ModelRegistry(session.home).get(session.app_settings().model)
    examples = examples_from_documents(session.library().documents())
    job = TrainProcessJob(session.profile, model, examples, config,
                          f"{session.profile.name}-{model.name}")
    job.prepare()  # too little data, an untrainable model: a clear error before any process
    return job


def interrupted_requests(session: Session) -> list[Path]:
    """Requests of trainings that were stopped before their adapter was published."""
    root = session.profile.training_dir
    return sorted(root.glob(f"*/{REQUEST}")) if root.is_dir() else []


class TrainingRunner(QObject):
    """Runs one training job at a time on ``workers``; ``finished`` comes last, whatever happens."""

    progress = Signal(object)  # core.jobs.Progress
    trained = Signal(object)  # AdapterRecord
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, workers: Workers, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self._worker: Worker | None = None

    @property
    def running(self) -> bool:
        # Both: the window's shutdown waits for the job without running the event loop, and
        # the panel's `finished` handler must already see the training as over.
        return self._worker is not None and self.workers.is_running(self._worker)

    def start(self, job: TrainProcessJob) -> None:
        worker = job_worker(job)
        worker.signals.progress.connect(self.progress)
        worker.signals.result.connect(self.trained)
        worker.signals.failed.connect(self.failed)
        worker.signals.cancelled.connect(self.cancelled)
        worker.signals.finished.connect(self._finished)
        self._worker = self.workers.start(worker)

    def _finished(self) -> None:
        self._worker = None
        self.finished.emit()

    def cancel(self) -> None:
        """Ask the worker to checkpoint and stop (it is killed if it does not within the grace)."""
        if self._worker is not None:
            self._worker.cancel()
