"""Forgotten means gone; "Delete everything" leaves nothing of the user.

A canary — a made-up word, fresh for each test, in one e-mail's file name,
subject and body — goes through everything a document can reach: the library
(manifest, Chroma's SQLite and HNSW segments, BM25), an adapter's training, a
RAG answer, ``inkwell advise`` (which holds the newest e-mails out as queries
and stores their titles and the answers written from them).  After forgetting
the e-mail, every byte of every file under the data dir is searched for the
word (raw bytes, so SQLite free pages and journals count; as UTF-8, UTF-16-LE and
UTF-16-BE, case-blind), and so is every file changed during the test in the
shared model cache, the system temp dir and ``~/.cache``.  Before forgetting,
the same scan must find it (in the library and in the advice), so a scan that
cannot see is not mistaken for a clean data dir.

The desktop's Forget button and "Delete everything" are driven in the real app
(``tests/privacy/desktop_driver.py``); both call the same ``core`` functions as
the CLI (``core.forget.forget``, ``core.privacy.delete_everything``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.privacy.pipeline import (
    CANARY_PROMPT,
    SESSION_TIMEOUT_S,
    Inkwell,
    canary_needles,
    cli_forget_canary,
    desktop_session,
    hit_places,
    new_canary_word,
    private_mode_problems,
    scan_elsewhere,
    scan_for,
    write_corpus,
)


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_a_forgotten_document_leaves_no_trace(tmp_path: Path) -> None:
    run = cli_forget_canary(tmp_path)
    canary = str(run.files["canary"])
    assert canary in run.sources, "the canary's e-mail was retrieved for the RAG answer"
    assert run.advice["n_heldout"] > 0, run.advice
    assert run.modes_before_forget == [], "every store writes private files"
    assert {"library", "eval", "training"} <= hit_places(run.before, run.home), run.before.hits

    assert run.forgotten["stale_adapters"] == [run.adapter]
    listed = run.adapters[run.adapter]
    assert listed["stale"]
    assert set(run.forgotten["doc_ids"]) <= set(listed["stale_doc_ids"])

    assert run.after.hits == [], f"the forgotten canary survives in {run.after.hits}"
    assert run.after.files > 10 and run.after.bytes > 100_000, run.after.as_dict()
    assert run.elsewhere.hits == [], f"the canary is outside the data dir: {run.elsewhere.hits}"
    # The rest of the library still works.
    hits = Inkwell(run.home)("search", "library", "search", "harbour survey", "--json").json()
    assert hits and all(run.word not in h["source"] for h in hits)


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_delete_everything_leaves_nothing(tmp_path: Path) -> None:
    word = new_canary_word()
    needles = canary_needles(word)
    write_corpus(tmp_path / "corpus", word)
    home = tmp_path / "home"
    ink = Inkwell(home)
    since = time.time()
    ink("library add", "library", "add", str(tmp_path / "corpus"), "--json")
    ink("write rag", "write", "--method", "rag", "--max-tokens", "8", "--json", CANARY_PROMPT)
    assert scan_for([home], needles).hits

    asked = ink("delete-everything", "delete-everything", check=False)
    assert asked.returncode == 2 and "--yes" in asked.stdout
    assert (home / "profiles" / "default" / "library").is_dir(), "nothing goes without --yes"

    done = ink("delete-everything --yes", "delete-everything", "--yes", "--json").json()
    assert done == {"deleted": str(home.resolve()), "exists": False, "kept": []}
    assert not home.exists()
    # Not even the renamed-aside copy: the data dir's parent holds only the user's documents.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]
    elsewhere = scan_elsewhere(tmp_path, needles, since)
    assert elsewhere.hits == [], f"the canary is outside the data dir: {elsewhere.hits}"


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_desktop_forget_leaves_no_trace(tmp_path: Path) -> None:
    word = new_canary_word()
    needles = canary_needles(word)
    files = write_corpus(tmp_path / "corpus", word)
    home = tmp_path / "home"
    since = time.time()
    report = desktop_session(Inkwell(home), "--max-tokens", "8",
                             "--add", str(tmp_path / "corpus"), "--write-rag", CANARY_PROMPT,
                             "--forget", str(files["canary"]))
    assert "error" not in report, report
    assert str(files["canary"]) in report["write"]["sources"]
    assert "Forgotten: 1 item(s)" in report["forget"][0]

    after = scan_for([home], needles)
    assert after.hits == [], f"the forgotten canary survives in {after.hits}"
    assert after.files > 5, after.as_dict()
    assert private_mode_problems(home) == []
    elsewhere = scan_elsewhere(tmp_path, needles, since)
    assert elsewhere.hits == [], f"the canary is outside the data dir: {elsewhere.hits}"


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_desktop_delete_everything_leaves_nothing(tmp_path: Path) -> None:
    word = new_canary_word()
    write_corpus(tmp_path / "corpus", word)
    home = tmp_path / "home"
    since = time.time()
    report = desktop_session(Inkwell(home), "--add", str(tmp_path / "corpus"),
                             "--delete-everything")
    assert "error" not in report, report
    assert report["deleted"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]
    elsewhere = scan_elsewhere(tmp_path, canary_needles(word), since)
    assert elsewhere.hits == [], f"the canary is outside the data dir: {elsewhere.hits}"
