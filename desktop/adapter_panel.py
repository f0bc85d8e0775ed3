"""The Adapter panel: "Train my adapter", its live loss curve, and the profile's adapters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from core import trainer
from core.adapters.config import TrainConfig
from core.adapters.store import AdapterRecord, AdapterStore
from core.errors import InkwellError
from core.jobs import Progress
from core.models import ModelRegistry
from desktop.charts import LineChart
from desktop.session import Session
from desktop.training import TrainingRunner, interrupted_requests, training_job
from desktop.widgets import ProgressRow, button, confirm, panel_layout, set_status, status_label
from desktop.workers import Worker, Workers

COLUMNS = ("Adapter", "Base model", "Created", "Examples", "Validation loss", "State")


# --- the binding to core -------------------------------------------------------------------

def list_adapters(session: Session) -> list[AdapterRecord]:
    return AdapterStore(session.profile).list()


def activate(session: Session, adapter_id: str | None) -> None:
    settings = session.profile_settings()
    settings.active_adapter = adapter_id
    settings.save(session.profile)


def delete_adapter(session: Session, adapter_id: str) -> None:
    AdapterStore(session.profile).delete(adapter_id)
    if session.profile_settings().active_adapter == adapter_id:
        activate(session, None)


def import_adapter(session: Session, folder: str) -> AdapterRecord:
    """Import a PEFT or mlx-lm folder for the current model, as ``inkwell adapter import``."""
    model = ModelRegistry(session.home).get(session.app_settings().model)
    return AdapterStore(session.profile).import_folder(Path(folder), model)


# --- panel -----------------------------------------------------------------------------------

class AdapterPanel(QWidget):
    adapters_changed = Signal()

    def __init__(self, session: Session, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.workers = workers
        self.train_config = TrainConfig()  # the automatic step budget; tests shorten it
        self.status = status_label()
        self.process = TrainingRunner(workers, self)
        self.process.progress.connect(self._progress)
        self.process.trained.connect(self._trained)
        self.process.failed.connect(lambda msg: set_status(self.status, msg, error=True))
        self.process.cancelled.connect(lambda: set_status(
            self.status, "Stopped after saving a checkpoint; Train resumes from there."))
        self.process.finished.connect(self._ended)
        layout = panel_layout(self, "Adapter", "A small LoRA adapter trained on your library, "
                              "here on this computer: it teaches the model your phrasing. "
                              "Retrain after adding or forgetting writing.")

        self.train_button = button("Train my adapter", "Train an adapter on your library "
                                   "(resumes an interrupted training)", role="primary")
        self.train_button.clicked.connect(self.train)
        self.resume_note = QLabel()
        self.resume_note.setObjectName("subtle")
        top = QHBoxLayout()
        top.addWidget(self.train_button)
        top.addWidget(self.resume_note, 1)
        layout.addLayout(top)
        self.progress_row = ProgressRow("Training")
        self.progress_row.cancel_requested.connect(self.cancel)
        layout.addWidget(self.progress_row)
        self.curve = LineChart("The training loss appears here, step by step.")
        self.curve.setAccessibleName("Training loss curve")
        self.curve.setMinimumHeight(150)
        self.curve.setMaximumHeight(220)
        layout.addWidget(self.curve)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("Your adapters")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)

        self.activate_button = button("Activate", "Use this adapter for the “My adapter” methods")
        self.delete_button = button("Delete…", "Delete this adapter", role="danger")
        self.import_button = button("Import…", "Import a PEFT or mlx-lm adapter folder "
                                    "trained for the current model")
        self.activate_button.clicked.connect(self._activate_selected)
        self.delete_button.clicked.connect(self._delete_selected)
        self.import_button.clicked.connect(self._pick_import)
        actions = QHBoxLayout()
        actions.addWidget(self.activate_button)
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        actions.addWidget(self.import_button)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        self._selection_changed()
        if trainer.missing():  # say what training needs before the user presses Train
            set_status(self.status, trainer.install_notice())

    @property
    def busy(self) -> bool:
        return self.process.running

    # --- the list -----------------------------------------------------------------------

    def refresh(self) -> None:
        active = self.session.profile_settings().active_adapter
        try:
            records = list_adapters(self.session)
        except InkwellError as exc:
            set_status(self.status, str(exc), error=True)
            return
        self.table.setRowCount(len(records))
        warn = QBrush(self.palette().color(QPalette.ColorRole.Link))
        for row, r in enumerate(records):
            state = "Stale — retrain" if r.stale else ("Active" if r.id == active else "")
            val = "" if r.val_loss is None else f"{r.val_loss:.3f}"
            cells = (r.id, r.model, r.created.replace("T", " ").rstrip("Z"),
                     str(r.n_train + r.n_val), val, state)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r.id)
                if r.stale:
                    item.setForeground(warn)
                    item.setToolTip(f"Trained on {len(r.stale_doc_ids)} document(s) you have "
                                    "since forgotten: train again to get an adapter without them")
                self.table.setItem(row, col, item)
        pending = interrupted_requests(self.session) if not self.busy else []
        self.resume_note.setText("An interrupted training will resume where it stopped."
                                 if pending else "")
        self._selection_changed()

    def selected_id(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _selection_changed(self) -> None:
        chosen = self.selected_id() is not None
        self.activate_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen and not self.busy)

    def _activate_selected(self) -> None:
        adapter_id = self.selected_id()
        if adapter_id:
            activate(self.session, adapter_id)
            set_status(self.status, f"{adapter_id} is now your active adapter.")
            self.refresh()
            self.adapters_changed.emit()

    def _delete_selected(self) -> None:
        adapter_id = self.selected_id()
        if adapter_id and confirm(self, "Delete adapter?", f"Delete {adapter_id}? It can be "
                                  "trained again from your library.", "Delete"):
            self._run(lambda _w: delete_adapter(self.session, adapter_id), f"Deleted {adapter_id}.")

    def _pick_import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import an adapter folder (PEFT or mlx-lm)")
        if folder:
            self.import_folder(folder)

    def import_folder(self, folder: str) -> None:
        self._run(lambda _w: import_adapter(self.session, folder), "Imported.")

    def _run(self, work: Callable[[Worker], object], done_message: str) -> None:
        worker = Worker(work)
        worker.signals.failed.connect(lambda msg: set_status(self.status, msg, error=True))
        worker.signals.result.connect(lambda _r: set_status(self.status, done_message))
        worker.signals.finished.connect(self.refresh)
        worker.signals.finished.connect(self.adapters_changed.emit)
        self.workers.start(worker)

    # --- training -----------------------------------------------------------------------

    def train(self) -> None:
        """Train on the library, or resume the interrupted training of the same data."""
        if self.busy:
            return
        try:
            job = training_job(self.session, self.train_config)
        except InkwellError as exc:
            set_status(self.status, str(exc), error=True)
            return
        self.curve.set_points([])
        set_status(self.status, "")
        self.progress_row.start("Starting the training process…")
        self.train_button.setEnabled(False)
        self.resume_note.setText("")
        self.process.start(job)

    def cancel(self) -> None:
        self.process.cancel()

    def shutdown(self) -> None:
        self.process.cancel()  # the window then waits for its workers, this training among them

    def _progress(self, p: Progress) -> None:
        loss = p.metrics.get("loss")
        speed = p.metrics.get("examples_per_s")
        if loss is not None and p.done > 0:
            self.curve.add_point(p.done, float(loss))
        parts = [f"step {p.done} of {p.total}"] if p.done else [p.message or "preparing"]
        if loss is not None:
            parts.append(f"loss {loss:.3f}")
        if speed:
            parts.append(f"{speed:.1f} examples/s")
        self.progress_row.update_progress(p, " · ".join(parts))

    def _trained(self, record: AdapterRecord) -> None:
        val = "" if record.val_loss is None else f", validation loss {record.val_loss:.3f}"
        activate(self.session, record.id)
        set_status(self.status, f"Trained {record.id} on {record.n_train} examples "
                   f"({record.n_val} held out) in {record.steps} steps{val}. "
                   "It is now your active adapter.")

    def _ended(self) -> None:
        self.progress_row.finish()
        self.train_button.setEnabled(True)
        self.refresh()
        self.adapters_changed.emit()
