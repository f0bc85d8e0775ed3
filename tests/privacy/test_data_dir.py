"""The data dir is Inkwell's alone, and "Delete everything" waits for no one.

* ``--home``/``$INKWELL_HOME`` at a folder that is not Inkwell's (a home directory,
  Documents) is refused: before, every start made everything below it private and
  "Delete everything" removed all of it.
* "Delete everything" while another Inkwell process runs on the data dir (the
  desktop, a training, ``inkwell serve``) is refused with a clear message: before,
  the CLI checked no other process and removed the folder from under it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.cli import main
from core.paths import MARKER, Home
from tests.crashkit import REPO

HOLDER = """
import sys
from core.paths import Home
Home.resolve(sys.argv[1]).open()
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_folder_that_is_not_inkwells_is_refused(tmp_path: Path, capsys) -> None:
    documents = tmp_path / "Documents"
    (documents / "taxes").mkdir(parents=True)
    letter = documents / "letter.txt"
    letter.write_text("Dear landlord")
    letter.chmod(0o644)
    assert main(["--home", str(documents), "doctor"]) == 2
    err = capsys.readouterr().err
    assert "is not an Inkwell data folder" in err and "letter.txt" in err, err
    assert sorted(p.name for p in documents.iterdir()) == ["letter.txt", "taxes"]
    assert letter.stat().st_mode & 0o777 == 0o644  # not made private behind the user's back
    assert main(["--home", str(documents), "delete-everything", "--yes"]) == 0
    assert sorted(p.name for p in documents.iterdir()) == ["letter.txt", "taxes"]


def test_an_older_data_dir_is_adopted_and_a_new_one_marked(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "profiles" / "default").mkdir(parents=True)
    (old / "settings.json").write_text("{}")
    Home.resolve(old).open()
    assert (old / MARKER).is_file()
    Home.resolve(tmp_path / "new").open()
    assert (tmp_path / "new" / MARKER).is_file()


def test_delete_everything_in_an_older_shared_folder_removes_only_inkwells_entries(
        tmp_path: Path, capsys) -> None:
    """A folder an older version used, that also holds the user's own files."""
    shared = tmp_path / "shared"
    Home.resolve(shared).open()
    (shared / MARKER).unlink()  # as an older version left it
    (shared / "notes.md").write_text("mine")
    assert main(["--home", str(shared), "delete-everything", "--yes", "--json"]) == 0
    assert '"kept": [\n    "notes.md"\n  ]' in capsys.readouterr().out
    assert [p.name for p in shared.iterdir()] == ["notes.md"]


def test_delete_everything_waits_for_no_other_inkwell_process(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert main(["--home", str(home), "delete-everything", "--yes"]) == 2
        assert "another Inkwell process is using this data folder" in capsys.readouterr().err
        assert (home / "profiles").is_dir() and (home / MARKER).is_file()
    finally:
        holder.communicate("", timeout=60)
    assert main(["--home", str(home), "delete-everything", "--yes"]) == 0
    assert not home.exists()
