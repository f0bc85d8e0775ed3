"""Paragraph chunking with a token budget that fits the embedder.

MiniLM reads at most 256 word pieces (two of them are [CLS]/[SEP]); anything
beyond is silently cut, so a chunk longer than that would be retrievable only
by its beginning.  Paragraphs are packed greedily up to the budget; a chunk
starts with the previous chunk's last paragraph when that one is short (a small
overlap keeps context across a cut); a paragraph that alone exceeds the budget
is cut into token windows that overlap.  Short items (a commit, a title, an
abstract) stay whole.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from tokenizers import Tokenizer

MAX_TOKENS = 240  # of the embedder's 254 content positions; margin for joining paragraphs
OVERLAP_TOKENS = 32
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class _Unit(NamedTuple):
    """A paragraph, or a window of an over-long one, and its size in tokens."""

    text: str
    tokens: int


class Chunker:
    def __init__(self, tokenizer: Tokenizer, max_tokens: int = MAX_TOKENS,
                 overlap_tokens: int = OVERLAP_TOKENS) -> None:
        # A private copy without truncation: counting a long paragraph with the embedder's
        # truncating tokenizer would report 256 and lose the rest of it.
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def token_counts(self, texts: list[str]) -> list[int]:
        """How many tokens each text is, counted as the embedder counts (no special tokens)."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def _windows(self, text: str) -> list[str]:
        """Cut one over-long paragraph into overlapping windows at word boundaries."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        offsets, words = encoding.offsets, encoding.word_ids
        n = len(offsets)

        def word_start(i: int, floor: int) -> int:
            """Move ``i`` back to the first word piece of its word (not below ``floor``)."""
            while i > floor and words[i] is not None and words[i] == words[i - 1]:
                i -= 1
            return i

        pieces = []
        start = 0
        while start < n:
            end = n if start + self.max_tokens >= n else word_start(start + self.max_tokens,
                                                                   start + 1)
            pieces.append(text[offsets[start][0]: offsets[end - 1][1]].strip())
            if end == n:
                break
            start = word_start(max(end - self.overlap_tokens, start + 1), start + 1)
        return [p for p in pieces if p]

    def split(self, text: str) -> list[str]:
        """The chunks of ``text``, in order; one chunk if it fits the budget."""
        paragraphs = [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text)]
        paragraphs = [p for p in paragraphs if p]
        if not paragraphs:
            return []
        units: list[_Unit] = []
        for para, count in zip(paragraphs, self.token_counts(paragraphs), strict=True):
            if count <= self.max_tokens:
                units.append(_Unit(para, count))
            else:
                windows = self._windows(para)
                units += [_Unit(window, count) for window, count
                          in zip(windows, self.token_counts(windows), strict=True)]
        chunks: list[str] = []
        current: list[_Unit] = []
        size = 0
        for unit in units:
            if current and size + unit.tokens > self.max_tokens:
                chunks.append("\n\n".join(u.text for u in current))
                tail = current[-1]
                keep_tail = (tail.tokens <= self.overlap_tokens
                             and tail.tokens + unit.tokens <= self.max_tokens)
                current, size = ([tail], tail.tokens) if keep_tail else ([], 0)
            current.append(unit)
            size += unit.tokens
        chunks.append("\n\n".join(u.text for u in current))
        return chunks
