"""Forgetting a document everywhere it went: the library, the adapters trained on it, the advice.

Both the CLI's ``inkwell library forget`` and the desktop's Forget call this,
so "forgotten" cannot mean one thing in one place and another elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from core.adapters.store import AdapterStore
from core.library import ForgetReport, Library


def forget(
    library: Library, paths: Iterable[str | os.PathLike[str]]
) -> tuple[list[ForgetReport], list[str]]:
    """Remove the documents under ``paths``; return the reports and the adapters now stale.

    Besides the library's stores this removes, when a document was forgotten:
    unfinished training jobs on it (``AdapterStore.mark_stale``), and the cached
    evaluation behind ``inkwell advise`` (``profile.advice_dir``), which holds the
    user's held-out documents' titles, the answers written from their text, and
    adapters trained on the older ones.  The advice itself (``advice.json``: scores
    and the recommendation, no text) stays until the user asks again.

    Work already running on the documents loses the race whatever its timing: the
    ids are recorded as tombstones (:mod:`core.tombstones`) *before* adapters are
    marked, so a training stops at its next step, an adapter published meanwhile is
    stale, and the advice discards what it measured.
    """
    reports = [library.forget(path) for path in paths]
    doc_ids = [d for r in reports for d in r.doc_ids]
    if not doc_ids:
        return reports, []
    library.manifest.bury(doc_ids)
    stale = list(AdapterStore(library.profile).mark_stale(doc_ids))
    if library.profile.advice_dir.exists():
        shutil.rmtree(library.profile.advice_dir)  # a failure must be seen, not ignored
    return reports, stale
