"""The first-run welcome: the privacy promise in plain words, and a first folder to add."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

WELCOME = """
<h2>Welcome to Inkwell</h2>
<p>Inkwell learns to write the way <i>you</i> write, from your own documents, e-mails and
commit messages.</p>
<p><b>Everything stays on this computer.</b> The language model runs here. Your documents are
indexed here, and the adapter that learns your voice is trained here. Inkwell never connects
to the internet: a network guard refuses every connection and records any attempt, which you
can check in the <i>Privacy</i> panel.</p>
<p>Forget a document and its text is erased from every index. <i>Delete everything</i> removes
all that Inkwell stored.</p>
<p>To start, add a folder of your writing, or just start writing.</p>
"""


class WelcomeDialog(QDialog):
    """Accepted: the user wants to add a folder now; rejected: start writing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to Inkwell")
        self.setMinimumWidth(520)
        text = QLabel(WELCOME)
        text.setWordWrap(True)
        text.setAccessibleName("Welcome and privacy promise")
        buttons = QDialogButtonBox()
        add = buttons.addButton("Add a folder…", QDialogButtonBox.ButtonRole.AcceptRole)
        add.setObjectName("primary")
        buttons.addButton("Start writing", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.addWidget(text)
        layout.addWidget(buttons)
