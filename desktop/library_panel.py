"""The Library panel: what is indexed, from where, and why a file was not.

A table model over ``Library.status()`` rows behind a sort/filter proxy (a
library may hold tens of thousands of files; a list widget would copy them all
into items).  Adding, importing, re-indexing and forgetting run as workers over
the same ``Library`` calls as ``inkwell library``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QTableView,
    QWidget,
)

from core.choices import FOLDER as CHOICES_FOLDER
from core.errors import InkwellError
from core.forget import forget as forget_everywhere
from core.jobs import Job, Progress
from core.library import ForgetReport, IndexReport, LibraryStatus
from core.library.library import FileStatus
from desktop.session import Session
from desktop.widgets import ProgressRow, button, confirm, panel_layout, set_status, status_label
from desktop.workers import Worker, Workers, job_worker

STATUS_FILTERS = {"": "All files", "indexed": "Indexed", "skipped": "Skipped", "error": "Errors"}
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the invisible root of a flat table


# --- the binding to core -------------------------------------------------------------------

def add_job(session: Session, paths: Sequence[str]) -> Job[IndexReport]:
    return session.library().add_job(paths)


def git_job(session: Session, repo: str, author: str) -> Job[IndexReport]:
    return session.library().add_git_job(repo, author)


def forget(session: Session, paths: Sequence[str]) -> tuple[list[ForgetReport], list[str]]:
    """Forget, then mark adapters trained on the forgotten documents stale (as the CLI does).

    Returns the reports and the ids of the adapters now stale.
    """
    return forget_everywhere(session.library(), paths)


def library_status(session: Session) -> LibraryStatus:
    return session.library().status()


# --- model -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    path: str  # the origin's key: a file path, or "<repository>@<commit hash>"
    cells: tuple[str, str, str, str, int, int, str]  # in LibraryModel.COLUMNS order
    tooltip: str
    status: str


def _row(f: FileStatus) -> Row:
    """A commit by its subject, repository name and date (its hash in the tooltip); a file by
    its name and folder."""
    if f.kind == "commit":
        repo, _, commit = f.path.rpartition("@")
        name, folder = f.title or commit, Path(repo).name
        tooltip = f"{repo}\ncommit {commit}"
    elif Path(f.path.rpartition("#")[0]).name == CHOICES_FOLDER:
        name, folder, tooltip = f.title, "Answers you kept", f.path
    else:
        path = Path(f.path)
        name, folder, tooltip = path.name, str(path.parent), f.path
    cells = (name, folder, f.date or "", f.status, f.documents, f.chunks, f.reason or "")
    return Row(f.path, cells, f.reason or tooltip, f.status)


class LibraryModel(QAbstractTableModel):
    """One row per indexed unit (file or commit) of ``LibraryStatus.files``."""

    COLUMNS = ("Name", "Folder", "Date", "Status", "Documents", "Chunks", "Detail")
    PATH_ROLE = Qt.ItemDataRole.UserRole
    STATUS_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []

    def set_status(self, status: LibraryStatus) -> None:
        self.beginResetModel()
        self._rows = [_row(f) for f in status.files]
        self.endResetModel()

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return row.cells[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.tooltip
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == self.PATH_ROLE:
            return row.path
        if role == self.STATUS_ROLE:
            return row.status
        return None


class LibraryFilter(QSortFilterProxyModel):
    """Filters by status and by text in the name, folder or detail."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._status = ""
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)  # the text filter looks at every column
        self.setSortRole(Qt.ItemDataRole.EditRole)

    def set_status_filter(self, status: str) -> None:
        self.beginFilterChange()
        self._status = status
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        if self._status:
            status = model.data(model.index(source_row, 0, source_parent), LibraryModel.STATUS_ROLE)
            if status != self._status:
                return False
        return super().filterAcceptsRow(source_row, source_parent)


# --- panel -----------------------------------------------------------------------------------

class LibraryPanel(QWidget):
    library_changed = Signal()  # indexed or forgotten: adapters may be stale now
    progressed = Signal(object)  # core.jobs.Progress of the running indexing job

    def __init__(self, session: Session, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.workers = workers
        self._job: Worker | None = None
        self.setAcceptDrops(True)
        layout = panel_layout(self, "Library", "Your documents, e-mails and commits, indexed on "
                              "this computer for RAG and for training your adapter. "
                              "Drop files or folders here to add them.")

        self.add_folder_button = button("Add folder…", "Index every document in a folder")
        self.add_files_button = button("Add files…", "Index single files")
        self.git_button = button("Import git history…", "Index your own commit messages "
                                 "from a local repository")
        self.reindex_button = button("Re-index", "Check the selected files (or all) for changes")
        self.forget_button = button("Forget", "Remove the selected files and everything derived "
                                    "from them", role="danger")
        self.add_folder_button.clicked.connect(self._pick_folder)
        self.add_files_button.clicked.connect(self._pick_files)
        self.git_button.clicked.connect(self._pick_repo)
        self.reindex_button.clicked.connect(self.reindex)
        self.forget_button.clicked.connect(self._forget_selected)
        actions = QHBoxLayout()
        for b in (self.add_folder_button, self.add_files_button, self.git_button):
            actions.addWidget(b)
        actions.addStretch(1)
        actions.addWidget(self.reindex_button)
        actions.addWidget(self.forget_button)
        layout.addLayout(actions)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by name, folder or detail")
        self.search.setAccessibleName("Filter files")
        self.search.setClearButtonEnabled(True)
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Show files with status")
        for key, label in STATUS_FILTERS.items():
            self.status_filter.addItem(label, key)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.status_filter)
        layout.addLayout(filters)

        self.model = LibraryModel(self)
        self.proxy = LibraryFilter(self)
        self.proxy.setSourceModel(self.model)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.status_filter.currentIndexChanged.connect(
            lambda: self.proxy.set_status_filter(self.status_filter.currentData()))
        self.table = QTableView()
        self.table.setAccessibleName("Library files")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column, width in enumerate((300, 160, 90, 80, 90, 70)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)

        self.summary = QLabel()
        self.summary.setObjectName("subtle")
        self.progress = ProgressRow("Indexing")
        self.progress.cancel_requested.connect(self.cancel)
        self.status = status_label()
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self._selection_changed()

    @property
    def busy(self) -> bool:
        return self._job is not None

    # --- reading ----------------------------------------------------------------------

    def refresh(self) -> None:
        try:
            status = library_status(self.session)
        except Exception as exc:  # a damaged store must not stop the window from opening
            set_status(self.status, f"The library could not be read: {exc}", error=True)
            return
        self.model.set_status(status)
        counts = " · ".join(f"{n} {name}" for name, n in sorted(status.counts.items()) if n)
        self.summary.setText(f"{counts or 'Nothing indexed yet'} — {status.documents} documents, "
                             f"{status.chunks} chunks")

    def selected_paths(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        return [self.proxy.data(index, LibraryModel.PATH_ROLE) for index in rows]

    def _selection_changed(self) -> None:
        self.forget_button.setEnabled(bool(self.selected_paths()) and self._job is None)

    # --- actions ----------------------------------------------------------------------

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library")
        if folder:
            self.add_paths([folder])

    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add files to the library")
        if files:
            self.add_paths(files)

    def _pick_repo(self) -> None:
        repo = QFileDialog.getExistingDirectory(self, "Choose a local git repository")
        if not repo:
            return
        author, ok = QInputDialog.getText(self, "Import git history",
                                          "Your e-mail address as it appears in the commits:")
        if ok and author.strip():
            self.import_git(repo, author.strip())

    def add_paths(self, paths: Sequence[str]) -> None:
        self._run_job(lambda: add_job(self.session, paths), "Looking for documents…")

    def import_git(self, repo: str, author: str) -> None:
        self._run_job(lambda: git_job(self.session, repo, author), "Reading the git history…")

    def reindex(self) -> None:
        paths = self.selected_paths() or [
            index.data(LibraryModel.PATH_ROLE)
            for index in (self.model.index(r, 0) for r in range(self.model.rowCount()))
        ]
        files = [p for p in paths if Path(p).is_absolute() and "@" not in Path(p).name]
        if files:
            self.add_paths(files)

    def _run_job(self, make_job: Callable[[], Job[IndexReport]], message: str) -> None:
        if self._job is not None:
            set_status(self.status, "Another library task is running; wait or cancel it.")
            return
        try:
            job = make_job()
        except InkwellError as exc:
            set_status(self.status, str(exc), error=True)
            return
        worker = job_worker(job)
        worker.signals.progress.connect(self._progress)
        worker.signals.result.connect(self._indexed)
        self._start(worker, message)

    def _forget_selected(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        what = Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} items"
        if confirm(self, "Forget?", f"Remove {what} from the library? Its text is erased from "
                   "every store, and adapters trained on it are marked stale. The file itself "
                   "stays where it is.", "Forget"):
            self.forget_paths(paths)

    def forget_paths(self, paths: Sequence[str]) -> None:
        worker = Worker(lambda _w: forget(self.session, paths))
        worker.signals.result.connect(self._forgotten)
        self._start(worker, "Forgetting…")

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _start(self, worker: Worker, message: str) -> None:
        self._job = worker
        worker.signals.failed.connect(lambda msg: set_status(self.status, msg, error=True))
        worker.signals.cancelled.connect(lambda: set_status(
            self.status, "Stopped. What was indexed is kept; add the folder again to resume."))
        worker.signals.finished.connect(self._job_ended)
        self._set_busy(True)
        self.progress.start(message)
        set_status(self.status, "")
        self.workers.start(worker)

    def _set_busy(self, busy: bool) -> None:
        for b in (self.add_folder_button, self.add_files_button, self.git_button,
                  self.reindex_button):
            b.setEnabled(not busy)
        self.forget_button.setEnabled(not busy and bool(self.selected_paths()))

    def _progress(self, p: Progress) -> None:
        self.progress.update_progress(
            p, f"{p.done} of {p.total} files · {p.metrics.get('errors', 0)} errors")
        self.progressed.emit(p)

    def _indexed(self, report: IndexReport) -> None:
        set_status(self.status, f"Done in {report.seconds:.1f} s: {report.indexed} indexed, "
                   f"{report.unchanged} unchanged, {report.skipped} skipped, "
                   f"{report.errors} errors, {report.removed} removed.")

    def _forgotten(self, outcome: tuple[list[ForgetReport], list[str]]) -> None:
        reports, stale = outcome
        chunks = sum(r.chunks for r in reports)
        note = (f" {len(stale)} adapter(s) trained on them are now stale: retrain in the "
                "Adapter panel." if stale else "")
        set_status(self.status, f"Forgotten: {sum(len(r.paths) for r in reports)} item(s), "
                   f"{chunks} chunks erased.{note}")

    def _job_ended(self) -> None:
        self._job = None
        self.progress.finish()
        self._set_busy(False)
        self.refresh()
        self.library_changed.emit()

    # --- drag and drop ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)
