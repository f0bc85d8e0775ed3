"""The main window: a navigation list on the left, one panel per task on the right."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.errors import DataDirBusy
from core.models import DEFAULT_MODEL
from core.privacy import delete_everything, guard_installed
from desktop.adapter_panel import AdapterPanel
from desktop.evaluate_panel import EvaluatePanel
from desktop.library_panel import LibraryPanel
from desktop.privacy_panel import PrivacyPanel
from desktop.session import Session
from desktop.settings_panel import SettingsPanel
from desktop.theme import apply_theme
from desktop.welcome import WelcomeDialog
from desktop.workers import Workers
from desktop.write_panel import WritePanel

SHUTDOWN_WAIT_MS = 60_000  # jobs stop at their next cancellation check: a file, a token, a step
DELETE_WAIT_S = 30.0  # for other Inkwell processes of this window (a training) to exit


class MainWindow(QMainWindow):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.workers = Workers(self)
        self._shut_down = False
        self._stopped = False
        self.setWindowTitle(f"Inkwell — {session.profile.name}")
        self.resize(QSize(1120, 760))

        self.write = WritePanel(session, self.workers)
        self.library = LibraryPanel(session, self.workers)
        self.adapter = AdapterPanel(session, self.workers)
        self.evaluate = EvaluatePanel(session, self.workers)
        self.privacy = PrivacyPanel(session)
        self.settings = SettingsPanel(session, self.workers)
        self.panels: dict[str, QWidget] = {
            "Write": self.write,
            "Library": self.library,
            "Adapter": self.adapter,
            "Evaluate": self.evaluate,
            "Privacy": self.privacy,
            "Settings": self.settings,
        }
        self.library.library_changed.connect(self.adapter.refresh)
        self.library.library_changed.connect(self.privacy.refresh)
        self.adapter.adapters_changed.connect(self.write.refresh)
        self.evaluate.advised.connect(self.write.refresh)
        self.write.settings_requested.connect(lambda: self.show_panel("Settings"))
        self.privacy.delete_everything_requested.connect(self.delete_everything)
        self.settings.settings_changed.connect(self._update_status_bar)
        self.settings.theme_changed.connect(self._apply_theme)

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setAccessibleName("Sections")
        self.nav.addItems(list(self.panels))
        self.stack = QStackedWidget()
        for panel in self.panels.values():
            self.stack.addWidget(panel)
        self.nav.currentRowChanged.connect(self._show_row)

        brand = QLabel("Inkwell")
        brand.setObjectName("brand")
        profile = QLabel(f"Profile: {session.profile.name}")
        profile.setObjectName("subtle")
        profile.setContentsMargins(18, 0, 18, 14)
        side = QWidget()
        side.setObjectName("side")
        side.setFixedWidth(190)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        side_layout.addWidget(brand)
        side_layout.addWidget(self.nav, 1)
        side_layout.addWidget(profile)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(side)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.setTabOrder(self.nav, self.stack)
        self.nav.setCurrentRow(0)
        self._update_status_bar()

    def show_panel(self, name: str) -> QWidget:
        self.nav.setCurrentRow(list(self.panels).index(name))
        return self.panels[name]

    def _show_row(self, row: int) -> None:
        panel = list(self.panels.values())[row]
        self.stack.setCurrentWidget(panel)
        panel.refresh()  # type: ignore[attr-defined]

    def _update_status_bar(self) -> None:
        model = self.session.app_settings().model or DEFAULT_MODEL
        guard = "network guard on, nothing leaves this computer" if guard_installed() \
            else "network guard OFF"
        self.statusBar().showMessage(
            f"Profile {self.session.profile.name}  ·  Model {model}  ·  Offline: {guard}")

    def _apply_theme(self, theme: str) -> None:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        apply_theme(app, theme)

    def welcome(self) -> WelcomeDialog:
        """First run: explain the privacy promise and offer to add a folder.

        Opened window-modal but not with ``exec()``: the application's own event
        loop runs it, so closing the app (or a signal) while it is open is a normal close.
        """
        dialog = WelcomeDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self._add_first_folder)
        dialog.open()
        return dialog

    def _add_first_folder(self) -> None:
        self.show_panel("Library")
        self.library.add_folder_button.click()

    # --- stopping -----------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Cancel every job and wait for it to stop at a safe point; then release the stores.

        Jobs persist their progress as they go (manifest rows, checkpoints), so a
        cancelled job loses nothing: running it again resumes it.  Returns whether every
        job stopped in time.
        """
        if self._shut_down:
            return self._stopped
        self._shut_down = True
        self.workers.cancel_all()
        self.adapter.shutdown()
        self._stopped = self.workers.wait(SHUTDOWN_WAIT_MS)
        self.session.close()
        return self._stopped

    def closeEvent(self, event: QCloseEvent) -> None:
        # Jobs stop at their next safe point (a training step takes seconds): the window
        # goes away at once instead of looking frozen while they do.
        self.hide()
        self.shutdown()
        event.accept()

    def delete_everything(self) -> None:
        root = self.session.home.root
        try:
            if not self.shutdown():
                raise DataDirBusy("a job did not stop in time")
            # The training worker process saves a checkpoint before it exits.
            kept = delete_everything(root, wait_s=DELETE_WAIT_S)
        except DataDirBusy as exc:
            QMessageBox.warning(self, "Nothing deleted", f"Nothing was deleted: {exc}. "
                                "Inkwell will now close; start it again to retry.")
        else:
            left = f" Left in place, not Inkwell's: {', '.join(kept)}." if kept else ""
            QMessageBox.information(self, "Deleted", f"Everything Inkwell stored under {root} "
                                    f"is deleted.{left} Inkwell will now close.")
        self.close()
