"""Which retrieved items the writer puts into a prompt (a real library; the model is a fake)."""

from __future__ import annotations

from core.documents import Document
from core.writer import Method, Writer, WriteRequest
from tests.fakes import FakeModel

HARBOUR = " ".join(["The harbour breakwater at dawn: gulls, ferries and diesel on the quay."] * 40
                   + ["Ferries leave the harbour past the breakwater every hour."] * 40)


def _doc(doc_id: str, title: str, text: str) -> Document:
    return Document(doc_id=doc_id, source=f"{doc_id}.md", title=title, text=text,
                    kind="markdown", date="2024-05-01")


def test_a_long_item_matched_by_several_chunks_is_one_example(profile, smollm2) -> None:
    from core.library import Library

    library = Library(profile)
    try:
        library.index_documents([
            _doc("long", "The Harbour Log", HARBOUR),
            _doc("gulls", "Counting Gulls", "I count the gulls on the harbour breakwater."),
            _doc("tomatoes", "Split Tomatoes", "The tomatoes split after the storm."),
        ])
        chunks = library.search("harbour breakwater ferries", k=2, retriever="bm25")
        assert [h.doc_id for h in chunks] == ["long", "long"], "the case this test is about"
        writer = Writer(profile.home, profile, smollm2, library=library, runtime=FakeModel())
        prepared = writer.prepare(
            WriteRequest("Ferries and gulls by the harbour breakwater", "title", Method.RAG, k=2))
        assert [e.doc_id for e in prepared.sources] == ["long", "gulls"]
    finally:
        library.close()
