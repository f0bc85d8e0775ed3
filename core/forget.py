"""Forgetting a document everywhere it went: the library and the adapters trained on it.

Both the CLI's ``inkwell library forget`` and the desktop's Forget call this,
so "forgotten" cannot mean one thing in one place and another elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from core.adapters.store import AdapterStore
from core.library import ForgetReport, Library


def forget(
    library: Library, paths: Iterable[str | os.PathLike[str]]
) -> tuple[list[ForgetReport], list[str]]:
    """Remove the documents under ``paths``; return the reports and the adapters now stale."""
    reports = [library.forget(path) for path in paths]
    doc_ids = [d for r in reports for d in r.doc_ids]
    stale = list(AdapterStore(library.profile).mark_stale(doc_ids)) if doc_ids else []
    return reports, stale
