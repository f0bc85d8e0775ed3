"""Readers: one function per file format, each turning a file into ``Document`` objects.

A reader either returns documents or raises :class:`SkipFile` with a reason
written for the user ("encrypted PDF", "not a .docx: not a zip archive").  The
indexing job records that reason per file and carries on, so one hostile file
never aborts a run or harms what is already indexed.

A reader parses the bytes :func:`read_document_file` read once; it never opens the
file again (by path, possibly read-write, and possibly changed since).  Readers of
formats with many parts (a PDF's pages, an mbox's messages, a LaMP file's items)
call :func:`checkpoint` between parts: a file that takes longer than
``READ_TIME_LIMIT_S`` to read is skipped with that reason, and a cancelled job stops
there rather than after the file.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import email.policy
import email.utils
import html.parser
import io
import itertools
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

from core.documents import Document, content_hash
from core.errors import InkwellError
from core.lamp import infer_task, parse_questions, profile_item_document, task_by_name

MAX_FILE_BYTES = 50 * 1024 * 1024  # bigger "documents" are archives or data, not writing
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024  # zip-bomb guard: total inflated size
MAX_DOCX_RATIO = 200  # zip-bomb guard: inflated / compressed of one member
MAX_TITLE_CHARS = 200
# A page of writing takes milliseconds; minutes means a file built to stall the reader.
READ_TIME_LIMIT_S = 120.0


class SkipFile(Exception):
    """This file cannot be indexed; ``str(exc)`` is the reason shown in the status."""


Reader = Callable[[Path, bytes], list[Document]]


class _Budget:
    def __init__(self, time_limit_s: float, check_cancelled: Callable[[], None] | None) -> None:
        self.time_limit_s = time_limit_s
        self.deadline = time.monotonic() + time_limit_s
        self.check_cancelled = check_cancelled


_BUDGET: ContextVar[_Budget | None] = ContextVar("inkwell_read_budget", default=None)


@contextmanager
def _budget(time_limit_s: float, check_cancelled: Callable[[], None] | None) -> Iterator[None]:
    token = _BUDGET.set(_Budget(time_limit_s, check_cancelled))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def checkpoint() -> None:
    """Between two parts of a file: stop if the job was cancelled or the file takes too long."""
    budget = _BUDGET.get()
    if budget is None:
        return
    if budget.check_cancelled is not None:
        budget.check_cancelled()
    if time.monotonic() > budget.deadline:
        raise SkipFile(f"took longer than {budget.time_limit_s:g} s to read (stopped there)")


def file_date(path: Path) -> str:
    """The file's modification date as ISO ``YYYY-MM-DD`` (the date the user last wrote it)."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).date().isoformat()


def first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:MAX_TITLE_CHARS]
    return ""


def _file_document(path: Path, text: str, title: str, kind: str,
                   date: str | None = None) -> Document:
    """A document for a whole file; its id comes from the path and the content."""
    source = str(path)
    digest = content_hash(text, title)
    return Document(
        doc_id=f"file:{content_hash(source, digest)[:24]}",
        source=source,
        title=(title or first_line_title(text))[:MAX_TITLE_CHARS],
        date=date or file_date(path),
        text=text,
        kind=kind,
        content_hash=digest,
    )


def _require_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise SkipFile("no text in this file (empty or only whitespace/markup)")
    return text


# --- plain text -----------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control characters that never occur in real text (everything below 0x20 but tab/LF/FF/CR).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> str:
    """Decode a text file: BOM, then strict UTF-8, then Windows-1252 if it reads as text.

    Binary data with a text extension is refused instead of indexed as noise.
    """
    if not data:
        raise SkipFile("empty file (0 bytes)")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SkipFile(f"invalid {encoding.upper()} text ({exc.reason} at byte "
                               f"{exc.start})") from None
    head = data[:65536]
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError as exc:
            raise SkipFile(f"invalid {utf16.upper()} text without a byte-order mark "
                           f"({exc.reason} at byte {exc.start})") from None
    elif b"\x00" in head:
        raise SkipFile("binary data, not text (contains NUL bytes)")
    else:
        text = _decode_8bit(data)
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) > max(2, len(sample) // 100):
        raise SkipFile("binary data, not text (control characters)")
    return text


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` when ``head`` looks like UTF-16 text that has no BOM.

    Notepad's "Unicode" and PowerShell write such files; mostly-Latin text has a NUL
    as every other byte (the high byte), which would otherwise read as binary data.
    """
    n = len(head) // 2
    if n < 4:
        return None
    even, odd = head[0:2 * n:2].count(0), head[1:2 * n:2].count(0)
    if odd >= 0.3 * n and even <= 0.02 * n:
        return "utf-16-le"
    if even >= 0.3 * n and odd <= 0.02 * n:
        return "utf-16-be"
    return None


def _decode_8bit(data: bytes) -> str:
    """Strict UTF-8, else Windows-1252 (what most other 8-bit text on a desktop is)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise SkipFile(f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start}) and not Windows-1252 either") from None
    return text


def read_text(path: Path, data: bytes) -> list[Document]:
    text = _require_text(decode_text(data))
    kind = "markdown" if path.suffix.lower() in {".md", ".markdown"} else "text"
    title = _rst_title(text) if path.suffix.lower() == ".rst" else first_line_title(text)
    return [_file_document(path, text, title, kind)]


def _rst_title(text: str) -> str:
    """The first line that is underlined (``Title`` then ``=====``), else the first line."""
    lines = text.splitlines()
    for a, b in itertools.pairwise(lines):
        if a.strip() and len(b.strip()) >= len(a.strip()) and re.fullmatch(r"([=\-~^*#+])\1+",
                                                                            b.strip()):
            return a.strip()
    return first_line_title(text)


# --- HTML ------------------------------------------------------------------------------

class _HTMLText(html.parser.HTMLParser):
    """Visible text of an HTML page with block breaks; the <title> or first <h1> as title.

    A flat tag stack (not a tree) keeps deeply nested hostile HTML linear in size.
    """

    _BLOCK = frozenset({
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
        "section", "article", "header", "footer", "blockquote", "pre", "hr", "dd", "dt",
    })
    _HIDDEN = frozenset({"script", "style", "noscript", "template", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.h1 = ""
        self._hidden = 0
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        if tag == "title":
            self._in_title = True
        if tag == "h1":
            self._in_h1 = True
        if tag in self._BLOCK:
            self.parts.append("\n\n" if tag in {"p", "div", "h1", "h2", "h3", "li"} else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """``<![keyword[ ... ]]>`` with a keyword the standard library does not know raises
        AssertionError there; a browser ignores such a section, and so does this reader."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._in_h1:
            self.h1 += data
        if not self._hidden:
            self.parts.append(data)


def read_html(path: Path, data: bytes) -> list[Document]:
    parser = _HTMLText()
    parser.feed(decode_text(data))
    parser.close()
    raw = "".join(parser.parts)
    paragraphs = (re.sub(r"[ \t\u00a0]+", " ", p).strip() for p in re.split(r"\n\s*\n", raw))
    text = _require_text("\n\n".join(p for p in paragraphs if p))
    title = " ".join((parser.title or parser.h1).split())
    return [_file_document(path, text, title, "html")]


# --- PDF -------------------------------------------------------------------------------

def read_pdf(path: Path, data: bytes) -> list[Document]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed PDFs are reported per file
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))
            except Exception:  # unsupported encryption algorithms raise anything
                opened = False
            if not opened:
                raise SkipFile("encrypted PDF (needs a password)")
        pages = []
        for page in reader.pages:
            checkpoint()
            pages.append(page.extract_text() or "")
        meta = reader.metadata
        title = str(meta.title) if meta is not None and meta.title else ""
        created = meta.creation_date if meta is not None else None
    except SkipFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError, ZeroDivisionError) as exc:
        raise SkipFile(f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})"[:300]) from None
    text = _require_text("\n\n".join(p.strip() for p in pages if p.strip()))
    date = created.date().isoformat() if isinstance(created, dt.datetime) else None
    return [_file_document(path, text, title, "pdf", date)]


# --- DOCX ------------------------------------------------------------------------------

def check_zip_bomb(data: bytes, label: str) -> None:
    """Refuse archives that inflate to far more than they hold before opening them."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise SkipFile(f"not a {label}: not a zip archive") from None
    with archive:
        total = 0
        for info in archive.infolist():
            total += info.file_size
            ratio = info.file_size / max(1, info.compress_size)
            if total > MAX_DOCX_UNCOMPRESSED or (info.file_size > 10_000_000
                                                 and ratio > MAX_DOCX_RATIO):
                raise SkipFile(f"{label} looks like a zip bomb ({info.filename} inflates "
                               f"{ratio:.0f}x to {info.file_size:,} bytes)")


def read_docx(path: Path, data: bytes) -> list[Document]:
    check_zip_bomb(data, ".docx")
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, lxml errors, ...
        raise SkipFile(f"not a valid .docx ({type(exc).__name__}: {exc})"[:300]) from None
    paragraphs = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = " | ".join(c.text.strip() for c in row.cells if c.text.strip())
            if cells:
                paragraphs.append(cells)
    text = _require_text("\n\n".join(paragraphs))
    props = document.core_properties
    title = props.title or next((p.text.strip() for p in document.paragraphs
                                 if p.style is not None and p.style.name.startswith("Heading")
                                 and p.text.strip()), "")
    when = props.created or props.modified
    date = when.date().isoformat() if isinstance(when, dt.datetime) else None
    return [_file_document(path, text, title, "docx", date)]


# --- e-mail ----------------------------------------------------------------------------

def _message_body(msg: Message) -> str:
    """The plain-text body of a message (HTML bodies are stripped to text)."""
    part: Message | None
    if isinstance(msg, EmailMessage):
        part = msg.get_body(preferencelist=("plain", "html"))
    else:
        part = next((p for p in msg.walk() if p.get_content_type() in ("text/plain", "text/html")),
                    None)
    if part is None:
        return ""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        body = payload.decode(charset, errors="replace")
    except LookupError:
        body = payload.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        parser = _HTMLText()
        parser.feed(body)
        parser.close()
        body = "".join(parser.parts)
    return body


def _message_date(msg: Message) -> str | None:
    raw = msg.get("Date")
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(raw)).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _message_document(msg: Message, source: str) -> Document | None:
    subject = " ".join(str(msg.get("Subject", "") or "").split())
    body = _message_body(msg).replace("\r\n", "\n").strip()
    if not body and not subject:
        return None
    digest = content_hash(subject, body)
    return Document(
        doc_id=f"mail:{content_hash(source, digest)[:24]}",
        source=source,
        title=subject[:MAX_TITLE_CHARS],
        date=_message_date(msg),
        text=body or subject,
        kind="email",
        content_hash=digest,
    )


def read_eml(path: Path, data: bytes) -> list[Document]:
    try:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        doc = _message_document(msg, str(path))
    except Exception as exc:  # the email package raises many kinds on bad input
        raise SkipFile(f"malformed e-mail ({type(exc).__name__}: {exc})"[:300]) from None
    if doc is None:
        raise SkipFile("e-mail has neither subject nor body")
    return [doc]


# Each message starts with a "From " line, as Python's mailbox module splits them (its
# keys, 0, 1, ..., are the message numbers in a document's source).
_MBOX_FROM_LINE = re.compile(rb"(?:\A|(?<=\n))From [^\n]*\n?")


def read_mbox(path: Path, data: bytes) -> list[Document]:
    """One document per message; a broken message is left out, the others are kept."""
    if not data.startswith(b"From "):
        raise SkipFile("not an mbox file (does not start with a 'From ' line)")
    docs: list[Document] = []
    for key, raw in enumerate(_MBOX_FROM_LINE.split(data)[1:]):
        checkpoint()
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            doc = _message_document(msg, f"{path}#{key}")
        except Exception:  # skip one broken message, keep the rest
            continue
        if doc is not None:
            docs.append(doc)
    if not docs:
        raise SkipFile("mbox holds no readable messages")
    return docs


# --- LaMP ------------------------------------------------------------------------------

def read_lamp(path: Path, data: bytes) -> list[Document]:
    """A LaMP questions file (every user's profile) or a bare profile list."""
    try:
        obj: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SkipFile(f"not valid UTF-8 JSON ({exc})"[:300]) from None
    try:
        named_questions = path.name.lower().endswith("questions.json")  # LaMP's file naming
        if named_questions or (isinstance(obj, list) and obj and isinstance(obj[0], dict)
                               and "profile" in obj[0]):
            questions = parse_questions(path, obj)
            task = infer_task(questions)
            items: Iterable[Any] = (item for q in questions for item in q.profile)
        elif isinstance(obj, list) and obj and all(isinstance(i, dict) and "id" in i for i in obj):
            task = _infer_profile_task(obj)
            items = obj
        else:
            raise SkipFile("JSON file is not a LaMP questions file or profile list")
        docs: dict[str, Document] = {}
        for i, item in enumerate(items):
            if i % 1000 == 0:
                checkpoint()
            doc = profile_item_document(item, task, str(path))
            if doc.text.strip() or doc.title.strip():
                docs.setdefault(doc.doc_id, doc)  # a profile item is shared by many questions
    except InkwellError as exc:
        raise SkipFile(f"invalid LaMP file: {exc}"[:300]) from None
    if not docs:
        raise SkipFile("LaMP file holds no profile items with text")
    return list(docs.values())


def _infer_profile_task(items: list[dict[str, Any]]) -> Any:
    keys = set().union(*(i.keys() for i in items))
    for name, needed in (("LaMP-2", {"description", "tag"}), ("LaMP-2N", {"text", "category"}),
                         ("LaMP-3", {"text", "score"}), ("proposal_title", {"abstract", "title"}),
                         ("commit_subject", {"text", "title"})):
        if needed <= keys:
            return task_by_name(name)
    if "text" in keys:
        return task_by_name("LaMP-7")
    raise SkipFile("JSON profile list has no text fields LaMP defines")


READERS: dict[str, Reader] = {
    ".txt": read_text, ".text": read_text, ".md": read_text, ".markdown": read_text,
    ".rst": read_text, ".html": read_html, ".htm": read_html, ".pdf": read_pdf,
    ".docx": read_docx, ".eml": read_eml, ".mbox": read_mbox, ".json": read_lamp,
}


def reader_for(path: Path) -> Reader | None:
    return READERS.get(path.suffix.lower())


def read_document_file(
    path: Path, max_bytes: int = MAX_FILE_BYTES, *, time_limit_s: float = READ_TIME_LIMIT_S,
    check_cancelled: Callable[[], None] | None = None,
) -> tuple[bytes, list[Document]]:
    """Read ``path`` once and parse it; returns the raw bytes (for hashing) and the documents.

    Raises ``SkipFile`` for every kind of unusable file (also one that takes longer
    than ``time_limit_s``), ``FileNotFoundError`` when the file vanished after the scan
    saw it, and whatever ``check_cancelled`` raises between the parts of a file.
    """
    reader = reader_for(path)
    if reader is None:
        raise SkipFile(f"unsupported file type {path.suffix or '(no extension)'}")
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise SkipFile("is a folder, not a file") from None
    except PermissionError:
        raise SkipFile("unreadable: permission denied") from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise SkipFile("symlink loop (too many levels of symbolic links)") from None
        raise SkipFile(f"unreadable ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise SkipFile(f"over the size cap ({max_bytes // (1024 * 1024)} MB)")
    if not data:
        raise SkipFile("empty file (0 bytes)")
    try:
        with _budget(time_limit_s, check_cancelled):
            return data, reader(path, data)
    except RecursionError:
        raise SkipFile("too deeply nested to read") from None
    except MemoryError:
        raise SkipFile("too large to read in memory") from None
