"""The decoding rules on a word-per-token vocabulary (the rule is tested, not a model).

``tests/test_write_answers.py`` runs them inside llama.cpp on the bundled models.
"""

from __future__ import annotations

import numpy as np

from core.decoding import NoCopiedOpening, NoRepeatWords

VOCAB = ["<prompt>", "update", "BM25", "index:", "Type-Sensitive", "PEP", "602", "and", "605",
         "Subject:", "The", "index", "is", "now", "rebuilt"]
IDS = {w: i for i, w in enumerate(VOCAB)}


def _detokenize(tokens) -> str:
    return " ".join(VOCAB[t] for t in tokens)


def _first_token(text: str) -> int | None:
    return IDS.get(text.split()[0])


def _banned(rule, *answer: str) -> set[str]:
    rule(np.array([0], dtype=np.intc), np.zeros(len(VOCAB), dtype=np.single))  # the prompt
    ids = np.array([0, *(IDS[w] for w in answer)], dtype=np.intc)
    scores = rule(ids, np.zeros(len(VOCAB), dtype=np.single))
    return {VOCAB[i] for i in np.flatnonzero(np.isneginf(scores))}


def test_no_repeated_word_trigram_and_no_doubled_word() -> None:
    def rule() -> NoRepeatWords:
        return NoRepeatWords(3, _detokenize, _first_token)

    assert _banned(rule(), "update", "BM25", "index:", "update", "BM25") == {"index:", "BM25"}
    assert _banned(rule(), "Type-Sensitive") == {"Type-Sensitive"}
    # Numbers that share their first words are not a loop: only the last word is banned.
    assert _banned(rule(), "PEP", "602", "and", "PEP") == {"PEP"}


def test_no_copy_of_the_inputs_opening_past_three_words() -> None:
    source = "The BM25 index is now rebuilt"

    def rule() -> NoCopiedOpening:
        return NoCopiedOpening(source, 3, _detokenize, _first_token)

    assert _banned(rule(), "The", "BM25") == set()
    assert _banned(rule(), "The", "BM25", "index") == {"is"}
    assert _banned(rule(), "The", "BM25", "index", "is") == {"now"}
    # After a label the pipeline removes, the copy is still a copy.
    assert _banned(rule(), "Subject:", "The", "BM25", "index") == {"is"}
    assert _banned(rule(), "Subject:", "The", "BM25", "rebuilt") == set()
