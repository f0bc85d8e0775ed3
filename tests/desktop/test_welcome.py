"""First run: the welcome explains the privacy promise and offers to add a folder."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox, QLabel

from desktop.app import parse_args
from desktop.welcome import WelcomeDialog


def test_welcome_states_the_promise_and_offers_a_folder(qtbot, fonts):
    dialog = WelcomeDialog()
    qtbot.addWidget(dialog)
    text = dialog.findChild(QLabel).text()
    assert "Everything stays on this computer" in text
    assert "never connects" in text
    buttons = [b.text() for b in dialog.findChild(QDialogButtonBox).buttons()]
    assert "Add a folder…" in buttons and "Start writing" in buttons


def test_accepting_the_welcome_opens_the_library(window):
    picked: list[bool] = []
    window.library.add_folder_button.clicked.disconnect()
    window.library.add_folder_button.clicked.connect(lambda: picked.append(True))
    dialog = window.welcome()
    assert dialog.isVisible() and dialog.isModal()
    dialog.accept()
    assert window.stack.currentWidget() is window.library
    assert picked == [True]


def test_command_line_matches_the_cli():
    args = parse_args(["--home", "/tmp/h", "--profile", "work"])
    assert (args.home, args.profile) == ("/tmp/h", "work")
    assert parse_args([]).profile == "default"
