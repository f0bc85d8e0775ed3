"""Tombstones: the ids of documents the user forgot, for work that read them earlier.

A training, the advice's evaluation or any other long job reads the user's
documents when it starts.  If the user forgets one of them meanwhile, what the job
produces must not come back as if nothing happened: a training stops (its working
files hold the text), an adapter published anyway is stale, the advice's results
are discarded.  So ``core.forget.forget`` records the forgotten documents' ids —
ids only, never text — in the library's manifest (``Manifest.bury``), and adding
the same document again removes its tombstone.

This module only reads them, without importing the library (Chroma, the readers):
the training worker and the adapter store check them at every step and publish.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from core.paths import ProfilePaths

_BATCH = 500  # SQLite's limit on parameters of one statement is 999 on older builds


def forgotten_among(profile: ProfilePaths, doc_ids: Iterable[str]) -> set[str]:
    """Which of ``doc_ids`` the user forgot (and has not added again)."""
    wanted = list(dict.fromkeys(doc_ids))
    path = profile.manifest_file
    if not wanted or not path.exists():
        return set()
    # Read-only: checking never creates a manifest, nor takes the library's write lock.
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30.0)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name='forgotten'").fetchone() is None:
            return set()  # a manifest not opened since tombstones were introduced
        found: set[str] = set()
        for start in range(0, len(wanted), _BATCH):
            part = wanted[start:start + _BATCH]
            found.update(r[0] for r in db.execute(
                f"SELECT doc_id FROM forgotten WHERE doc_id IN ({','.join('?' * len(part))})",
                part))
        return found
    finally:
        db.close()
