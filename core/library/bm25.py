"""Lexical retrieval: a BM25 index (bm25s) over every chunk's title and text.

Derived from the manifest's chunk texts and kept current by generation: see
``core.library.derived``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import Stemmer

from core.library.derived import DerivedIndex

_WORD = re.compile(r"\w+", re.UNICODE)


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


_STEMMER = Stemmer.Stemmer("english")


def tokenize(text: str, stopwords: frozenset[str]) -> list[str]:
    """Lower-cased, stop words out, stemmed: "staking tomatoes" matches "stake tomato"."""
    return list(_STEMMER.stemWords([w for w in _WORD.findall(text.lower()) if w not in stopwords]))


class LexicalIndex(DerivedIndex[Iterable[tuple[str, str]]]):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self._retriever: Any = None
        self._stopwords = _stopwords()

    def _build(self, source: Iterable[tuple[str, str]]) -> list[str]:
        import bm25s

        ids: list[str] = []
        corpus: list[list[str]] = []
        for cid, text in source:
            ids.append(cid)
            corpus.append(tokenize(text, self._stopwords) or ["<empty>"])
        self._retriever = None
        if ids:
            self._retriever = bm25s.BM25()
            self._retriever.index(corpus, show_progress=False)
        return ids

    def _write(self, folder: Path) -> None:
        if self._retriever is not None:
            self._retriever.save(str(folder))

    def _read(self, folder: Path) -> None:
        import bm25s

        self._retriever = bm25s.BM25.load(str(folder)) if self._ids else None

    def _clear(self) -> None:
        self._retriever = None

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
