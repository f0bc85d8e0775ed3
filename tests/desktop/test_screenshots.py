"""Renders each panel to PNG: a quick check that all of them paint, and the README's screenshots.

The screenshots (``docs/screenshots/``) show a real session: a library of
e-mails, a trained adapter and a measured advice; and, on their own (no
training needed), the Write panel's suggestions for an e-mail's subject.
They use the shipped font and the light theme (plus the Write panel in dark),
so they come out the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from core.adapters.config import TrainConfig
from core.runtime import get_runtime
from desktop.theme import apply_theme

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def load_model():
    """The README's screenshots show what the real model wrote."""
    return get_runtime


def _distinct_colors(image: QImage) -> int:
    """How many colours a sample of the image holds: a blank or unpainted panel has one or two."""
    step = max(1, image.width() // 60)
    return len({image.pixel(x, y) for x in range(0, image.width(), step)
                for y in range(0, image.height(), step)})


def test_every_panel_renders(window, qapp):
    for name in window.panels:
        window.show_panel(name)
        qapp.processEvents()
        image = window.grab().toImage()
        assert image.width() >= 1000 and _distinct_colors(image) > 10, name


@pytest.mark.slow  # trains an adapter and runs the evaluation for real
def test_screenshots(window, session, letters, qapp, qtbot, wait_idle):
    library = window.show_panel("Library")
    library.add_paths([str(letters)])
    wait_idle(library)
    settings = session.app_settings()
    settings.max_tokens = 24
    settings.save(session.home)

    adapter = window.show_panel("Adapter")
    adapter.train_config = TrainConfig(steps=6)
    adapter.train()
    wait_idle(adapter, timeout_s=1200)
    evaluate = window.show_panel("Evaluate")
    evaluate.run()
    wait_idle(evaluate, timeout_s=900)

    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in window.panels:
        if name == "Write":
            continue  # test_write_screenshots
        window.show_panel(name)
        if name == "Settings":
            qtbot.waitUntil(lambda: window.settings.model.count() > 0, timeout=120_000)
        qapp.processEvents()
        path = SHOTS / f"{name.lower()}.png"
        assert window.grab().save(str(path)), path


@pytest.mark.slow  # writes with the real model
def test_write_screenshots(window, letters, qapp, qtbot, wait_idle):
    """The Write panel offering a subject line for an e-mail: three suggestions, best first."""
    library = window.show_panel("Library")
    library.add_paths([str(letters)])
    wait_idle(library)
    write = window.show_panel("Write")
    write.task.setCurrentIndex(write.task.findData("email_subject"))
    write.method.setCurrentIndex(write.method.findData("rag"))
    write.input.setPlainText("Hello all, the new pontoon at the north quay is finished. "
                             "Boats can moor there from Monday; fees are as before.")
    write.write()
    wait_idle(write)
    assert write.status.text().startswith("Done · 3 suggestions"), write.status.text()

    SHOTS.mkdir(parents=True, exist_ok=True)
    for theme, suffix in (("light", ""), ("dark", "-dark")):
        apply_theme(qapp, theme)
        qapp.processEvents()
        path = SHOTS / f"write{suffix}.png"
        assert window.grab().save(str(path)), path
    apply_theme(qapp, "light")
