"""Lexical retrieval: a BM25 index (bm25s) over every chunk's title and text.

The index is derived data: it is rebuilt from the manifest whenever the
manifest's generation counter moved (any add, change or forget), saved beside
it with that generation, and loaded by later processes.  Rebuilding is lazy —
on the first lexical search after a change — so re-indexing one file stays
fast; a forget deletes the saved index at once, because its vocabulary holds
the forgotten words.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import Stemmer

from core.fsutil import ensure_private_dir

_WORD = re.compile(r"\w+", re.UNICODE)


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


_STEMMER = Stemmer.Stemmer("english")


def tokenize(text: str, stopwords: frozenset[str]) -> list[str]:
    """Lower-cased, stop words out, stemmed: "staking tomatoes" matches "stake tomato"."""
    return list(_STEMMER.stemWords([w for w in _WORD.findall(text.lower()) if w not in stopwords]))


class LexicalIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._retriever: Any = None
        self._ids: list[str] = []
        self._generation: int | None = None
        self._stopwords = _stopwords()

    def _load(self) -> None:
        import bm25s

        meta_file = self.folder / "ids.json"
        if not meta_file.is_file():
            return
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        self._ids = meta["ids"]
        self._generation = int(meta["generation"])
        self._retriever = bm25s.BM25.load(str(self.folder)) if self._ids else None

    def ensure(self, generation: int, chunks: Iterable[tuple[str, str]]) -> None:
        """Make the index current for the manifest's ``generation`` (rebuild if stale)."""
        if self._generation is None:
            self._load()
        if self._generation == generation:
            return
        self.build(generation, chunks)

    def build(self, generation: int, chunks: Iterable[tuple[str, str]]) -> None:
        import bm25s

        ids: list[str] = []
        corpus: list[list[str]] = []
        for cid, text in chunks:
            ids.append(cid)
            corpus.append(tokenize(text, self._stopwords) or ["<empty>"])
        retriever = None
        ensure_private_dir(self.folder.parent)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=self.folder.parent))
        try:
            if ids:
                retriever = bm25s.BM25()
                retriever.index(corpus, show_progress=False)
                retriever.save(str(tmp))
            (tmp / "ids.json").write_text(json.dumps({"generation": generation, "ids": ids}),
                                          encoding="utf-8")
            self.delete()
            os.replace(tmp, self.folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._retriever, self._ids, self._generation = retriever, ids, generation

    def delete(self) -> None:
        """Remove the saved index (after a forget: its vocabulary holds the forgotten words)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._retriever, self._ids, self._generation = None, [], None

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only chunks sharing a word with the query."""
        if self._retriever is None or not self._ids:
            return []
        vocab = self._retriever.vocab_dict
        tokens = [t for t in tokenize(query, self._stopwords) if t in vocab]
        if not tokens:
            return []
        docs, scores = self._retriever.retrieve([tokens], k=min(k, len(self._ids)),
                                                show_progress=False, n_threads=1)
        return [(self._ids[int(i)], float(s)) for i, s in zip(docs[0], scores[0], strict=True)
                if s > 0]
