"""The answer pipeline's rules, on raw outputs the bundled models really produced."""

from __future__ import annotations

import pytest

from core.answers import AnswerStream, clean_answer, copied_prefix, repeats_ngram
from core.prompts import spec_for

ONE_LINE = [
    # (task, raw model output, the answer)
    ("commit_subject", "Subject: Update: fix the parser\nSecond line", "Update: fix the parser"),
    ("commit_subject", " Subject line: Add a BM25 index\n", "Add a BM25 index"),
    ("commit_subject", "Commit message body: rebuild the index\nmore", "rebuild the index"),
    ("commit_subject", "\n\nFix typo in docs\n", "Fix typo in docs"),
    ("commit_subject", "Subject:\nThe subject on the next line\n", "The subject on the next line"),
    ("commit_subject", "Subject lines are hard", "Subject lines are hard"),
    ("email_subject", "**Subject:** Lunch on Friday", "Lunch on Friday"),
    ("email_subject", '"Lunch on Friday"', "Lunch on Friday"),
    ("title", "## Title: A walk by the sea", "A walk by the sea"),
    ("title", '"Foo" considered harmful', '"Foo" considered harmful'),
    ("title", '"An opening quote never closed', "An opening quote never closed"),
    ("title", "`inkwell serve` on loopback", "`inkwell serve` on loopback"),
    ("headline", "Headline: “Harbour walk reopens”", "Harbour walk reopens"),
    ("proposal_title", "Title: Abstract: Pattern matching", "Pattern matching"),
    ("commit_subject", "Subject:", ""),
    # Real SmolLM2 outputs on the dev data: a preamble, and a subject that runs on.
    ("commit_subject", "The subject line of the commit message is: Tried to write a test",
     "Tried to write a test"),
    ("commit_subject", "Fix pkgconfig. This means the version is now X.Y.Z. Make the check",
     "Fix pkgconfig"),
    ("commit_subject", "rt(threaded): per-resource tick", "rt(threaded): per-resource tick"),
    ("commit_subject", "Fix the subject parser: handle UTF-8",
     "Fix the subject parser: handle UTF-8"),
    ("title", "Here is a title for the text: Harbour at dawn.", "Harbour at dawn"),
    ("title", "Release 1.2.3 is out", "Release 1.2.3 is out"),
    ("title", "Why? Because it rains", "Why?"),
]


@pytest.mark.parametrize(("task", "raw", "answer"), ONE_LINE)
def test_one_line_answers_are_cleaned(task: str, raw: str, answer: str) -> None:
    assert clean_answer(spec_for(task), raw) == answer


def test_drafts_keep_their_lines_and_lose_an_echoed_label() -> None:
    spec = spec_for("free")
    assert clean_answer(spec, "Draft: Dear team,\n\nthank you.\n") == "Dear team,\n\nthank you."
    assert clean_answer(spec, "Drafting is hard.") == "Drafting is hard."


@pytest.mark.parametrize(
    ("task", "raw"),
    [(t, r) for t, r, _ in ONE_LINE]
    + [("free", "Draft: Dear team,\n\nthank you.\n"), ("rewrite", "  Rewritten text: ok  ")],
)
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_streaming_never_shows_what_the_answer_drops(task: str, raw: str, size: int) -> None:
    """Whatever the pieces, the streamed text only grows and ends as the whole answer."""
    spec = spec_for(task)
    stream, shown = AnswerStream(spec), []
    for i in range(0, len(raw), size):
        shown.append(stream.feed(raw[i : i + size]))
        assert stream.text == "".join(shown)  # feed raises if it would take text back
        if stream.complete:
            break
    shown.append(stream.finish())
    assert "".join(shown) == clean_answer(spec, raw)


def test_a_one_line_answer_is_shown_whole_when_its_line_or_sentence_ends() -> None:
    stream = AnswerStream(spec_for("title"))
    assert stream.feed("Title: A walk") == ""  # "Title: A walk. …" or "… by the sea"?
    assert not stream.complete
    assert stream.feed(" home\nand more") == "A walk home"
    assert stream.complete and stream.feed("ignored") == ""
    stream = AnswerStream(spec_for("commit_subject"))
    assert stream.feed("Fix pkgconfig. ") == ""
    assert stream.feed("This") == "Fix pkgconfig" and stream.complete


def test_loop_and_copy_measures() -> None:
    assert repeats_ngram("update BM25 index: update BM25 index: update")
    assert repeats_ngram("Type-Sensitive Type-Sensitive")
    assert not repeats_ngram("PEP 602 and PEP 605: annual releases")
    body = "The BM25 index is rebuilt when its saved copy is damaged."
    assert copied_prefix("The BM25 index is rebuilt", body)
    assert not copied_prefix("Rebuild a damaged BM25 index", body)
    assert not copied_prefix("The", body)
