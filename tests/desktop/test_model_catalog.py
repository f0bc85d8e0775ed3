"""Settings → Models: the catalog with what this computer can do, "Get" from a mirror, and
the download in the Privacy panel's list.  The mirror is a real HTTP server on loopback."""

from __future__ import annotations

from core.settings import AppSettings
from tests.models.conftest import FILE, entry, tiny_gguf
from tests.models.model_server import ModelServer, write_catalog


def test_get_a_catalog_model_from_a_mirror(window, session, qtbot, tmp_path) -> None:
    panel = window.show_panel("Settings")
    box = panel.catalog
    qtbot.waitUntil(lambda: box.table.topLevelItemCount() >= 6, timeout=60_000)
    assert "GB" in box.table.topLevelItem(0).text(2)  # what running it takes here

    data = tiny_gguf(tmp_path / FILE)
    server = ModelServer({FILE: data})
    try:
        box.catalog_file = write_catalog(tmp_path / "catalog.json", [entry(data)])
        box.refresh()
        qtbot.waitUntil(lambda: box.table.topLevelItemCount() == 1, timeout=60_000)
        box.table.setCurrentItem(box.table.topLevelItem(0))
        box.mirror.setText(server.url)
        box.get_button.click()
        qtbot.waitUntil(lambda: "was downloaded" in box.status.text(), timeout=60_000)
    finally:
        server.close()
    assert AppSettings.load(session.home).model_mirror == server.url
    qtbot.waitUntil(lambda: panel.model.findData("tiny") >= 0, timeout=60_000)
    qtbot.waitUntil(lambda: box.table.topLevelItem(0).text(5) == "installed", timeout=60_000)

    privacy = window.show_panel("Privacy")
    lines = [privacy.downloads.item(i).text() for i in range(privacy.downloads.count())]
    assert any(f"{server.url}/{FILE}" in line and "verified" in line for line in lines)
