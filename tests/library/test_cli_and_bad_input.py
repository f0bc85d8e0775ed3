"""``inkwell library`` as a user runs it: the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

from tests.library.conftest import library_files, run_cli


def test_cli_add_status_search_forget(tmp_path: Path, home) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Sourdough\n\nFeed the starter twice a day with rye flour.\n")
    (docs / "b.txt").write_text("The board meeting moved to Thursday afternoon.\n")
    added = run_cli(home.root, "--profile", "work", "library", "add", str(docs))
    assert "indexed 2" in added.stdout
    assert "indexing: 2/2" in added.stderr  # progress goes to stderr

    status = json.loads(run_cli(home.root, "--profile", "work", "library", "status",
                                "--json").stdout)
    assert status["counts"] == {"indexed": 2} and status["documents"] == 2
    assert {f["path"] for f in status["files"]} == {str(docs / "a.md"), str(docs / "b.txt")}

    hits = json.loads(run_cli(home.root, "--profile", "work", "library", "search",
                              "rye starter feeding", "-k", "1", "--retriever", "hybrid",
                              "--json").stdout)
    assert len(hits) == 1 and hits[0]["source"] == str(docs / "a.md")
    assert set(hits[0]) >= {"doc_id", "source", "title", "date", "text", "score", "chunk_index"}
    assert any(b"rye flour" in p.read_bytes()
               for p in library_files(home.profile("work").library_dir))
    plain = run_cli(home.root, "--profile", "work", "library", "search", "board meeting")
    assert "b.txt" in plain.stdout

    # Profiles are separate libraries.
    other = json.loads(run_cli(home.root, "library", "status", "--json").stdout)
    assert other["counts"] == {}

    forgot = run_cli(home.root, "--profile", "work", "library", "forget", str(docs / "a.md"))
    assert "forgot 1 item(s), 1 document(s)" in forgot.stdout
    # After the forgetting process exited (anything it flushed on exit included): gone.
    library_dir = home.profile("work").library_dir
    assert not [p for p in library_files(library_dir) if b"rye flour" in p.read_bytes()]
    missing = run_cli(home.root, "--profile", "work", "library", "forget", str(docs / "a.md"),
                      check=False)
    assert missing.returncode == 2 and "nothing from here is in the library" in missing.stderr
    nothing = run_cli(home.root, "library", "add", str(tmp_path / "nope"), check=False)
    assert nothing.returncode == 2 and "no such file or folder" in nothing.stderr


# A folder of every kind of hostile file in one ``add`` beside an indexed library:
# tests/privacy/test_hostile_input.py (one table-driven generator for all of them).
