"""Readers parse the bytes read once; a file's reading can be stopped between its parts.

Issue 19: the mbox and LaMP readers opened the file again by path (Python's mailbox
module read-write, where the file allowed it), and reading could only be cancelled
between files, with no limit on how long one file may take.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from core.errors import JobCancelled
from core.library.readers import SkipFile, read_document_file
from tests.library.conftest import mbox_bytes, pdf_bytes

DATA = Path(__file__).resolve().parent.parent / "data"
_OPENED: list[tuple[str, str]] = []
_WATCHING: list[Path] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _WATCHING and isinstance(args[0], str) and Path(args[0]) in _WATCHING:
        _OPENED.append((args[0], str(args[1])))  # (path, mode)


sys.addaudithook(_audit)


def _opens(path: Path) -> list[tuple[str, str]]:
    _OPENED.clear()
    _WATCHING[:] = [path]
    try:
        read_document_file(path)
    finally:
        _WATCHING.clear()
    return list(_OPENED)


@pytest.mark.parametrize("kind", ["mbox", "lamp"])
def test_the_file_is_opened_once_to_read(tmp_path: Path, kind: str) -> None:
    if kind == "mbox":
        path = tmp_path / "letters.mbox"
        path.write_bytes(mbox_bytes([("Harbour", "The gulls."), ("Ferry", "It was late.")]))
    else:
        path = tmp_path / "dev_questions.json"
        shutil.copy(DATA / "commit_subject" / "sample_questions.json", path)
    assert _opens(path) == [(str(path), "r")]  # once, to read


def test_a_file_that_takes_too_long_is_skipped_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "slow.pdf"
    path.write_bytes(pdf_bytes("Minutes of the harbour board."))
    assert read_document_file(path)[1]  # readable
    with pytest.raises(SkipFile, match="took longer than 0 s to read"):
        read_document_file(path, time_limit_s=0)


def test_cancel_stops_inside_a_file(tmp_path: Path) -> None:
    path = tmp_path / "letters.mbox"
    path.write_bytes(mbox_bytes([(f"Letter {i}", "Dear all, the quay.") for i in range(50)]))
    seen: list[int] = []

    def check() -> None:
        seen.append(1)
        if len(seen) == 3:
            raise JobCancelled()

    with pytest.raises(JobCancelled):
        read_document_file(path, check_cancelled=check)
    assert len(seen) == 3  # stopped at the third message, not after the fiftieth
