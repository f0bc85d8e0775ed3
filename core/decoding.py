"""Decoding rules applied to llama.cpp's logits while an answer is generated.

A rule is a test on the answer's text: ``loops`` (a word n-gram occurs twice, or
a word follows itself: ``update BM25 index: update BM25 index: …``,
``Type-Sensitive Type-Sensitive …``, ``C++/C#/Java/C#/Java``) and
``copies_opening`` (more than a few of the input's opening words, in order: a
title that is its input's first sentence).  ``WordRules`` bans every candidate
token whose text would make a rule true.

It checks candidates' text rather than banning one token per word, because a
word has many spellings in tokens (`` MUST`` or `` M`` + ``UST``, ``must``
after a slash); a ban on the usual one let ``MUST, MUST NOT`` through.  A word
still being written counts as a word, so the token that completes ``MUST`` is
banned whichever tokens came before it.  It works on words, not tokens,
because a token rule forbids honest repeats inside numbers (``PEP 602 and PEP
605`` shares the token 3-gram `` PEP``/`` 6``/``0``).  Only the best-scored
candidates are checked — as many as the sampler can pick from — so a step
costs a few dozen string checks, not one per vocabulary entry.  Why a rule
rather than a stronger repeat penalty, and why the copy rule stays off: see
docs/RESULTS.md ("Answers").

``LengthBudget`` keeps a title or subject about as long as the user's own: past
a budget of words (the longest of the user's examples in the prompt) each
further word makes ending likelier, so the model ends at a point it already
found plausible instead of being cut at the token limit mid-phrase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from core.answers import raw_words, repeats_ngram, words

COPIED_WORDS = 3  # copies_opening: how many of the input's opening words an answer may repeat
# Checked candidates per step at most: past this many banned in a row, the rest go unchecked.
MAX_CHECKED = 256

Rule = Callable[[str], bool]


def loops(n: int) -> Rule:
    """True when a word n-gram occurs twice or a word follows itself."""
    return lambda text: repeats_ngram(text, n)


def copies_opening(source: str, max_words: int = COPIED_WORDS) -> Rule:
    """True when the text holds more than ``max_words`` of ``source``'s opening words.

    Anywhere in the text, since the copy may follow a label the answer pipeline
    removes (``Subject: The BM25 index …``).
    """
    opening = words(source)[: max_words + 1]

    def copies(text: str) -> bool:
        ws = words(text)
        n = len(opening)
        return n > max_words and any(ws[i : i + n] == opening for i in range(len(ws) - n + 1))

    return copies


class WordRules:
    """A llama-cpp-python logits processor; one instance per generation.

    ``keep`` is how many allowed candidates the sampler may choose among (1 for
    greedy decoding, its top-k otherwise): candidates are checked best first
    until that many pass.
    """

    def __init__(
        self,
        *,
        rules: Sequence[Rule],
        detokenize: Callable[[Sequence[int]], bytes],
        keep: int,
    ) -> None:
        self.rules = list(rules)
        self.keep = keep
        self._detokenize = detokenize
        self._pieces: dict[int, bytes] = {}
        self._start: int | None = None  # where the answer starts in the context

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        if self._start is None:
            self._start = len(input_ids)  # first call: nothing generated yet
        answer = self._detokenize(input_ids[self._start :].tolist())
        # A rule the answer already breaks (every candidate was banned) cannot be kept.
        rules = [rule for rule in self.rules if not rule(answer.decode("utf-8", "ignore"))]
        allowed = 0
        for checked, token in enumerate(self._best_first(scores)):
            if allowed == self.keep or checked == MAX_CHECKED:
                break
            text = (answer + self._piece(token)).decode("utf-8", "ignore")
            if any(rule(text) for rule in rules):
                scores[token] = -np.inf
            else:
                allowed += 1
        return scores

    def _piece(self, token: int) -> bytes:
        if token not in self._pieces:
            self._pieces[token] = self._detokenize([token])
        return self._pieces[token]

    def _best_first(self, scores: npt.NDArray[np.single]) -> Iterator[int]:
        """Token ids by falling score; the head found without sorting the whole vocabulary."""
        head = min(4 * self.keep + 16, len(scores))
        top = np.argpartition(-scores, head - 1)[:head]
        top = top[np.argsort(-scores[top], kind="stable")].tolist()
        yield from top
        if head < len(scores):
            seen = set(top)
            yield from (t for t in np.argsort(-scores, kind="stable").tolist() if t not in seen)


class LengthBudget:
    """A llama-cpp-python logits processor; one instance per generation.

    ``end_tokens`` are the tokens that end an answer (end of turn, a newline for
    one-line answers); each word past ``words`` adds ``per_word`` to their logits.
    """

    def __init__(
        self,
        *,
        words: int,
        end_tokens: Sequence[int],
        detokenize: Callable[[Sequence[int]], bytes],
        per_word: float,
    ) -> None:
        self.words = words
        self.per_word = per_word
        self._end = list(end_tokens)
        self._detokenize = detokenize
        self._start: int | None = None

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        if self._start is None:
            self._start = len(input_ids)
        answer = self._detokenize(input_ids[self._start :].tolist()).decode("utf-8", "ignore")
        over = len(raw_words(answer)) - self.words
        if over > 0:
            scores[self._end] += self.per_word * over
        return scores
