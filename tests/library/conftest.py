"""Helpers for the library tests: real files of every format, good and hostile.

Everything is generated here, with the same libraries a user's other software
would use (python-docx, pypdf, the email package), so the readers are tested
against real files rather than hand-made parse trees.
"""

from __future__ import annotations

import email.message
import email.utils
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def pdf_bytes(text: str, title: str = "") -> bytes:
    """A minimal one-page PDF whose text pypdf can extract (offsets computed, not guessed)."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (" + title.encode("latin-1") + b") /CreationDate (D:20240102030405Z) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def encrypted_pdf_bytes(text: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(text))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(heading: str, paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb_docx_bytes() -> bytes:
    """A zip named .docx whose document.xml inflates ~1000x to 20 MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    return out.getvalue()


def eml_bytes(subject: str, body: str, date: str = "Tue, 02 Jan 2024 10:00:00 +0000") -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = "me@example.org"
    msg["To"] = "you@example.org"
    msg["Subject"] = subject
    msg["Date"] = date
    msg.set_content(body)
    return bytes(msg)


def mbox_bytes(messages: list[tuple[str, str]]) -> bytes:
    parts = []
    for subject, body in messages:
        parts.append(b"From me@example.org Tue Jan  2 10:00:00 2024\n" + eml_bytes(subject, body)
                     + b"\n")
    return b"".join(parts)


@pytest.fixture
def library(profile) -> Iterator:
    from core.library import Library

    lib = Library(profile)
    yield lib
    lib.close()


def run_cli(home: Path, *args: str, drop_root_powers: bool = False,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``inkwell`` in a fresh process, as a user would.

    ``drop_root_powers``: when the tests run as root, drop the capabilities that
    let root read any file, so unreadable-file handling is exercised for real.
    """
    cmd = [sys.executable, "-m", "core", "--home", str(home), *args]
    if drop_root_powers and os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"inkwell {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def library_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name


def saved_dense_rows(library_dir: Path, part: str = "vectors") -> np.ndarray:
    """Every row of the saved dense index's ``part`` (``vectors`` or ``codes``), in the order
    of its ids.json, dead rows included."""
    folder = library_dir / "vectors"
    names = json.loads((folder / "segments.json").read_text(encoding="utf-8"))
    return np.concatenate([np.load(folder / f"{name}.{part}.npy") for name in names])
