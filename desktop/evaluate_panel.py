"""The Evaluate panel: "Which method helps me?", measured on the user's own held-out writing.

Runs ``core``'s advice job (the same as ``inkwell advise``): the newest titled
documents are held out and each method writes their titles from the rest; the
scores are drawn as bars, with the recommendation and, for users with little
data, the cold-start explanation.  The job saves the recommendation as the
profile's default method, so the Write panel starts with it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from core.evaluation.advice import Advice, AdviseJob, load_advice
from core.writer import METHODS, Method
from desktop.charts import BarChart
from desktop.session import Session
from desktop.widgets import ProgressRow, button, panel_layout, set_status, status_label
from desktop.workers import Worker, Workers, job_worker
from desktop.write_panel import METHOD_LABELS

# --- the binding to core -------------------------------------------------------------------

def advise_job(session: Session) -> AdviseJob:
    return AdviseJob(session.home, session.profile)


# --- panel -----------------------------------------------------------------------------------

class EvaluatePanel(QWidget):
    advised = Signal()  # a new recommendation is saved

    def __init__(self, session: Session, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.workers = workers
        self._job: Worker | None = None
        layout = panel_layout(self, "Evaluate", "Which method helps me? Your newest titled "
                              "documents are held out, and each method tries to write their "
                              "titles from the rest of your library. Scores are ROUGE-L: "
                              "how close each answer comes to what you actually wrote.")
        self.run_button = button("Which method helps me?", "Measure the four methods on your "
                                 "own writing (a few minutes)", role="primary")
        self.run_button.clicked.connect(self.run)
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addStretch(1)
        layout.addLayout(top)
        self.progress = ProgressRow("Evaluation")
        self.progress.cancel_requested.connect(self.cancel)
        layout.addWidget(self.progress)
        self.chart = BarChart("Run the evaluation to see how each method does on your writing.")
        self.chart.setAccessibleName("Scores of the four methods")
        layout.addWidget(self.chart, 1)
        self.recommendation = QLabel()
        self.recommendation.setObjectName("heading")
        self.recommendation.setAccessibleName("Recommended method")
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.explanation.setAccessibleName("Why")
        layout.addWidget(self.recommendation)
        layout.addWidget(self.explanation)
        self.status = status_label()
        layout.addWidget(self.status)

    @property
    def busy(self) -> bool:
        return self._job is not None

    def refresh(self) -> None:
        if not self.busy:
            advice = load_advice(self.session.profile)
            if advice is not None:
                self.show_advice(advice)

    def run(self) -> None:
        if self.busy:
            return
        worker = job_worker(advise_job(self.session))
        worker.signals.progress.connect(self.progress.update_progress)
        worker.signals.result.connect(self._advised)
        worker.signals.failed.connect(lambda msg: set_status(self.status, msg, error=True))
        worker.signals.cancelled.connect(lambda: set_status(
            self.status, "Stopped. Finished parts are kept; running it again resumes."))
        worker.signals.finished.connect(self._ended)
        self._job = worker
        self.run_button.setEnabled(False)
        set_status(self.status, "")
        self.progress.start("Preparing your held-out documents…")
        self.workers.start(worker)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def show_advice(self, advice: Advice) -> None:
        bars = [(METHOD_LABELS[Method(m)], advice.scores.get(m)) for m in METHODS]
        recommended = METHOD_LABELS[Method(advice.recommended)]
        self.chart.set_bars(bars, highlight=recommended)
        self.recommendation.setText(f"Recommended: {recommended}")
        self.explanation.setText(advice.explanation)

    def _advised(self, advice: Advice) -> None:
        self.show_advice(advice)
        set_status(self.status, "Saved: the Write panel now starts with the recommended method.")
        self.advised.emit()

    def _ended(self) -> None:
        self._job = None
        self.progress.finish()
        self.run_button.setEnabled(True)
