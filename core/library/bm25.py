"""Lexical retrieval: BM25 over every chunk's title and text, updated in place by indexing.

Scores are computed at query time from raw term counts (Lucene's BM25, as
bm25s and Elasticsearch score: k1 = 1.5, b = 0.75, idf = ln(1 + (N - df + 0.5) /
(df + 0.5))), so a change to the library changes counts only: the index is a
few immutable *segments* — each a sparse chunk x term count matrix in
compressed-column form — plus a mask of the chunks still live.  Indexing
appends a segment for the chunks it wrote and masks the ones it replaced or
removed (``advance``); small segments are merged when there are many, and a
segment is rewritten without its masked rows when they are a quarter of it.  bm25s, which
precomputes every score with the corpus statistics baked in, had to rebuild
everything after any change (9.6 s at 100,000 chunks, on the first search).

Derived from the manifest's chunk texts and kept current by generation: see
``core.library.derived``; a forget still deletes the whole index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer

from core.library.derived import DerivedIndex, Snapshot

_WORD = re.compile(r"\w+", re.UNICODE)
K1, B = 1.5, 0.75
SEGMENT_ROWS = 100_000  # chunks per segment of a full build
SMALL_ROWS = 10_000  # a segment this small is merged with the others ...
MAX_SMALL = 8  # ... when there are more of them than this (a query visits every segment)
MAX_DEAD = 0.25  # a segment with a larger fraction of masked rows is rewritten


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


_STEMMER = Stemmer.Stemmer("english")


def tokenize(text: str, stopwords: frozenset[str]) -> list[str]:
    """Lower-cased, stop words out, stemmed: "staking tomatoes" matches "stake tomato"."""
    return list(_STEMMER.stemWords([w for w in _WORD.findall(text.lower()) if w not in stopwords]))


@dataclass(frozen=True)
class Segment:
    """Term counts of consecutive chunks: column ``t`` holds the chunks (rows, relative to
    the segment) containing term ``t`` in ``indices[indptr[t]:indptr[t + 1]]`` and how often
    in ``counts`` at the same places.  Terms added to the vocabulary later have no column."""

    rows: int
    indptr: np.ndarray  # int64, one more than the vocabulary had when the segment was built
    indices: np.ndarray  # int32
    counts: np.ndarray  # float32

    @classmethod
    def from_occurrences(cls, rows: int, terms: int, row: np.ndarray,
                         term: np.ndarray) -> Segment:
        """From one (row, term) pair per occurrence of a term in a chunk."""
        key, counts = np.unique(term * max(rows, 1) + row, return_counts=True)
        return cls._from_sorted(rows, terms, key, counts)

    @classmethod
    def from_entries(cls, rows: int, terms: int, row: np.ndarray, term: np.ndarray,
                     count: np.ndarray) -> Segment:
        """From distinct (row, term) pairs and their counts."""
        key = term * max(rows, 1) + row
        order = np.argsort(key, kind="stable")
        return cls._from_sorted(rows, terms, key[order], count[order])

    @classmethod
    def _from_sorted(cls, rows: int, terms: int, key: np.ndarray, count: np.ndarray) -> Segment:
        cols = key // max(rows, 1)
        return cls(rows, np.searchsorted(cols, np.arange(terms + 1)).astype(np.int64),
                   (key % max(rows, 1)).astype(np.int32), count.astype(np.float32))

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, term, count) of every non-zero entry."""
        terms = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))
        return self.indices, terms, self.counts


@dataclass(frozen=True)
class Lexicon:
    """The whole index as one search sees it (rows in the snapshot's id order)."""

    vocab: dict[str, int]
    segments: tuple[Segment, ...]
    lengths: np.ndarray  # tokens per chunk, float32
    live: np.ndarray  # bool per chunk: False once replaced or removed

    @property
    def average_length(self) -> float:
        live = int(self.live.sum())
        return float(self.lengths[self.live].sum()) / live if live else 0.0


class LexicalIndex(DerivedIndex[Iterable[tuple[str, str]], Lexicon]):
    """BM25 over (chunk id, title and text) pairs."""

    def __init__(self, folder: Path, current_generation: Callable[[], int]) -> None:
        self._stopwords = _stopwords()
        super().__init__(folder, current_generation)

    def _empty(self) -> Lexicon:
        return Lexicon({}, (), np.zeros(0, np.float32), np.zeros(0, bool))

    def _build(self, source: Iterable[tuple[str, str]]) -> tuple[list[str], Lexicon]:
        ids: list[str] = []
        lexicon = self._empty()
        batch: list[tuple[str, str]] = []
        for pair in source:  # a segment per SEGMENT_ROWS chunks bounds the memory a build takes
            batch.append(pair)
            if len(batch) == SEGMENT_ROWS:
                lexicon, batch = self._append(lexicon, ids, batch), []
        return ids, self._append(lexicon, ids, batch)

    def _append(self, lexicon: Lexicon, ids: list[str],
                chunks: Sequence[tuple[str, str]]) -> Lexicon:
        """``lexicon`` with a segment for ``chunks`` (whose ids are appended to ``ids``)."""
        if not chunks:
            return lexicon
        vocab = dict(lexicon.vocab)
        terms = [np.asarray([vocab.setdefault(t, len(vocab))
                             for t in tokenize(text, self._stopwords)], dtype=np.int64)
                 for _, text in chunks]
        lengths = np.asarray([len(t) for t in terms], dtype=np.int64)
        ids += [cid for cid, _ in chunks]
        segment = Segment.from_occurrences(len(chunks), len(vocab),
                                           np.repeat(np.arange(len(chunks)), lengths),
                                           np.concatenate(terms))
        return Lexicon(vocab, (*lexicon.segments, segment),
                       np.concatenate([lexicon.lengths, lengths.astype(np.float32)]),
                       np.concatenate([lexicon.live, np.ones(len(chunks), bool)]))

    def change(self, added: Sequence[tuple[str, str]],
               removed: Iterable[str]) -> Callable[[Snapshot[Lexicon]], tuple[list[str], Lexicon]]:
        """What indexing did, for :meth:`advance`: (chunk id, title and text) pairs written
        (new or replacing a chunk of the same id), and chunk ids removed."""
        return lambda snapshot: self._apply(snapshot, added, removed)

    def _apply(self, snapshot: Snapshot[Lexicon], added: Sequence[tuple[str, str]],
               removed: Iterable[str]) -> tuple[list[str], Lexicon]:
        ids = list(snapshot.ids)
        gone = set(removed) | {cid for cid, _ in added}  # a re-indexed chunk keeps its id
        live = snapshot.data.live.copy()
        live[[i for i, cid in enumerate(ids) if cid in gone]] = False
        lexicon = self._append(Lexicon(snapshot.data.vocab, snapshot.data.segments,
                                       snapshot.data.lengths, live), ids, added)
        return self._merged(ids, lexicon)

    def _merged(self, ids: list[str], lexicon: Lexicon) -> tuple[list[str], Lexicon]:
        """Rewrite, as one segment of their live rows, every segment a quarter masked, and the
        small segments when there are many; the others stay as they are (their files too)."""
        segments = lexicon.segments
        starts = np.cumsum([0, *(s.rows for s in segments)])
        group = [i for i, s in enumerate(segments)
                 if s.rows and not lexicon.live[starts[i]:starts[i + 1]].mean() >= 1 - MAX_DEAD]
        small = [i for i, s in enumerate(segments) if s.rows < SMALL_ROWS]
        if len(small) > MAX_SMALL:
            group = sorted({*group, *small})
        if not group:
            return ids, lexicon
        rows, terms, counts = [], [], []
        base = 0
        for i in group:
            live = lexicon.live[starts[i]:starts[i + 1]]
            renumber = np.cumsum(live) - 1 + base
            row, term, count = segments[i].triples()
            alive = live[row]
            rows.append(renumber[row[alive]])
            terms.append(term[alive])
            counts.append(count[alive])
            base += int(live.sum())
        kept = [i for i in range(len(segments)) if i not in group]
        order = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in kept]
                               + [np.flatnonzero(lexicon.live[starts[i]:starts[i + 1]])
                                  + starts[i] for i in group]).astype(np.int64)
        merged = Segment.from_entries(base, len(lexicon.vocab), np.concatenate(rows),
                                      np.concatenate(terms), np.concatenate(counts))
        return [ids[j] for j in order], Lexicon(
            lexicon.vocab, (*(segments[i] for i in kept), *([merged] if base else [])),
            lexicon.lengths[order], lexicon.live[order])

    def _write(self, folder: Path, data: Lexicon) -> None:
        (folder / "vocab.json").write_text(json.dumps(list(data.vocab)), encoding="utf-8")
        np.save(folder / "lengths.npy", data.lengths)
        np.save(folder / "live.npy", data.live)
        for i, s in enumerate(data.segments):
            np.savez(folder / f"segment-{i}.npz", rows=np.int64(s.rows), indptr=s.indptr,
                     indices=s.indices, counts=s.counts)

    def _read(self, folder: Path, ids: list[str]) -> Lexicon:
        vocab = {t: i for i, t in enumerate(json.loads((folder / "vocab.json").read_text(
            encoding="utf-8")))}
        segments = []
        for i in range(len(list(folder.glob("segment-*.npz")))):
            with np.load(folder / f"segment-{i}.npz", allow_pickle=False) as z:
                segments.append(Segment(int(z["rows"]), z["indptr"], z["indices"], z["counts"]))
        lexicon = Lexicon(vocab, tuple(segments), np.load(folder / "lengths.npy"),
                          np.load(folder / "live.npy"))
        if not len(ids) == len(lexicon.lengths) == len(lexicon.live) == sum(
                s.rows for s in segments):
            raise ValueError(f"{folder}: the saved index does not match its {len(ids)} ids")
        return lexicon

    def search(self, index: Snapshot[Lexicon], query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only chunks sharing a word with the query."""
        lexicon, ids = index.data, index.ids
        terms = [lexicon.vocab[t] for t in tokenize(query, self._stopwords)
                 if t in lexicon.vocab]
        n_live = int(lexicon.live.sum())
        if not terms or not n_live or k < 1:
            return []
        norm = K1 * (1 - B + B * lexicon.lengths / max(lexicon.average_length, 1e-9))
        rows, weights = [], []
        for term in terms:  # a word twice in the query counts twice, as in bm25s
            found, counts, offset = [], [], 0
            for segment in lexicon.segments:
                if term + 1 < len(segment.indptr):
                    lo, hi = segment.indptr[term], segment.indptr[term + 1]
                    found.append(segment.indices[lo:hi].astype(np.int64) + offset)
                    counts.append(segment.counts[lo:hi])
                offset += segment.rows
            if not found:
                continue
            row, tf = np.concatenate(found), np.concatenate(counts)
            alive = lexicon.live[row]
            row, tf = row[alive], tf[alive]
            idf = np.log(1 + (n_live - len(row) + 0.5) / (len(row) + 0.5))
            rows.append(row)
            weights.append(idf * tf / (tf + norm[row]))
        if not rows:
            return []
        scores = np.bincount(np.concatenate(rows), np.concatenate(weights), minlength=len(ids))
        k = min(k, int(np.count_nonzero(scores)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[i], float(scores[i])) for i in top]
