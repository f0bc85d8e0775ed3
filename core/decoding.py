"""Decoding rules applied to llama.cpp's logits while an answer is generated.

``NoCopiedOpening`` keeps a title or subject from being the input's opening
words: past ``max_words`` words copied from the input's start, the next input
word is banned.  Whether it helps is the data's call: see docs/RESULTS.md.

``NoRepeatWords`` keeps short answers out of loops (``update BM25 index: update
BM25 index: …``, ``Type-Sensitive Type-Sensitive …``, ``C++/C#/Java/C#/Java``):
a word n-gram of the answer may not occur twice, and no word may follow itself
(words are separated by blanks or slashes).  It works on words,
not tokens, because a token rule either misses loops of multi-token words or
forbids honest repeats inside numbers (``PEP 602 and PEP 605`` shares the
token 3-gram `` PEP``/`` 6``/``0``).  The rule bans the first token of the word
that would complete the repeat; the model then writes something else.  Why a
rule rather than a stronger repeat penalty: see docs/RESULTS.md ("Answers").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from core.answers import raw_words, words

COPIED_WORDS = 3  # NoCopiedOpening: how many of the input's opening words an answer may repeat


class NoRepeatWords:
    """A llama-cpp-python logits processor; one instance per generation."""

    def __init__(
        self,
        n: int,
        detokenize: Callable[[Sequence[int]], str],
        first_token: Callable[[str], int | None],
    ) -> None:
        self.n = n
        self._detokenize = detokenize
        self._first_token = first_token
        self._start: int | None = None  # where the answer starts in the context

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        if self._start is None:
            self._start = len(input_ids)  # first call: nothing generated yet
        answer = self._detokenize(input_ids[self._start :].tolist())
        raw = [w for w in raw_words(answer) if w]
        if not raw:
            return scores
        norm = words(answer)
        if len(norm) != len(raw):  # a word of punctuation only: compare the raw words instead
            norm = [w.casefold() for w in raw]
        # The next word starts right after a slash, or after a blank.
        lead = "" if answer.endswith("/") else " "
        banned = {raw[-1]}
        context = norm[len(norm) - (self.n - 1) :]
        if len(context) == self.n - 1:
            for i in range(len(norm) - self.n + 1):
                if norm[i : i + self.n - 1] == context:
                    banned.add(raw[i + self.n - 1])
        for word in banned:
            token = self._first_token(lead + word)
            if token is not None:
                scores[token] = -np.inf
        return scores


class NoCopiedOpening:
    """A llama-cpp-python logits processor; one instance per generation."""

    def __init__(
        self,
        source: str,
        max_words: int,
        detokenize: Callable[[Sequence[int]], str],
        first_token: Callable[[str], int | None],
    ) -> None:
        self._raw = source.split()
        self._norm = [w.casefold() for w in self._raw]
        self.max_words = max_words
        self._detokenize = detokenize
        self._first_token = first_token
        self._start: int | None = None

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        if self._start is None:
            self._start = len(input_ids)
        answer = self._detokenize(input_ids[self._start :].tolist()).casefold().split()
        # The copy may follow a label the answer pipeline removes ("Subject: The BM25 …").
        for copied in range(min(len(answer), len(self._norm) - 1), self.max_words - 1, -1):
            if answer[-copied:] == self._norm[:copied]:
                token = self._first_token(" " + self._raw[copied])
                if token is not None:
                    scores[token] = -np.inf
                break
        return scores
