"""Settings → "Let my editor use Inkwell": ``inkwell serve`` started from the app.

The server runs on a thread of this process (``InkwellServer.start``), so it
shares the app's loaded model and library and stays under this process's
network guard; it listens on loopback only.  Off by default; when turned on it
is remembered and started again with the app.  The base URL and the token are
shown with copy buttons, for the editor plugin's settings (docs/SERVE.md).
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from core.errors import InkwellError
from core.serve.app import Service
from core.serve.server import InkwellServer
from core.serve.token import load_token, token_file
from desktop.session import Session
from desktop.widgets import button, set_status, status_label


class EditorAccessBox(QGroupBox):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__("Let my editor use Inkwell", parent)
        self.session = session
        self.server: InkwellServer | None = None

        self.enabled = QCheckBox("Answer editors on this computer (OpenAI-compatible API)")
        self.enabled.setAccessibleName("Let my editor use Inkwell")
        self.enabled.setToolTip("Editor plugins that speak the OpenAI API get answers with "
                                "your library and adapter. Only programs on this computer "
                                "that have the token can connect.")
        self.port = QSpinBox()
        self.port.setAccessibleName("Port")
        self.port.setRange(1024, 65535)
        self.url = QLineEdit()
        self.url.setAccessibleName("Base URL")
        self.url.setReadOnly(True)
        self.token = QLineEdit()
        self.token.setAccessibleName("Token")
        self.token.setReadOnly(True)
        self.token.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.copy_url = button("Copy", "Copy the base URL for the editor plugin's settings")
        self.copy_token = button("Copy", "Copy the token (the plugin's API key)")
        self.copy_url.clicked.connect(lambda: self._copy(self.url.text(), "URL"))
        self.copy_token.clicked.connect(lambda: self._copy(self.token.text(), "token"))
        self.status = status_label()

        url_row, token_row = QHBoxLayout(), QHBoxLayout()
        url_row.addWidget(self.url, 1)
        url_row.addWidget(self.copy_url)
        token_row.addWidget(self.token, 1)
        token_row.addWidget(self.copy_token)
        form = QFormLayout(self)
        form.addRow(self.enabled)
        form.addRow("Port", self.port)
        form.addRow("Base URL", url_row)
        form.addRow("API key (token)", token_row)
        form.addRow(self.status)

        settings = session.app_settings()
        self.port.setValue(settings.serve_port)
        if token_file(session.home).exists():  # made when the server first starts
            self.token.setText(load_token(session.home))
        self._show_url()
        set_status(self.status, "Off: nothing listens.")
        self.enabled.toggled.connect(self._toggled)
        self.port.valueChanged.connect(self._port_changed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)
        if settings.serve_enabled:
            self.enabled.setChecked(True)

    def _show_url(self) -> None:
        self.url.setText(f"http://127.0.0.1:{self.port.value()}/v1")

    def _toggled(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()
        settings = self.session.app_settings()
        settings.serve_enabled = self.server is not None
        settings.save(self.session.home)

    def _port_changed(self) -> None:
        self._show_url()
        settings = self.session.app_settings()
        settings.serve_port = self.port.value()
        settings.save(self.session.home)

    def start(self) -> None:
        if self.server is not None:
            return
        service = Service(self.session.home, self.session.profile,
                          runtime_for=self.session.load_model, library=self.session.library())
        try:
            server = InkwellServer(service, "localhost", self.port.value())
            server.start()
        except InkwellError as exc:
            set_status(self.status, str(exc), True)
            self.enabled.blockSignals(True)
            self.enabled.setChecked(False)
            self.enabled.blockSignals(False)
            return
        self.server = server
        self.token.setText(server.token)
        self.port.setEnabled(False)
        set_status(self.status, f"On: editors can use {server.urls[0]} with the token.")

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.stop()
        self.server = None
        self.port.setEnabled(True)
        set_status(self.status, "Off: nothing listens.")

    def _copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        set_status(self.status, f"Copied the {what}.")
