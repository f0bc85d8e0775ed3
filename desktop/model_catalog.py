"""Settings → Models: the catalog next to the installed models, "Get", and the mirror.

The rows are ``core.catalog.catalog_rows`` — the same as ``inkwell models catalog`` —
with what this computer can do with each model.  "Get" runs the same
``DownloadJob`` as ``inkwell models get`` (a separate download process; this
process's network guard stays on), with progress and Cancel; a cancelled download
resumes where it stopped the next time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.catalog import DownloadJob, catalog_rows, find_entry
from core.jobs import Progress
from core.models import ModelInfo
from desktop.session import Session
from desktop.widgets import ProgressRow, button, set_status, status_label
from desktop.workers import Worker, Workers, job_worker

MB = 1_000_000
COLUMNS = ["Model", "Size", "On this computer", "Adapter training", "Licence", ""]


class ModelCatalogBox(QGroupBox):
    model_added = Signal(object)  # the ModelInfo of a verified download

    def __init__(self, session: Session, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__("Get a model", parent)
        self.session = session
        self.workers = workers
        self.download: Worker | None = None
        self.catalog_file: Path | None = None  # None: the catalog shipped with Inkwell

        self.table = QTreeWidget()
        self.table.setAccessibleName("Model catalog")
        self.table.setHeaderLabels(COLUMNS)
        self.table.setRootIsDecorated(False)
        self.table.setMinimumHeight(220)
        self.table.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.get_button = button("Get", "Download the selected model (the only time Inkwell "
                                 "uses the network), check its SHA-256 and add it")
        self.get_button.clicked.connect(self.get_selected)
        self.mirror = QLineEdit()
        self.mirror.setAccessibleName("Mirror")
        self.mirror.setPlaceholderText("https://models.example.org/gguf  (optional)")
        self.mirror.setToolTip("Your organisation's server of the same files, by file name; "
                               "the pinned SHA-256s still apply")
        self.mirror.setText(session.app_settings().model_mirror or "")
        self.mirror.editingFinished.connect(self._save_mirror)
        self.progress = ProgressRow("Download")
        self.progress.cancel_requested.connect(self._cancel)
        self.status = status_label()

        row = QHBoxLayout()
        row.addWidget(self.mirror, 1)
        row.addWidget(self.get_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self._update_buttons()

    def refresh(self) -> None:
        worker = Worker(lambda _w: catalog_rows(self.session.home, self.catalog_file))
        worker.signals.result.connect(self._show_rows)
        worker.signals.failed.connect(lambda message: set_status(self.status, message, True))
        self.workers.start(worker)

    def _show_rows(self, rows: list[dict[str, Any]]) -> None:
        current = self.selected_name()
        self.table.clear()
        for r in rows:
            training = (f"fits (~{r['ram_train_gb']:.0f} GB)" if r["training_fits"]
                        else f"too little memory (~{r['ram_train_gb']:.0f} GB)")
            item = QTreeWidgetItem([
                r["title"], f"{r['size'] / 1e9:.1f} GB", f"{r['runs']} (~{r['ram_run_gb']:.0f} GB)",
                training, r["license"], "installed" if r["installed"] else "",
            ])
            item.setData(0, Qt.ItemDataRole.UserRole, r["name"])
            item.setToolTip(0, r["good_for"])
            self.table.addTopLevelItem(item)
            if r["name"] == current:
                self.table.setCurrentItem(item)
        for column in range(len(COLUMNS)):
            self.table.resizeColumnToContents(column)
        self._update_buttons()

    def selected_name(self) -> str | None:
        item = self.table.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def _update_buttons(self) -> None:
        self.get_button.setEnabled(self.selected_name() is not None and self.download is None)

    def _save_mirror(self) -> None:
        settings = self.session.app_settings()
        settings.model_mirror = self.mirror.text().strip() or None
        settings.save(self.session.home)

    def get_selected(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self._save_mirror()
        try:
            job = DownloadJob(self.session.home, find_entry(name, self.catalog_file),
                              mirror=self.session.app_settings().model_mirror)
        except Exception as exc:  # an InkwellError (a bad mirror URL): shown as written
            set_status(self.status, str(exc), True)
            return
        self.download = worker = job_worker(job)
        worker.signals.progress.connect(self._show_progress)
        worker.signals.result.connect(self._downloaded)
        worker.signals.failed.connect(lambda message: set_status(self.status, message, True))
        worker.signals.cancelled.connect(lambda: set_status(
            self.status, "Download stopped; Get resumes it where it stopped."))
        worker.signals.finished.connect(self._finished)
        self.progress.start(f"Downloading {name} from {job.url}")
        set_status(self.status, "")
        self._update_buttons()
        self.workers.start(worker)

    def _show_progress(self, p: Progress) -> None:
        # In MB: a progress bar's range is a 32-bit int, and model files pass 2 GB.
        mb = Progress(p.done // MB, None if p.total is None else p.total // MB, p.message, p.eta_s)
        self.progress.update_progress(mb, f"{p.message} · MB")

    def _cancel(self) -> None:
        if self.download is not None:
            self.download.cancel()

    def _downloaded(self, info: ModelInfo) -> None:
        set_status(self.status, f"{info.name} was downloaded, its SHA-256 checked, and added: "
                   "choose it as the writing model above.")
        self.model_added.emit(info)

    def _finished(self) -> None:
        self.download = None
        self.progress.finish()
        self.refresh()
