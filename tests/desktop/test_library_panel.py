"""Library panel: adding a folder shows every file's status, through the sort/filter proxy."""

from __future__ import annotations

from pathlib import Path

from desktop.library_panel import LibraryModel


def _statuses(panel) -> dict[str, str]:
    model = panel.model
    rows = (model.index(r, 0) for r in range(model.rowCount()))
    return {Path(i.data(LibraryModel.PATH_ROLE)).name: i.data(LibraryModel.STATUS_ROLE)
            for i in rows}


def test_add_folder_shows_statuses(window, notes, wait_idle):
    panel = window.show_panel("Library")
    progress: list = []
    panel.progressed.connect(progress.append)
    panel.add_paths([str(notes)])
    assert panel.progress.isVisible() and not panel.add_folder_button.isEnabled()
    wait_idle(panel)

    statuses = _statuses(panel)
    assert {n: s for n, s in statuses.items() if n != "broken.pdf"} == {
        "harbour.md": "indexed", "garden.txt": "indexed", "release.md": "indexed"}
    assert statuses["broken.pdf"] in ("error", "skipped")
    assert progress and progress[-1].done == progress[-1].total == 4
    assert "3 indexed" in panel.summary.text()
    assert "Done" in panel.status.text()
    assert not panel.progress.isVisible() and panel.add_folder_button.isEnabled()

    # The proxy filters by status and by text, without touching the model.
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("indexed"))
    assert panel.proxy.rowCount() == 3
    panel.search.setText("garden")
    assert panel.proxy.rowCount() == 1
    panel.search.clear()
    panel.status_filter.setCurrentIndex(panel.status_filter.findData(statuses["broken.pdf"]))
    assert panel.proxy.rowCount() == 1
    detail = panel.proxy.index(0, LibraryModel.COLUMNS.index("Detail")).data()
    assert detail  # the reason a file was not indexed is shown, not just its status


def test_forget_removes_rows(window, notes, wait_idle):
    panel = window.show_panel("Library")
    panel.add_paths([str(notes)])
    wait_idle(panel)
    panel.forget_paths([str(notes / "garden.txt")])
    wait_idle(panel)
    assert "garden.txt" not in _statuses(panel)
    assert "Forgotten" in panel.status.text()


def test_bad_path_is_a_readable_error(window, tmp_path, wait_idle):
    panel = window.show_panel("Library")
    panel.add_paths([str(tmp_path / "does-not-exist")])
    wait_idle(panel)
    assert "no such file or folder" in panel.status.text()
    assert "Traceback" not in panel.status.text()


def test_commits_show_subject_repository_and_date(window, tmp_path, wait_idle):
    import os
    import subprocess

    from PySide6.QtCore import Qt

    repo = tmp_path / "inkwell-notes"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "Me", "GIT_AUTHOR_EMAIL": "me@example.org",
           "GIT_COMMITTER_NAME": "Me", "GIT_COMMITTER_EMAIL": "me@example.org", "HOME": str(repo)}

    def git(*args: str, date: str = "") -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       timeout=120,
                       env={**env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})

    git("init", "-q")
    for date, subject in (("2024-03-04T05:06:07Z", "Add the harbour walk notes"),
                          ("2025-01-02T05:06:07Z", "Fix the date of the garden entry")):
        (repo / "notes.txt").write_text(subject)
        git("add", "notes.txt", date=date)
        git("commit", "-q", "-m", f"{subject}\n\nA body long enough to be kept as writing.",
            date=date)

    panel = window.show_panel("Library")
    panel.import_git(str(repo), "me@example.org")
    wait_idle(panel)

    column = {name: i for i, name in enumerate(LibraryModel.COLUMNS)}
    panel.table.sortByColumn(column["Date"], Qt.SortOrder.DescendingOrder)
    rows = [[panel.proxy.index(r, c).data() for c in range(len(column))]
            for r in range(panel.proxy.rowCount())]
    assert [(r[column["Name"]], r[column["Folder"]], r[column["Date"]]) for r in rows] == [
        ("Fix the date of the garden entry", "inkwell-notes", "2025-01-02"),
        ("Add the harbour walk notes", "inkwell-notes", "2024-03-04"),
    ]
    tooltip = panel.proxy.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert str(repo) in tooltip and len(tooltip.split("commit ")[1]) == 40  # the whole hash
