"""``inkwell library`` as a user runs it: the CLI contract, and a folder of hostile files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.library.readers import MAX_FILE_BYTES
from tests.library.conftest import (
    docx_bytes,
    encrypted_pdf_bytes,
    library_files,
    pdf_bytes,
    run_cli,
    zip_bomb_docx_bytes,
)


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


def _hostile_folder(bad: Path) -> dict[str, str]:
    """Every kind of bad file the issue lists, with the reason the status must give."""
    bad.mkdir()
    expect: dict[str, str] = {}

    def put(name: str, data: bytes, reason: str) -> None:
        (bad / name).write_bytes(data)
        expect[name] = reason

    put("corrupt.pdf", pdf_bytes("fine text")[:150], "corrupt or unreadable PDF")
    put("encrypted.pdf", encrypted_pdf_bytes("locked words"), "encrypted PDF")
    put("notzip.docx", b"this is not a zip", "not a zip archive")
    put("bomb.docx", zip_bomb_docx_bytes(), "zip bomb")
    put("binary.txt", os.urandom(4096) + b"\0", "binary data")
    put("latin.txt", b"na\x81ve \x8d\x8f\x90", "not UTF-8 text")
    put("empty.md", b"", "empty file")
    with open(bad / "huge.txt", "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 10)  # sparse
    expect["huge.txt"] = "over the size cap"
    put("secret.txt", b"private words", "permission denied")
    os.chmod(bad / "secret.txt", 0)
    os.symlink(bad / "loop2.txt", bad / "loop1.txt")
    os.symlink(bad / "loop1.txt", bad / "loop2.txt")
    expect["loop1.txt"] = expect["loop2.txt"] = "symlink loop"
    os.symlink(bad, bad / "back")  # a folder link to itself
    expect["back"] = "symlink loop"
    os.symlink(bad / "missing.txt", bad / "dangling.txt")
    expect["dangling.txt"] = "broken symlink"
    os.mkfifo(bad / "pipe.txt")
    expect["pipe.txt"] = "not a regular file"
    put("broken.json", b'[{"id": "q1", "input": 3, "profile": []}]', "invalid LaMP file")
    put("cp1252.txt", "Grüße, naïve café".encode("cp1252"), "")  # detected, indexed
    return expect


def test_hostile_files_are_skipped_and_harm_nothing(tmp_path: Path, home) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "keep.md").write_text("# Keep\n\nThe lighthouse keeper logs every passing ship.\n")
    (good / "also.docx").write_bytes(docx_bytes("Also", ["Orchids need indirect light."]))
    run_cli(home.root, "library", "add", str(good))
    expect = _hostile_folder(tmp_path / "bad")

    # Unreadable files are only unreadable without root's override: drop it when root.
    result = run_cli(home.root, "library", "add", str(good), str(tmp_path / "bad"),
                     drop_root_powers=True)
    assert "unchanged 2" in result.stdout

    status = json.loads(run_cli(home.root, "library", "status", "--json").stdout)
    rows = {Path(f["path"]).name: f for f in status["files"]}
    for name, reason in expect.items():
        row = rows[name]
        if reason:
            assert row["status"] == "skipped" and reason in row["reason"], (name, row)
        else:
            assert row["status"] == "indexed", (name, row)
    assert rows["keep.md"]["status"] == rows["also.docx"]["status"] == "indexed"
    hits = json.loads(run_cli(home.root, "library", "search", "lighthouse ship", "--json").stdout)
    assert hits[0]["source"] == str(good / "keep.md")
    hits = json.loads(run_cli(home.root, "library", "search", "orchids light", "--retriever",
                              "dense", "-k", "1", "--json").stdout)
    assert hits[0]["source"] == str(good / "also.docx")
