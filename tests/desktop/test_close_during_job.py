"""Closing the window while jobs run cancels them cleanly, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.adapters.config import TrainConfig
from core.adapters.store import AdapterStore
from core.library import Library
from desktop.session import Session


def test_close_while_indexing_and_writing(window, session, tmp_path: Path, qtbot):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"note-{i:02d}.txt").write_text(f"Note {i}\n\nThe ferry left at {i} past six "
                                                  "and the gulls followed it out.\n" * 20)
    settings = session.app_settings()
    settings.max_tokens = 400
    settings.save(session.home)

    library = window.show_panel("Library")
    library.add_paths([str(folder)])
    progress: list = []
    library.progressed.connect(progress.append)
    write = window.show_panel("Write")
    write.input.setPlainText("A long letter about ferries")
    write.write()
    qtbot.waitUntil(lambda: bool(progress) and progress[-1].done > 0, timeout=120_000)

    window.close()
    assert not window.workers.busy or window.workers.wait(0)
    assert not session.library_is_open, "the stores are released once the jobs have stopped"

    # What was indexed before the close is kept; adding the folder again resumes.
    lib = Library(session.profile)
    try:
        before = lib.status()
        assert "pending" not in before.counts
        report = lib.add_job([folder]).execute()
        assert report.indexed + report.unchanged == 60
        assert report.unchanged == before.counts.get("indexed", 0)
    finally:
        lib.close()


@pytest.mark.slow  # starts the training process and resumes it: minutes on two cores
def test_close_while_training_then_resume(window, session, letters, qtbot, wait_idle):
    library = window.show_panel("Library")
    library.add_paths([str(letters)])
    wait_idle(library)
    panel = window.show_panel("Adapter")
    panel.train_config = TrainConfig(steps=3, checkpoint_every=1)
    progress: list = []
    panel.process.progress.connect(progress.append)
    panel.train()
    qtbot.waitUntil(lambda: any(p.done >= 1 for p in progress), timeout=300_000)

    window.close()
    assert not window.isVisible() and not panel.busy, "the worker has stopped"
    assert AdapterStore(session.profile).list() == [], "no half-trained adapter is listed"
    assert any(session.profile.training_dir.iterdir()), "the checkpoint is kept"

    # A new window on the same data dir (a restart) resumes after the saved step.
    from desktop.window import MainWindow

    again = Session(session.home, session.profile, load_model=session.load_model)
    reopened = MainWindow(again)
    qtbot.addWidget(reopened)
    try:
        panel = reopened.show_panel("Adapter")
        panel.train_config = TrainConfig(steps=3, checkpoint_every=1)
        progress.clear()
        panel.process.progress.connect(progress.append)
        panel.train()
        wait_idle(panel, timeout_s=300)
        steps = [p.done for p in progress if p.done]
        assert steps and steps[0] > 1 and steps[-1] == 3, steps
        assert len(AdapterStore(session.profile).list()) == 1
    finally:
        reopened.shutdown()
