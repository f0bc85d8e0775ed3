"""Settings → "Let my editor use Inkwell": off by default, on with a click, URL and token."""

from __future__ import annotations

import socket

import httpx
from PySide6.QtGui import QGuiApplication

from core.privacy import install_network_guard
from core.serve.token import token_file
from core.settings import AppSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_editor_access_starts_and_stops_the_server(window, session) -> None:
    box = window.show_panel("Settings").editor_access
    assert not box.enabled.isChecked() and box.server is None  # off by default
    port = _free_port()
    install_network_guard(allow_loopback_ports=[port])  # the probe may ask before we listen
    box.port.setValue(port)
    assert box.url.text() == f"http://127.0.0.1:{port}/v1"
    assert not _listening(port)
    assert not token_file(session.home).exists() and not box.token.text()  # nothing made yet

    box.enabled.setChecked(True)
    assert box.server is not None and _listening(port)
    assert AppSettings.load(session.home).serve_enabled  # started again with the app
    models = httpx.get(box.url.text() + "/models",
                       headers={"Authorization": f"Bearer {box.token.text()}"})
    assert "smollm2-135m-instruct+rag" in {m["id"] for m in models.json()["data"]}
    assert httpx.get(box.url.text() + "/models").status_code == 401
    box.copy_token.click()
    assert QGuiApplication.clipboard().text() == box.token.text()

    box.enabled.setChecked(False)
    assert box.server is None and not _listening(port)
    assert not AppSettings.load(session.home).serve_enabled


def test_a_taken_port_is_reported_and_the_switch_stays_off(window) -> None:
    box = window.show_panel("Settings").editor_access
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        box.port.setValue(taken.getsockname()[1])
        box.enabled.setChecked(True)
    assert not box.enabled.isChecked() and box.server is None
    assert "cannot listen" in box.status.text()

