"""Small building blocks shared by the panels: headings, error boxes, the job progress row."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.jobs import Progress, format_eta


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def button(text: str, tip: str, *, role: str = "") -> QPushButton:
    """A push button with a tooltip and accessible name (screen readers read the name)."""
    b = QPushButton(text)
    b.setToolTip(tip)
    b.setAccessibleName(text.replace("&", "").rstrip("…"))
    b.setAccessibleDescription(tip)
    if role:
        b.setObjectName(role)
    return b


def panel_layout(panel: QWidget, title: str, subtitle: str) -> QVBoxLayout:
    """The common frame of a panel: a heading and one line saying what the panel is for."""
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(22, 18, 22, 18)
    layout.setSpacing(10)
    heading = QLabel(title)
    heading.setObjectName("heading")
    note = QLabel(subtitle)
    note.setObjectName("subtle")
    note.setWordWrap(True)
    layout.addWidget(heading)
    layout.addWidget(note)
    return layout


def status_label() -> QLabel:
    """A line under a panel's content for what just happened (or went wrong)."""
    label = QLabel()
    label.setObjectName("subtle")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def set_status(label: QLabel, message: str, error: bool = False) -> None:
    """Show a message in a status label; errors from ``core`` in the error colour, as written."""
    label.setObjectName("error" if error else "subtle")
    label.setText(message)
    label.style().unpolish(label)  # the style sheet keys on the object name
    label.style().polish(label)


def confirm(parent: QWidget, title: str, message: str, action: str) -> bool:
    """Ask before a destructive action; the safe choice is the default."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=parent)
    yes = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is yes


class ProgressRow(QWidget):
    """A job's progress bar with counts, ETA and a Cancel button; hidden while idle."""

    cancel_requested = Signal()

    def __init__(self, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setAccessibleName(f"{what} progress")
        self.label = QLabel()
        self.label.setObjectName("subtle")
        self.cancel_button = button("Cancel", f"Stop {what.lower()}; running it again resumes")
        self.cancel_button.clicked.connect(self._cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 3)
        row.addWidget(self.label, 2)
        row.addWidget(self.cancel_button)
        self.hide()

    def start(self, message: str) -> None:
        self.bar.setRange(0, 0)  # busy until the first report says how much work there is
        self.label.setText(message)
        self.cancel_button.setEnabled(True)
        self.show()

    def update_progress(self, p: Progress, detail: str = "") -> None:
        """Show a report; ``detail`` replaces the job's own message (a file path is too long)."""
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
            self.bar.setFormat(f"{p.done} / {p.total}")
        text = detail or p.message
        eta = f"ETA {format_eta(p.eta_s)}"
        self.label.setText(f"{text} · {eta}" if text else eta)

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.setText("Stopping…")
        self.cancel_requested.emit()

    def finish(self) -> None:
        self.hide()
