"""Chunking fits the embedder's window; the ONNX embedder equals sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from core.library.chunking import MAX_TOKENS, Chunker
from core.library.embedder import DIMENSION, load_tokenizer, model_dir, shared_embedder
from core.paths import Home


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    return Chunker(load_tokenizer())


def _tokens(chunker: Chunker, text: str) -> int:
    return len(chunker.tokenizer.encode(text, add_special_tokens=False).ids)


def test_short_item_stays_whole(chunker: Chunker) -> None:
    assert chunker.split("Fix the race in the scheduler\n\nIt waited on the wrong lock.") == [
        "Fix the race in the scheduler\n\nIt waited on the wrong lock."]
    assert chunker.split("  \n\n ") == []


def test_paragraphs_are_packed_under_the_budget_with_overlap(chunker: Chunker) -> None:
    paragraphs = [f"Paragraph {i} talks about topic {i} " + "and more words " * 20
                  for i in range(30)]
    paragraphs.insert(10, "Short bridge line.")
    chunks = chunker.split("\n\n".join(paragraphs))
    assert len(chunks) > 3
    assert all(_tokens(chunker, c) <= MAX_TOKENS + 4 for c in chunks)
    joined = "\n\n".join(chunks)
    assert all(p.strip() in joined for p in paragraphs)  # nothing lost
    # The short paragraph that ended a chunk opens the next one (overlap across a cut).
    holders = [i for i, c in enumerate(chunks) if "Short bridge line." in c]
    assert len(holders) in (1, 2)


def test_one_huge_paragraph_is_cut_into_overlapping_windows(chunker: Chunker) -> None:
    words = [f"w{i}" for i in range(3000)]
    chunks = chunker.split(" ".join(words))
    assert len(chunks) > 5
    assert all(_tokens(chunker, c) <= MAX_TOKENS for c in chunks)
    covered = set(" ".join(chunks).split())
    assert covered == set(words)
    assert chunks[0].split()[-1] in chunks[1]  # windows overlap


def test_onnx_vectors_equal_sentence_transformers(home: Home) -> None:
    """Same vectors as the reference implementation: alone, and for mixed lengths (short,
    long, over the 256-token window) batched together."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir()), device="cpu")
    texts = [("word " * (i * 13 % 300)) + f"sentence number {i} about gardens and code"
             for i in range(37)]
    texts[0] = "A short one."
    embedder = shared_embedder(home.cache_dir)
    for batch in (texts[:1], texts):
        ours = embedder.embed(batch)
        expected = reference.encode(batch, normalize_embeddings=True, convert_to_numpy=True)
        assert ours.shape == (len(batch), DIMENSION) and ours.dtype == np.float32
        cosine = np.sum(ours * expected, axis=1)
        assert cosine.min() > 0.9999, cosine
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
