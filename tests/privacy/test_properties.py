"""Property-based tests (hypothesis) of what reads the user's files and LaMP data.

* Readers: any bytes under any supported extension give documents or a skip
  reason (``SkipFile``), never another exception.  Inputs are random bytes and
  seeded mutations (bytes replaced, inserted, the file cut) of a valid file of
  that format, so the parsers get past their first check.
* Chunker: every chunk fits the token budget, the chunks cover the text in
  order, text within the budget stays one chunk, the result is deterministic.
* LaMP loader: generated valid files round-trip; arbitrary JSON raises
  ``InkwellError`` naming the file, never anything else.

Example counts are modest (``max_examples`` 50) so the default run stays quick.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.documents import Document
from core.errors import InkwellError
from core.lamp import TASKS, load_dataset, load_questions
from core.library.chunking import MAX_TOKENS, Chunker
from core.library.embedder import load_tokenizer
from core.library.readers import READERS, SkipFile, read_document_file
from tests.library.conftest import docx_bytes, eml_bytes, mbox_bytes, pdf_bytes

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# A valid file of each format: the starting point of the mutations.
_LAMP = json.dumps([{"id": "q1", "input": "Generate a title for the following abstract of a "
                     "paper: we study x", "profile": [{"id": "p1", "abstract": "We study y.",
                                                       "title": "On y", "date": "2020-01-01"}]}])
SEEDS: dict[str, bytes] = {
    ".txt": "Plain notes, with ümlauts and a second line.\n\nAnd a paragraph.".encode(),
    ".md": b"# Heading\n\nSome *markdown* text.\n\n- a list\n",
    ".rst": b"Title\n=====\n\nSome reStructuredText.\n",
    ".html": b"<html><head><title>T</title></head><body><h1>H</h1><p>Para</p>"
             b"<![CDATA[x]]><script>no</script></body></html>",
    ".pdf": pdf_bytes("Text inside a portable document", "A title"),
    ".docx": docx_bytes("Heading", ["First paragraph.", "Second paragraph."]),
    ".eml": eml_bytes("A subject", "The body of the message."),
    ".mbox": mbox_bytes([("One", "first body"), ("Two", "second body")]),
    ".json": _LAMP.encode(),
}
SEEDS[".text"], SEEDS[".markdown"], SEEDS[".htm"] = SEEDS[".txt"], SEEDS[".md"], SEEDS[".html"]
assert set(SEEDS) == set(READERS), "a reader without a seed file"


@st.composite
def file_bytes(draw: st.DrawFn, ext: str) -> bytes:
    """Random bytes, or a valid ``ext`` file with bytes replaced/inserted and maybe cut."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=4096))
    data = bytearray(SEEDS[ext])
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        junk = draw(st.binary(min_size=1, max_size=16))
        if draw(st.booleans()) and at < len(data):
            data[at:at + len(junk)] = junk
        else:
            data[at:at] = junk
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.parametrize("ext", sorted(READERS))
def test_readers_give_documents_or_a_reason_for_any_bytes(ext: str) -> None:
    @SETTINGS
    @given(data=file_bytes(ext))
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"input{ext}"
            path.write_bytes(data)
            try:
                _raw, docs = read_document_file(path)
            except SkipFile as exc:
                assert str(exc).strip()  # a reason the status can show
                return
            assert docs and all(isinstance(d, Document) for d in docs)
            assert all(d.text.strip() or d.title.strip() for d in docs)

    check()


# -- chunker --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chunker() -> Chunker:
    return Chunker(load_tokenizer())


_WORD = st.one_of(
    st.sampled_from(["the", "river", "stone", "don't", "e-mail", "naïve", "Grüße", "東京",
                     "x" * 120, "3.14", "(note)", "antidisestablishmentarianism", "🙂"]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12),
)
_PARAGRAPH = st.lists(_WORD, min_size=1, max_size=400).map(" ".join)
_TEXT = st.lists(_PARAGRAPH, min_size=1, max_size=6).map(lambda ps: "\n\n".join(ps))


def _flat(text: str) -> str:
    return " ".join(text.split())


@SETTINGS
@given(text=_TEXT)
def test_chunks_fit_the_budget_and_cover_the_text(chunker: Chunker, text: str) -> None:
    chunks = chunker.split(text)
    flat = _flat(text)
    if not flat:
        assert chunks == []
        return
    assert chunks and all(c.strip() for c in chunks)
    counts = chunker.token_counts(chunks)
    assert max(counts) <= MAX_TOKENS, counts
    # In order, each chunk is a stretch of the text; together they leave nothing out.
    covered = 0
    position = 0
    for chunk in chunks:
        found = flat.find(_flat(chunk), position)
        if found < 0:  # two paragraphs joined in one chunk: each part in order
            parts = [_flat(p) for p in chunk.split("\n\n")]
            found = flat.find(parts[0], position)
            assert found >= 0, (chunk[:80], position)
            end = found
            for part in parts:
                at = flat.find(part, end)
                assert at >= 0 and flat[end:at].strip() == "", (part[:80], end)
                end = at + len(part)
        else:
            end = found + len(_flat(chunk))
        _nothing_left_out(chunker, flat[covered:found])
        covered = max(covered, end)
        position = found
    _nothing_left_out(chunker, flat[covered:])


def _nothing_left_out(chunker: Chunker, gap: str) -> None:
    """Text between chunks may only be what the tokenizer itself drops (control and
    zero-width characters): nothing a search could match."""
    assert not gap.strip() or chunker.token_counts([gap]) == [0], f"text left out: {gap!r}"


@SETTINGS
@given(text=_TEXT)
def test_short_items_stay_whole_and_chunking_is_deterministic(chunker: Chunker,
                                                              text: str) -> None:
    chunks = chunker.split(text)
    assert chunks == chunker.split(text) == Chunker(load_tokenizer()).split(text)
    paragraphs = [_flat(p) for p in re.split(r"\n\s*\n", text) if _flat(p)]
    if paragraphs and sum(chunker.token_counts(paragraphs)) <= MAX_TOKENS:
        assert chunks == ["\n\n".join(paragraphs)]


# -- LaMP loader ----------------------------------------------------------------------------------

_FIELD_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@st.composite
def lamp_questions(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A valid LaMP questions file of a random task, as the official files are shaped."""
    task = TASKS[draw(st.sampled_from(sorted(TASKS)))]
    fields = sorted({task.input_field, task.output_field})
    questions = []
    for q in range(draw(st.integers(1, 4))):
        profile = [
            {"id": f"{q}-{i}", **{f: draw(_FIELD_TEXT) for f in fields},
             **({"date": draw(st.dates()).isoformat()} if draw(st.booleans()) else {})}
            for i in range(draw(st.integers(0, 4)))
        ]
        question: dict[str, Any] = {"id": f"q{q}", "input": task.input_prefix + draw(_FIELD_TEXT),
                                    "profile": profile}
        if draw(st.booleans()):
            question["user_id"] = draw(st.sampled_from(["u1", "u2"]))
        questions.append(question)
    return task.name, questions


@SETTINGS
@given(generated=lamp_questions())
def test_valid_lamp_files_round_trip(generated: tuple[str, list[dict[str, Any]]]) -> None:
    task, questions = generated
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dev_questions.json"
        path.write_text(json.dumps(questions), encoding="utf-8")
        golds = [{"id": q["id"], "output": f"gold {q['id']}"} for q in questions]
        (Path(tmp) / "dev_outputs.json").write_text(json.dumps({"task": task, "golds": golds}))
        loaded = load_questions(path)
        dataset = load_dataset(path)
    assert dataset.task.name == task
    assert [(q.id, q.input, q.user_id) for q in loaded] == [
        (q["id"], q["input"], q.get("user_id", q["id"])) for q in questions]
    assert [list(map(dict, q.profile)) for q in loaded] == [q["profile"] for q in questions]
    assert dataset.golds == {g["id"]: g["output"] for g in golds}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _FIELD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "input", "profile", "user_id", "text", "title", "abstract",
                         "date", "task", "golds", "output", "x"]), inner, max_size=5),
    max_leaves=20,
)


@SETTINGS
@given(questions=_JSON, outputs=st.none() | _JSON)
def test_arbitrary_json_is_an_error_naming_the_file(questions: Any, outputs: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "questions.json"
        path.write_text(json.dumps(questions), encoding="utf-8")
        out = Path(tmp) / "outputs.json"
        if outputs is not None:
            out.write_text(json.dumps(outputs), encoding="utf-8")
        try:
            load_dataset(path)
        except InkwellError as exc:
            assert str(path) in str(exc) or str(out) in str(exc), str(exc)
        try:
            read_document_file(path)
        except SkipFile as exc:
            assert str(exc).strip()
