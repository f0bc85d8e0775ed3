"""The decoding rules on a tiny vocabulary whose tokens carry their own blanks, as BPE's do.

The rules are tested here, not a model; ``tests/test_write_answers.py`` runs them inside
llama.cpp on the bundled models.
"""

from __future__ import annotations

import numpy as np

from core.answers import repeats_ngram
from core.decoding import LengthBudget, WordRules, copies_opening, loops

WORDS = ["update", "BM25", "index:", "index", "Type-Sensitive", "PEP", "602", "and", "605",
         "Subject:", "The", "is", "now", "rebuilt", "C++", "C#", "Java", "MUST", "NOT", "must"]
# Words also come in pieces: " M" + "UST" is another spelling of " MUST".
PIECES = ["M", "UST", "USTER", "Type-", "Sensitive", "60", "2", "5", ","]
VOCAB = ["<prompt>", "/", *WORDS, *(" " + w for w in WORDS), *PIECES, *(" " + p for p in PIECES)]
IDS = {w: i for i, w in enumerate(VOCAB)}


def _detokenize(tokens) -> bytes:
    return "".join(VOCAB[t] for t in tokens).encode()


def _banned(rules, answer: list[str], keep: int = len(VOCAB)) -> set[str]:
    """The tokens the rules forbid after ``answer``, given as tokens of VOCAB.

    ``keep`` defaults to the whole vocabulary so that every token is checked.
    """
    processor = WordRules(rules=rules, detokenize=_detokenize, keep=keep)
    processor(np.array([0], dtype=np.intc), np.zeros(len(VOCAB), dtype=np.single))  # the prompt
    tokens = [0, *(IDS[t] for t in answer)]
    scores = processor(np.array(tokens, dtype=np.intc), np.zeros(len(VOCAB), dtype=np.single))
    return {VOCAB[i] for i in np.flatnonzero(np.isneginf(scores))}


def test_no_repeated_word_trigram_and_no_doubled_word() -> None:
    rule = [loops(3)]
    assert _banned(rule, ["update", " BM25", " index:", " update", " BM25"]) >= {
        " index:", " index"}
    assert " Type-Sensitive" in _banned(rule, ["Type-Sensitive"])
    # Numbers that share their first words are not a loop.
    assert _banned(rule, ["PEP", " 602", " and", " PEP", " 60"]) == {" 60"}  # only "60 60"
    assert not _banned(rule, ["PEP", " 602", " and", " PEP"]) & {" 605", " 60", " 6"}
    # Slash-joined words loop too; after a slash the next word has no blank before it.
    assert {"C#", "Java"} <= _banned(rule, ["C++", "/", "C#", "/", "Java", "/", "C#", "/", "Java",
                                            "/"])
    assert repeats_ngram("Go/Java/Rust/Java/Rust/Java") and not repeats_ngram("Go/Java/Rust")
    # Inside a hyphenated word, a part may not follow itself.
    assert repeats_ngram("Encryption for Pixel-Pixel") and not repeats_ngram("Peer-to-Peer")


def test_every_spelling_of_the_repeated_word_is_banned() -> None:
    """The loop the first rule let through: ``MUST, MUST`` written as `` M`` + ``UST``."""
    rule = [loops(3)]
    after_must = _banned(rule, ["MUST", ","])
    assert {" MUST", " must"} <= after_must and " M" not in after_must  # M may start MUSTER
    after_m = _banned(rule, ["MUST", ",", " M"])
    assert "UST" in after_m and "USTER" not in after_m  # ... but may not become MUST
    assert "Sensitive" in _banned(rule, ["Type-Sensitive", " Type-"])


def test_only_the_best_candidates_are_checked() -> None:
    """Greedy decoding needs one allowed token: checking stops at the first."""
    processor = WordRules(rules=[loops(3)], detokenize=_detokenize, keep=1)
    processor(np.array([0], dtype=np.intc), np.zeros(len(VOCAB), dtype=np.single))
    scores = np.zeros(len(VOCAB), dtype=np.single)
    scores[IDS[" MUST"]], scores[IDS[" must"]], scores[IDS[" NOT"]] = 3.0, 2.0, 1.0
    out = processor(np.array([0, IDS["MUST"]], dtype=np.intc), scores)
    assert int(np.argmax(out)) == IDS[" NOT"]
    assert np.isneginf(out).sum() == 2


def test_no_copy_of_the_inputs_opening_past_three_words() -> None:
    rule = [copies_opening("The BM25 index is now rebuilt", 3)]
    assert _banned(rule, ["The", " BM25"]) == set()
    assert _banned(rule, ["The", " BM25", " index"]) == {" is"}
    assert _banned(rule, ["The", " BM25", " index", " is"]) == set()  # already broken: no ban
    # After a label the pipeline removes, the copy is still a copy.
    assert _banned(rule, ["Subject:", " The", " BM25", " index"]) == {" is"}
    assert _banned(rule, ["Subject:", " The", " BM25", " rebuilt"]) == set()


def test_ending_gets_likelier_with_each_word_past_the_budget() -> None:
    end = IDS["/"]  # stands for the end-of-turn token here
    budget = LengthBudget(words=2, end_tokens=[end], detokenize=_detokenize, per_word=1.0)
    budget(np.array([0], dtype=np.intc), np.zeros(len(VOCAB), dtype=np.single))

    def end_logit(answer: list[str]) -> float:
        tokens = np.array([0, *(IDS[t] for t in answer)], dtype=np.intc)
        scores = budget(tokens, np.zeros(len(VOCAB), dtype=np.single))
        assert np.count_nonzero(scores) <= 1  # only the end token moves
        return float(scores[end])

    assert end_logit(["The", " BM25"]) == 0.0
    assert end_logit(["The", " BM25", " index"]) == 1.0
    assert end_logit(["The", " BM25", " index", " is"]) == 2.0
