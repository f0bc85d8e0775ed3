"""The decoding rules on a tiny vocabulary whose tokens carry their own blanks, as BPE's do.

The rule is tested here, not a model; ``tests/test_write_answers.py`` runs the rules inside
llama.cpp on the bundled models.
"""

from __future__ import annotations

import numpy as np

from core.answers import repeats_ngram
from core.decoding import NoCopiedOpening, NoRepeatWords

WORDS = ["update", "BM25", "index:", "index", "Type-Sensitive", "PEP", "602", "and", "605",
         "Subject:", "The", "is", "now", "rebuilt", "C++", "C#", "Java"]
VOCAB = ["<prompt>", "/", *WORDS, *(" " + w for w in WORDS)]
IDS = {w: i for i, w in enumerate(VOCAB)}


def _detokenize(tokens) -> str:
    return "".join(VOCAB[t] for t in tokens)


def _first_token(text: str) -> int | None:
    return IDS.get(text)


def _banned(rule, answer: str) -> set[str]:
    """The tokens ``rule`` forbids after ``answer`` (written as tokens of VOCAB)."""
    rule(np.array([0], dtype=np.intc), np.zeros(len(VOCAB), dtype=np.single))  # the prompt
    tokens = [0]
    for i, part in enumerate(answer.replace("/", " / ").split()):
        after_slash = tokens[-1] == IDS["/"]
        tokens.append(IDS[part if part == "/" or i == 0 or after_slash else " " + part])
    scores = rule(np.array(tokens, dtype=np.intc), np.zeros(len(VOCAB), dtype=np.single))
    return {VOCAB[i] for i in np.flatnonzero(np.isneginf(scores))}


def test_no_repeated_word_trigram_and_no_doubled_word() -> None:
    def rule() -> NoRepeatWords:
        return NoRepeatWords(3, _detokenize, _first_token)

    assert _banned(rule(), "update BM25 index: update BM25") == {" index:", " BM25"}
    assert _banned(rule(), "Type-Sensitive") == {" Type-Sensitive"}
    # Numbers that share their first words are not a loop: only the last word is banned.
    assert _banned(rule(), "PEP 602 and PEP") == {" PEP"}
    # Slash-joined words loop too; after a slash the next word has no blank before it.
    assert _banned(rule(), "C++/C#/Java/C#/Java/") == {"C#", "Java"}
    assert repeats_ngram("Go/Java/Rust/Java/Rust/Java") and not repeats_ngram("Go/Java/Rust")


def test_no_copy_of_the_inputs_opening_past_three_words() -> None:
    source = "The BM25 index is now rebuilt"

    def rule() -> NoCopiedOpening:
        return NoCopiedOpening(source, 3, _detokenize, _first_token)

    assert _banned(rule(), "The BM25") == set()
    assert _banned(rule(), "The BM25 index") == {" is"}
    assert _banned(rule(), "The BM25 index is") == {" now"}
    # After a label the pipeline removes, the copy is still a copy.
    assert _banned(rule(), "Subject: The BM25 index") == {" is"}
    assert _banned(rule(), "Subject: The BM25 rebuilt") == set()
