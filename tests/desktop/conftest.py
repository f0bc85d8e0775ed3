"""Fixtures for the desktop tests: a real window over a real data dir.

The window runs offscreen (``QT_QPA_PLATFORM=offscreen``, set by the root
conftest) with the shipped font and the light theme, so screenshots are the same
on every machine.  SmolLM2 (135M), the fastest bundled model, is the chosen
model; what writes is a :class:`~tests.fakes.FakeModel`, since these tests are
about the window.  A module about what the model writes overrides ``load_model``
with ``core.runtime.get_runtime`` (test_screenshots.py does).
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from core.models import SMOLLM2
from core.settings import AppSettings
from desktop.session import Session
from tests.fakes import FakeModel

NOTES = {
    "harbour.md": "# Harbour walk\n\nThe harbour at dawn smells of diesel and rope. "
                  "I walk the breakwater every Sunday and count the gulls.\n",
    "garden.txt": "Garden log\n\nThe tomatoes split after the storm. Next year I will "
                  "water them less and mulch the beds earlier.\n",
    "release.md": "# Release notes 2.1\n\nWe fixed the exporter crash and made the "
                  "harbour map load twice as fast.\n",
}


@pytest.fixture(scope="session")
def fonts(qapp) -> None:
    from desktop.theme import apply_theme, load_fonts

    load_fonts()
    apply_theme(qapp, "light")


@pytest.fixture(scope="session")
def listed_registry(registry):
    """The session's registry after listing every model: each model file hashed once."""
    registry.list()
    return registry


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def load_model(fake_model):
    """How the session loads its writing model: the fake one, whichever model is chosen."""
    return lambda _model: fake_model


@pytest.fixture
def session(home, profile, listed_registry, load_model) -> Iterator[Session]:
    # Model metadata and hashes live in the shared cache dir ($INKWELL_CACHE_DIR), which
    # ``listed_registry`` filled once: no test hashes the bundled models again.
    AppSettings(model=SMOLLM2, max_tokens=16).save(home)
    s = Session(home, profile, load_model=load_model)
    yield s
    s.close()


@pytest.fixture
def window(qtbot, fonts, session):
    from desktop.window import MainWindow

    w = MainWindow(session)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A small folder of the user's writing, plus one file the library cannot read."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    return folder


SUBJECTS = [
    "Harbour survey results", "Ferry timetable for the spring", "Breakwater repairs",
    "Gull counts in March", "Lighthouse open day", "Dredging the inner basin",
    "Mooring fees next year", "Storm damage on the quay",
]


@pytest.fixture
def letters(tmp_path: Path) -> Path:
    """Eight dated e-mails: titled documents (subjects) long enough for style pairs too."""
    folder = tmp_path / "letters"
    folder.mkdir()
    for i, subject in enumerate(SUBJECTS):
        body = (f"Hello all, a short note about {subject.lower()}. " + " ".join(
            f"On day {d} we checked the {subject.split()[0].lower()} again and wrote down what "
            "we saw, as always, in the blue notebook by the door." for d in range(1, 6)))
        msg = email.message.EmailMessage()
        msg["From"] = "me@example.org"
        msg["To"] = "harbour@example.org"
        msg["Subject"] = subject
        msg["Date"] = f"Tue, {i + 2:02d} Jan 2024 10:00:00 +0000"
        msg.set_content(body)
        (folder / f"letter-{i}.eml").write_bytes(bytes(msg))
    return folder


@pytest.fixture
def wait_idle(qtbot) -> Callable[..., None]:
    """Wait until a panel's job has finished and the panel has shown its outcome."""

    def wait(panel, timeout_s: float = 180) -> None:
        qtbot.waitUntil(lambda: not panel.busy, timeout=int(timeout_s * 1000))

    return wait


@pytest.fixture(scope="package", autouse=True)
def gui_thread_collector(qapp) -> Iterator[None]:
    """The desktop tests collect garbage as the app does (``desktop.app``): in the GUI thread.

    Automatic collection comes back afterwards: the rest of the suite runs no event loop.
    """
    import gc

    from desktop.app import collect_garbage_in_gui_thread

    timer = collect_garbage_in_gui_thread(qapp)
    yield
    timer.stop()
    timer.deleteLater()
    gc.enable()
