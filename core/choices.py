"""The answers a user keeps teach their adapter.

When the user picks (and perhaps edits) a suggested title or subject and
copies it, the pair (their input -> the answer they kept) is stored as a
document of their library.  So it is local, listed and forgotten like any
document (``inkwell library forget <profile>/kept-choices``, the Library and
Privacy panels), retrieved as an example of their style by RAG, and turned
into a training pair for the task by the next "Train my adapter"
(``core.adapters.data.examples_from_documents``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.documents import Document, content_hash
from core.library import Library

KIND = "choice"
FOLDER = "kept-choices"  # below the profile's folder: the origin of every kept choice


def choices_root(library: Library) -> Path:
    """Where kept choices are filed in the library (no file is written there)."""
    return library.profile.root / FOLDER


def keep_choice(library: Library, task: str, request: str, answer: str) -> Document:
    """Store one kept answer (the same task, input and answer are stored once)."""
    digest = content_hash(task, request.strip(), answer.strip())
    doc = Document(
        doc_id=f"choice:{digest[:16]}",
        source=f"{choices_root(library)}#{digest[:16]}",
        title=answer.strip(),
        date=dt.date.today().isoformat(),
        text=request.strip(),
        kind=KIND,
        content_hash=digest,
        fields={"task": task, "title": answer.strip()},
    )
    library.index_documents([doc])
    return doc


def kept_choices(library: Library) -> int:
    """How many kept choices the library holds (all of them go into the next training)."""
    return len(library.manifest.origins_matching(str(choices_root(library))))
