"""Readers: every supported format yields the right text, title and date; bad files a reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.library.readers import MAX_FILE_BYTES, SkipFile, read_document_file
from tests.library.conftest import (
    docx_bytes,
    eml_bytes,
    encrypted_pdf_bytes,
    mbox_bytes,
    pdf_bytes,
    zip_bomb_docx_bytes,
)


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _read(path: Path):
    return read_document_file(path)[1]


def test_plain_markdown_and_rst(tmp_path: Path) -> None:
    (doc,) = _read(_write(tmp_path, "n.md", "# Garden plans\n\nTomatoes go left.\n\nBasil right."))
    assert doc.title == "Garden plans" and doc.kind == "markdown"
    assert "Basil right." in doc.text and doc.date and doc.source == str(tmp_path / "n.md")
    (rst,) = _read(_write(tmp_path, "r.rst", "Intro text\n\nRelease notes\n=============\n\nMore."))
    assert rst.title == "Release notes"


def test_html_keeps_visible_text_only(tmp_path: Path) -> None:
    page = ("<html><head><title>Trip report</title><script>var secret=1;</script></head>"
            "<body><h1>Day one</h1><p>We walked &amp; talked.</p><style>p{}</style></body></html>")
    (doc,) = _read(_write(tmp_path, "t.html", page))
    assert doc.title == "Trip report"
    assert "We walked & talked." in doc.text and "secret" not in doc.text and "p{}" not in doc.text


def test_deeply_nested_html_is_read_without_recursion(tmp_path: Path) -> None:
    page = "<div>" * 200_000 + "deep words" + "</div>" * 200_000
    (doc,) = _read(_write(tmp_path, "deep.htm", page))
    assert doc.text == "deep words"


def test_pdf_text_title_and_date(tmp_path: Path) -> None:
    (doc,) = _read(_write(tmp_path, "p.pdf", pdf_bytes("Quarterly numbers look good", "Q3")))
    assert doc.text == "Quarterly numbers look good"
    assert (doc.title, doc.date, doc.kind) == ("Q3", "2024-01-02", "pdf")


def test_docx_paragraphs_and_heading_title(tmp_path: Path) -> None:
    data = docx_bytes("Offer letter", ["Dear Ana,", "Welcome."])
    (doc,) = _read(_write(tmp_path, "d.docx", data))
    assert doc.title == "Offer letter" and doc.text.endswith("Dear Ana,\n\nWelcome.")


def test_email_and_mbox(tmp_path: Path) -> None:
    data = eml_bytes("Lunch friday?", "Shall we try the new place")
    (mail,) = _read(_write(tmp_path, "m.eml", data))
    assert (mail.title, mail.date, mail.kind) == ("Lunch friday?", "2024-01-02", "email")
    assert "new place" in mail.text
    box = mbox_bytes([("First", "one body"), ("Second", "two body")])
    docs = _read(_write(tmp_path, "box.mbox", box))
    assert [d.title for d in docs] == ["First", "Second"]
    assert len({d.doc_id for d in docs}) == 2


def test_lamp_questions_file_imports_each_profile_item_once(sample_data: Path) -> None:
    path = sample_data / "proposal_title" / "sample_questions.json"
    docs = _read(path)
    questions = json.loads(path.read_text())
    items = {str(i["id"]) for q in questions for i in q["profile"]}
    assert {d.doc_id for d in docs} == {f"lamp:{i}" for i in items}
    doc = docs[0]
    assert doc.kind == "lamp" and doc.title and doc.date and doc.text == doc.fields["abstract"]


def test_lamp_profile_list(tmp_path: Path) -> None:
    items = [{"id": "c1", "text": "Fix the flaky test by waiting", "title": "Fix flake",
              "date": "2023-05-01"}]
    (doc,) = _read(_write(tmp_path, "profile.json", json.dumps(items)))
    assert (doc.title, doc.date, doc.fields["task"]) == ("Fix flake", "2023-05-01",
                                                          "commit_subject")


def test_encodings(tmp_path: Path) -> None:
    (utf16,) = _read(_write(tmp_path, "u16.txt", "Grüße aus Köln".encode("utf-16")))
    assert utf16.text == "Grüße aus Köln"
    (cp,) = _read(_write(tmp_path, "cp.txt", "café naïve — déjà vu".encode("cp1252")))
    assert cp.text == "café naïve — déjà vu"


BAD_FILES: list[tuple[str, bytes, str]] = [
    ("empty.txt", b"", "empty file"),
    ("blank.md", b"  \n\n\t\n", "no text"),
    ("binary.txt", bytes(range(256)) * 64, "binary data"),
    ("controls.txt", b"\x01\x02\x03\x04\x05\x06 text" * 200, "binary data"),
    ("latin.txt", b"caf\x81 \x8d\x8f\x90 \x9d", "not UTF-8 text"),
    ("bad16.txt", b"\xff\xfe" + b"\x00\xd8", "invalid UTF-16"),
    ("corrupt.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "corrupt or unreadable PDF"),
    ("notpdf.pdf", b"hello, I am not a pdf", "corrupt or unreadable PDF"),
    ("notzip.docx", b"just text pretending", "not a zip archive"),
    ("badzip.docx", b"PK\x03\x04" + b"\0" * 100, "not a zip archive"),
    ("emptyzip.docx", b"PK\x05\x06" + b"\0" * 18, "not a valid .docx"),
    ("mail.eml", b"\n\n", "neither subject nor body"),
    ("notmbox.mbox", b"Subject: hi\n\nbody", "not an mbox file"),
    ("notjson.json", b"{not json", "not valid UTF-8 JSON"),
    ("other.json", b'{"a": 1}', "not a LaMP questions file"),
    ("badtypes.json", json.dumps([{"id": "1", "input": "x", "profile": [{"id": 2, "text": [1]}]}])
     .encode(), "invalid LaMP file"),
    ("unknown.xyz", b"text", "unsupported file type"),
]


@pytest.mark.parametrize(("name", "data", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, name: str, data: bytes,
                                             reason: str) -> None:
    with pytest.raises(SkipFile, match=reason):
        read_document_file(_write(tmp_path, name, data))


def test_encrypted_pdf_and_zip_bomb(tmp_path: Path) -> None:
    with pytest.raises(SkipFile, match="encrypted PDF"):
        read_document_file(_write(tmp_path, "locked.pdf", encrypted_pdf_bytes("private")))
    with pytest.raises(SkipFile, match="zip bomb"):
        read_document_file(_write(tmp_path, "bomb.docx", zip_bomb_docx_bytes()))


def test_size_cap_on_a_sparse_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(SkipFile, match="over the size cap"):
        read_document_file(path)


def test_mbox_keeps_good_messages_around_a_broken_one(tmp_path: Path) -> None:
    box = (mbox_bytes([("Good one", "fine body")])
           + b"From x Tue Jan  2 10:00:00 2024\nContent-Type: text/plain; charset=nonsense-9\n"
           b"Subject: =?bogus?Q?x?=\n\n\xff\xfe broken\n"
           + mbox_bytes([("Good two", "also fine")]))
    titles = [d.title for d in _read(_write(tmp_path, "mixed.mbox", box))]
    assert "Good one" in titles and "Good two" in titles


def test_vanished_file_raises_file_not_found(tmp_path: Path) -> None:
    path = _write(tmp_path, "gone.txt", "x")
    os.unlink(path)
    with pytest.raises(FileNotFoundError):
        read_document_file(path)
