"""Privacy and Settings panels: data locations, guard state, delete everything, saved settings."""

from __future__ import annotations

import socket

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QMessageBox

import core.privacy
from core.errors import NetworkRefused
from core.settings import AppSettings, ProfileSettings
from desktop.theme import apply_theme


def test_privacy_lists_data_and_refused_connections(window, session, monkeypatch):
    log = session.home.logs_dir / "network-guard.log"
    monkeypatch.setattr(core.privacy._GUARD, "log_file", log)
    with pytest.raises(NetworkRefused):
        socket.create_connection(("192.0.2.1", 80), timeout=1)

    panel = window.show_panel("Privacy")
    assert panel.guard_state.text().startswith("<b>On.</b>")
    refused = [panel.refused.item(i).text() for i in range(panel.refused.count())]
    assert any("192.0.2.1:80" in line for line in refused)
    tree = panel.storage
    places = {tree.topLevelItem(i).text(2) for i in range(tree.topLevelItemCount())}
    assert str(session.profile.library_dir) in places
    assert str(session.home.settings_file) in places


def test_delete_everything_asks_then_removes_the_data_dir(window, session, monkeypatch):
    root = session.home.root
    monkeypatch.setattr("desktop.privacy_panel.confirm", lambda *a: False)
    window.privacy.delete_button.click()
    assert root.exists(), "nothing is deleted without confirmation"

    monkeypatch.setattr("desktop.privacy_panel.confirm", lambda *a: True)
    monkeypatch.setattr(QMessageBox, "information", lambda *a: None)
    window.privacy.delete_button.click()
    assert not root.exists()
    assert not window.isVisible()


def test_settings_are_saved_where_the_cli_reads_them(window, session, qapp, qtbot):
    panel = window.show_panel("Settings")
    qtbot.waitUntil(lambda: panel.model.isEnabled() and panel.model.count() > 0, timeout=180_000)
    panel.k.setValue(5)
    panel.retriever.setCurrentIndex(panel.retriever.findData("hybrid"))
    panel.max_tokens.setValue(64)
    panel.temperature.setValue(0.7)
    assert ProfileSettings.load(session.profile).k == 5
    assert ProfileSettings.load(session.profile).retriever == "hybrid"
    app = AppSettings.load(session.home)
    assert (app.max_tokens, app.temperature, app.model) == (64, 0.7, "smollm2-135m-instruct")

    light = qapp.palette().color(QPalette.ColorRole.Window).lightness()
    panel.theme.setCurrentIndex(panel.theme.findData("dark"))
    try:
        assert AppSettings.load(session.home).theme == "dark"
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < light
    finally:
        apply_theme(qapp, "light")


def test_settings_changed_elsewhere_are_shown(window, session):
    panel = window.show_panel("Settings")
    settings = session.app_settings()
    settings.max_tokens = 200  # as `inkwell` would, while the window is open
    settings.save(session.home)
    window.show_panel("Write")
    window.show_panel("Settings")
    assert panel.max_tokens.value() == 200
    assert AppSettings.load(session.home).max_tokens == 200


def test_a_bad_model_file_is_a_readable_error(window, tmp_path, qtbot):
    bad = tmp_path / "notes.gguf"
    bad.write_text("not a model")
    panel = window.settings  # not shown: its model list is not needed here
    panel.add_model_file(str(bad))
    qtbot.waitUntil(lambda: "not a GGUF file" in panel.status.text(), timeout=60_000)
    assert panel.status.objectName() == "error"
