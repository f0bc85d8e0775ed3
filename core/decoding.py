"""Decoding rules applied to llama.cpp's logits while an answer is generated.

``NoRepeatWords`` keeps short answers out of loops (``update BM25 index: update
BM25 index: …``, ``Type-Sensitive Type-Sensitive …``): a word n-gram of the
answer may not occur twice, and no word may follow itself.  It works on words,
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

from core.answers import words


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
        raw = answer.split()
        if not raw:
            return scores
        norm = words(answer)
        if len(norm) != len(raw):  # a word of punctuation only: compare the raw words instead
            norm = [w.casefold() for w in raw]
        banned = {raw[-1]}
        context = norm[len(norm) - (self.n - 1) :]
        if len(context) == self.n - 1:
            for i in range(len(norm) - self.n + 1):
                if norm[i : i + self.n - 1] == context:
                    banned.add(raw[i + self.n - 1])
        for word in banned:
            token = self._first_token(" " + word)
            if token is not None:
                scores[token] = -np.inf
        return scores
