"""The Privacy panel: where every piece of data lives, the network guard, "Delete everything"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.catalog import read_downloads
from core.choices import choices_root, kept_choices
from core.diagnostics import data_locations
from core.privacy import guard_installed, read_refusal_log
from desktop.session import Session
from desktop.widgets import button, confirm, human_size, panel_layout


def guard_log(session: Session) -> Path:
    return session.home.logs_dir / "network-guard.log"


class PrivacyPanel(QWidget):
    delete_everything_requested = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = panel_layout(self, "Privacy", "Everything Inkwell knows about you stays in the "
                              "folders below, on this computer. Nothing is ever sent anywhere.")

        self.guard_state = QLabel()
        self.guard_state.setWordWrap(True)
        self.refused = QListWidget()
        self.refused.setAccessibleName("Refused connection attempts")
        self.refused.setMaximumHeight(72)
        guard_box = QGroupBox("Network guard")
        guard_layout = QVBoxLayout(guard_box)
        guard_layout.addWidget(self.guard_state)
        guard_layout.addWidget(self.refused)
        # The one network use: model downloads the user started (what, when, from where).
        self.downloads = QListWidget()
        self.downloads.setAccessibleName("Model downloads")
        self.downloads.setMaximumHeight(72)
        guard_layout.addWidget(QLabel("Model downloads you started (the only network use):"))
        guard_layout.addWidget(self.downloads)

        self.storage = QTreeWidget()
        self.storage.setAccessibleName("Where your data lives")
        self.storage.setHeaderLabels(["What", "Size", "Where"])
        self.storage.setRootIsDecorated(False)
        self.storage.setToolTip("Double-click to open the folder")
        self.storage.itemActivated.connect(self._open)
        self.total = QLabel()
        self.total.setObjectName("subtle")
        storage_box = QGroupBox("Stored data")
        storage_layout = QVBoxLayout(storage_box)
        storage_layout.addWidget(self.storage)
        storage_layout.addWidget(self.total)
        self.choices = QLabel()
        self.choices.setWordWrap(True)
        storage_layout.addWidget(self.choices)

        self.refresh_button = button("Refresh", "Measure the folders again")
        self.refresh_button.clicked.connect(self.refresh)
        self.delete_button = button("Delete everything…", "Remove every profile, library, adapter, "
                                    "setting and log of Inkwell from this computer", role="danger")
        self.delete_button.clicked.connect(self._delete)
        actions = QHBoxLayout()
        actions.addWidget(self.refresh_button)
        actions.addStretch(1)
        actions.addWidget(self.delete_button)

        layout.addWidget(guard_box)
        layout.addWidget(storage_box, 1)
        layout.addLayout(actions)
        self.refresh()

    def refresh(self) -> None:
        on = guard_installed()
        self.guard_state.setText(
            "<b>On.</b> Inkwell works offline: any connection to another computer is refused "
            "and recorded below." if on else
            "<b>Off.</b> The network guard is not installed in this process."
        )
        self.refused.clear()
        attempts = read_refusal_log(guard_log(self.session))
        self.refused.addItems(attempts or ["No connection attempt has been refused."])
        self.downloads.clear()
        self.downloads.addItems([
            f"{d.get('when', '?')}  {d.get('model', '?')}  from {d.get('url', '?')}  "
            f"({d.get('outcome', '?')})" for d in read_downloads(self.session.home)
        ] or ["No model has been downloaded."])
        self.storage.clear()
        total = 0
        for place in data_locations(self.session.home, self.session.profile):
            total += place["bytes"]
            item = QTreeWidgetItem([place["what"], human_size(place["bytes"]), place["path"]])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.storage.addTopLevelItem(item)
        for column in (0, 1):
            self.storage.resizeColumnToContents(column)
        self.total.setText(f"{human_size(total)} in all, under {self.session.home.root}")
        library_exists = self.session.profile.library_dir.exists()
        kept = kept_choices(self.session.library()) if library_exists else 0
        self.choices.setText(
            f"Answers you kept: {kept} titles and subjects you copied in the Write panel, with "
            "the text they were written for, stored in your library as examples for your "
            f"adapter ({choices_root(self.session.library()) if kept else 'none yet'}). "
            "Forget them in the Library panel, like any document."
        )

    def _open(self, item: QTreeWidgetItem) -> None:
        path = Path(item.text(2))
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path if path.is_dir() else path.parent)))

    def _delete(self) -> None:
        if confirm(self, "Delete everything?",
                   f"This removes everything under {self.session.home.root}: every profile's "
                   "library index, adapters, evaluation results, settings and logs. Your own "
                   "documents are not touched. This cannot be undone.", "Delete everything"):
            self.delete_everything_requested.emit()
