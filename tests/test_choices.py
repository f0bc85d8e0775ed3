"""Kept choices: in the library, trained on by the next adapter, forgotten like any document."""

from __future__ import annotations

from core.adapters.data import examples_from_documents
from core.choices import choices_root, keep_choice, kept_choices
from core.forget import forget
from core.lamp import TASKS
from core.library import Library

BODY = ("The parser now reports the line of a syntax error instead of the offset, so editors "
        "can jump to it.")


def test_a_kept_choice_is_a_training_pair_until_forgotten(profile) -> None:
    library = Library(profile)
    try:
        assert kept_choices(library) == 0
        keep_choice(library, "commit_subject", BODY, "Report syntax errors by line")
        keep_choice(library, "commit_subject", BODY, "Report syntax errors by line")  # once
        keep_choice(library, "title", "A walk along the harbour at dawn.", "Harbour at dawn")
        assert kept_choices(library) == 2

        pairs = {e.target: e for e in examples_from_documents(library.documents())}
        commit = pairs["Report syntax errors by line"]
        assert commit.content == BODY
        assert commit.prefix.strip() == TASKS["commit_subject"].input_prefix.strip()
        assert pairs["Harbour at dawn"].content == "A walk along the harbour at dawn."
        assert len(pairs) == 2, "a kept choice gives its pair only"
        # RAG finds it as an example of the user's style.
        hit = library.search("syntax error line editors", k=1)[0]
        assert hit.title == "Report syntax errors by line"

        reports, _stale = forget(library, [choices_root(library)])
        assert sum(len(r.doc_ids) for r in reports) == 2
        assert kept_choices(library) == 0 and not list(library.documents())
    finally:
        library.close()
