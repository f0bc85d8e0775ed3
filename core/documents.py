"""The unit of the user's writing that every part of Inkwell shares.

Readers (``core.library``) turn files, e-mails, commits and LaMP profile items
into ``Document`` objects; the library indexes them, the adapter trainer turns
them into training pairs, the evaluation holds the newest ones out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    doc_id: str  # stable id: derived from the source and, for files, the content
    source: str  # file path, "<repo>@<commit>", or "<lamp file>#<item id>"
    title: str  # heading / subject / PDF title / first line
    date: str | None  # ISO date (YYYY-MM-DD) when known
    text: str  # the body: what is chunked, embedded and learned from
    kind: str  # "text", "markdown", "html", "pdf", "docx", "email", "commit", "lamp", "choice"
    content_hash: str = ""
    # Task fields of structured items (a LaMP profile item's abstract/title/text...).
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_natural_title(self) -> bool:
        """Whether ``title`` is a real target (a subject or heading), not a derived first line."""
        return self.kind in {"email", "commit", "lamp"} or bool(self.fields.get("title"))


def content_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()
