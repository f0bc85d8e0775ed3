"""Closing the window while jobs run cancels them cleanly, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

from core.library import Library


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
    library._job.signals.progress.connect(progress.append)
    write = window.show_panel("Write")
    write.input.setPlainText("A long letter about ferries")
    write.write()
    qtbot.waitUntil(lambda: bool(progress) and progress[-1].done > 0, timeout=120_000)

    window.close()
    assert not window.workers.busy or window.workers.wait(0)
    assert session._library is None, "the stores are released once the jobs have stopped"

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
