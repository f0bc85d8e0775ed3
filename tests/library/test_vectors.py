"""Dense search: int8 codes in memory pick a shortlist, the saved float32 rows re-rank it.

Real data through the real library (MiniLM, Chroma); the exact answer is computed here
from Chroma's own vectors with numpy."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from core.documents import Document, content_hash
from core.lamp import load_dataset, profile_item_document
from core.library import Library
from core.library.vectors import MAX_DEAD, MAX_SMALL, VectorIndex, shortlist
from tests.library.conftest import library_files, saved_dense_rows


def _index_samples(library: Library, sample_data: Path) -> list[str]:
    """Every profile item of both sample tasks indexed; their questions as queries."""
    docs, queries = _sample_documents(sample_data)
    assert library.index_documents(docs).errors == 0
    return queries


def _sample_documents(sample_data: Path) -> tuple[list[Document], list[str]]:
    """Every profile item of both sample tasks as a document (one source each), and the
    questions as queries."""
    queries: list[str] = []
    docs: dict[str, Document] = {}
    for task in ("commit_subject", "proposal_title"):
        dataset = load_dataset(sample_data / task / "sample_questions.json")
        for question in dataset.questions:
            queries.append(question.input[-300:])
            for item in question.profile:
                doc = profile_item_document(item, dataset.task, "profile")
                docs[doc.doc_id] = doc
    return list(docs.values()), queries


def _exact(library: Library, query: str, k: int) -> list[tuple[str, float]]:
    """Top ``k`` by cosine over every vector Chroma holds, with numpy alone."""
    ids: list[str] = []
    parts = []
    for page_ids, vectors in library.store.vectors():
        ids += page_ids
        parts.append(vectors)
    matrix = np.concatenate(parts)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    vector = library.embedder.embed([query])[0]
    scores = matrix @ (vector / np.linalg.norm(vector))
    order = np.argsort(-scores, kind="stable")[:k]
    return [(ids[i], float(scores[i])) for i in order]


def _maps_and_fds() -> str:
    """What this process has mapped or open (Linux)."""
    links = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # closed while listing
            links.append(str(fd.readlink()))
    return Path("/proc/self/maps").read_text() + "\n".join(links)


def test_reranked_dense_search_equals_exact_search(sample_data: Path, library: Library) -> None:
    """More chunks than the shortlist: the codes choose the rows, and the hits and scores are
    exactly those of a full float32 search, in the first process and in a later one."""
    queries = _index_samples(library, sample_data)
    chunks = library.manifest.chunk_count()
    assert chunks > shortlist(8)  # the codes really choose
    reader = Library(library.profile)
    try:
        for searcher in (library, reader):  # built here, then loaded from disk
            for query in queries[::3]:
                for k in (5, 8):
                    exact = _exact(library, query, k)
                    got = searcher._vectors.search(
                        searcher._vectors.ensure(library.manifest.generation,
                                                 library.store.vectors),
                        searcher.embedder.embed([query])[0], k)
                    assert [cid for cid, _ in got] == [cid for cid, _ in exact], query
                    assert [s for _, s in got] == pytest.approx([s for _, s in exact], abs=1e-6)
                hits = searcher.search(query, k=5, retriever="dense")
                assert [h.score for h in hits] == pytest.approx(
                    [s for _, s in _exact(library, query, 5)], abs=1e-6)
    finally:
        reader.close()
    # Memory holds int8 codes; the float32 matrix is on disk, read a shortlist at a time.
    data = library._vectors.ensure(library.manifest.generation, library.store.vectors).data
    codes = np.concatenate([segment.codes for segment in data.segments])
    assert codes.dtype == np.int8 and codes.shape == (chunks, 384)
    assert not any(isinstance(segment.exact, np.ndarray) for segment in data.segments)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_no_search_keeps_the_saved_matrix_open(sample_data: Path, library: Library) -> None:
    """A forget deletes the saved matrix; no process may still map it (serving forgotten
    vectors from a deleted file), and on Windows an open file could not be deleted at all.
    A search that loaded the index before the forget (another process's) finds nothing
    forgotten and reads nothing from the index that replaced it."""
    queries = _index_samples(library, sample_data)
    library.search(queries[0], k=5, retriever="dense")  # builds and saves the index
    reader = Library(library.profile)
    try:
        before = reader.search(queries[0], k=5, retriever="dense")  # loads it from disk
        assert before and not reader.store_is_open and "vectors.npy" not in _maps_and_fds()
        stale = reader._vectors._snapshot
        assert stale.generation == library.manifest.generation
        vector = reader.embedder.embed([queries[0]])[0]
        exact = dict(VectorIndex.search(stale, vector, len(stale.ids)))  # every row, from disk
        forgotten = before[0].source
        library.forget(forgotten)
        assert not (library.dir / "vectors").exists()
        assert "vectors.npy" not in _maps_and_fds()

        def stale_search_reads_no_other_rows() -> list[tuple[str, float]]:
            """The index loaded before the forget, searched now: its own rows are gone
            from disk, so the shortlist is scored from its codes (close to the exact
            cosines of the same chunks; rows of another index would not be)."""
            got = VectorIndex.search(stale, vector, 5)
            assert len(got) == 5
            for cid, score in got:
                assert score == pytest.approx(exact[cid], abs=0.01)
            return got

        codes_only = stale_search_reads_no_other_rows()
        # A search through the library loads the new generation: the forgotten doc is gone.
        after = reader.search(queries[0], k=5, retriever="dense")
        assert after and all(h.source != forgotten for h in after)
        # A new saved matrix, one row shorter, replaced the old one: still not read.
        assert list((library.dir / "vectors").glob("*.vectors.npy"))
        assert stale_search_reads_no_other_rows() == codes_only
        assert "vectors.npy" not in _maps_and_fds()
    finally:
        reader.close()


def test_indexing_updates_the_dense_index_in_place(tmp_path: Path, sample_data: Path,
                                                   library: Library) -> None:
    """After each indexing job the first dense and hybrid searches rebuild nothing (no vector
    read from Chroma, no chunk text from the manifest) — in the writer's process, and in
    another that does not even open Chroma — and return exactly what indexes rebuilt from
    scratch return, through new segments, merged small ones and rows replaced by
    re-indexing; a forget still leaves no trace of a vector that indexing added in place."""
    docs, queries = _sample_documents(sample_data)
    queries = queries[::8]
    assert library.index_documents(docs[:80]).errors == 0
    library.search(queries[0], k=5, retriever="hybrid")  # both built once, from the stores

    def no_rebuild() -> None:
        raise AssertionError("an index was rebuilt")

    library.store.vectors = no_rebuild  # type: ignore[method-assign]
    revised = [dataclasses.replace(d, text=f"{d.text} Revised after review.",
                                   content_hash=content_hash(d.content_hash, "revised"))
               for d in docs[:60]]
    jobs = [docs[i:i + 7] for i in range(80, 150, 7)] + [revised]
    segments_seen = []
    for number, job in enumerate(jobs):
        assert library.index_documents(job).errors == 0
        other, rebuilt = Library(library.profile), Library(library.profile)
        for searcher in (library, other):
            searcher.manifest.chunk_texts = no_rebuild  # type: ignore[method-assign]
        rebuilt._vectors.folder = tmp_path / f"rebuilt-{number}"  # its own, from scratch
        rebuilt._lexical.folder = tmp_path / f"rebuilt-bm25-{number}"
        try:
            for query, retriever in itertools.product(queries, ("dense", "hybrid")):
                expected = rebuilt.search(query, k=8, retriever=retriever)
                for searcher in (library, other):
                    got = searcher.search(query, k=8, retriever=retriever)
                    assert [(h.doc_id, h.chunk_index) for h in got] == [
                        (h.doc_id, h.chunk_index) for h in expected], (number, query)
                    assert [h.score for h in got] == pytest.approx(
                        [h.score for h in expected], abs=1e-6)
            assert not other.store_is_open  # the saved index was current: Chroma not opened
        finally:
            other.close()
            rebuilt.close()
        data = library._vectors._snapshot.data
        segments_seen.append(len(data.segments))
        starts = np.cumsum([0, *(s.rows for s in data.segments)])
        assert all(data.live[a:b].mean() >= 1 - MAX_DEAD for a, b in itertools.pairwise(starts))
    # One more small segment than MAX_SMALL merges them all (saved ones read back from disk).
    assert max(segments_seen) == MAX_SMALL and segments_seen[MAX_SMALL - 1] == 1

    # A vector that arrived in place, as saved (normalised) and as its int8 code.
    source = docs[140].source
    (chunk_id, *_) = library.manifest.chunk_ids([source])
    row = json.loads((library.dir / "vectors" / "ids.json").read_text())["ids"].index(chunk_id)
    needles = [saved_dense_rows(library.dir)[row].tobytes(),
               saved_dense_rows(library.dir, "codes")[row].tobytes()]
    assert any(needles[0] in p.read_bytes() for p in library_files(library.dir))
    library.forget(source)
    assert not (library.dir / "vectors").exists()
    assert not [p for p in library_files(library.dir) for n in needles if n in p.read_bytes()]


def test_a_save_whose_segments_another_process_replaced_leaves_it_to_the_next_search(
        tmp_path: Path) -> None:
    """The writer advanced its index; before it saves, another process's first search at the
    new generation rebuilt the index and swapped the folder, taking the segment files the
    writer's save would link.  The writer saves nothing, drops its copy, and its next search
    loads what the other process saved: nothing is rebuilt twice, nothing fails.  (Vectors
    are random: the model is not what this is about.)"""
    rng = np.random.default_rng(0)
    ids, vectors = [f"c{i}" for i in range(300)], rng.standard_normal((300, 16))
    added, more = ["n0", "n1", "n2"], rng.standard_normal((3, 16))
    generation = [0]
    writer = VectorIndex(tmp_path / "vectors", lambda: generation[0])
    writer.ensure(0, lambda: [(ids, vectors)])
    writer.advance(0, 1, writer.change(added, more, []))
    generation[0] = 1
    other = VectorIndex(tmp_path / "vectors", lambda: generation[0])
    saved = other.ensure(1, lambda: [(ids + added, np.concatenate([vectors, more]))])
    writer.persist()

    def no_rebuild() -> list[tuple[list[str], np.ndarray]]:
        raise AssertionError("rebuilt again")

    loaded = writer.ensure(1, no_rebuild)
    assert loaded.ids == saved.ids
    assert [s.name for s in loaded.data.segments] == [s.name for s in saved.data.segments]
    query = more[1]
    assert VectorIndex.search(loaded, query, 3)[0][0] == "n1"


def test_a_job_save_links_the_saved_segments_or_copies_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save at the end of a job writes only the new segment: the saved ones are the same
    files, hard-linked (their rows are not rewritten); where the file system refuses hard
    links, they are copied, and another process loads either the same."""
    rng = np.random.default_rng(0)
    ids, vectors = [f"c{i}" for i in range(300)], rng.standard_normal((300, 16))
    generation = [0]
    index = VectorIndex(tmp_path / "vectors", lambda: generation[0])
    index.ensure(0, lambda: [(ids, vectors)])
    (built,) = index.ensure(0, lambda: []).data.segments
    matrix = tmp_path / "vectors" / f"{built.name}.vectors.npy"
    inode = matrix.stat().st_ino
    for job, refuse_links in enumerate((False, True)):
        if refuse_links:
            def no_links(source: object, target: object) -> None:
                raise PermissionError(1, "hard links are not supported here")

            monkeypatch.setattr("core.library.vectors.os.link", no_links)
        more = rng.standard_normal((2, 16))
        index.advance(job, job + 1, index.change([f"n{job}", "c0"], more, []))
        generation[0] = job + 1
        index.persist()
        assert (matrix.stat().st_ino == inode) != refuse_links
        reader = VectorIndex(tmp_path / "vectors", lambda: generation[0])
        loaded = reader.ensure(job + 1, lambda: [])
        assert loaded.ids == index.ensure(job + 1, lambda: []).ids
        assert VectorIndex.search(loaded, more[0], 1)[0][0] == f"n{job}"
        assert VectorIndex.search(loaded, more[1], 1)[0][0] == "c0"  # its new vector


def test_the_serialised_int8_product_is_the_graph_it_says() -> None:
    """The module ships the product's ONNX bytes (importing onnx costs every searching process
    0.46 s); they hold the MatMulInteger graph onnx.helper builds, and onnxruntime's product
    equals numpy's integer one, large values included."""
    import onnx
    from onnx import TensorProto, helper

    from core.library.vectors import INT8_PRODUCT_ONNX, _int8_product

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["codes", "query"], ["dots"])], "int8_scores",
        [helper.make_tensor_value_info("codes", TensorProto.INT8, ["n", "d"]),
         helper.make_tensor_value_info("query", TensorProto.INT8, ["d", 1])],
        [helper.make_tensor_value_info("dots", TensorProto.INT32, ["n", 1])])
    shipped = onnx.load_from_string(INT8_PRODUCT_ONNX)
    onnx.checker.check_model(shipped)
    assert shipped.graph == graph
    assert [(o.domain, o.version) for o in shipped.opset_import] == [("", 17)]
    rng = np.random.default_rng(0)
    codes = rng.integers(-127, 128, size=(1000, 384), dtype=np.int8)
    codes[0] = 127
    query = np.full((384, 1), 127, dtype=np.int8)
    query[1::2] = rng.integers(-127, 128, size=(192, 1), dtype=np.int8)
    dots = _int8_product().run(None, {"codes": codes, "query": query})[0]
    assert dots.dtype == np.int32
    np.testing.assert_array_equal(dots, codes.astype(np.int64) @ query.astype(np.int64))


def test_an_index_saved_by_an_earlier_inkwell_is_rebuilt(tmp_path: Path,
                                                         library: Library) -> None:
    """A library saved by an earlier Inkwell holds one float32 matrix (and no segments): the
    next search rebuilds the index (segments, codes and all) instead of failing."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "garden.md").write_text("# Garden\n\nStake the tomatoes in July.\n")
    (tmp_path / "docs" / "bikes.md").write_text("# Bikes\n\nA bicycle rack shaped like a fish.\n")
    library.add_job([tmp_path / "docs"]).execute()
    library.search("tomato stakes", k=1, retriever="dense")  # builds and saves the index
    folder = library.dir / "vectors"
    earlier = saved_dense_rows(library.dir)
    for path in folder.iterdir():
        if path.name != "ids.json":
            path.unlink()
    np.save(folder / "vectors.npy", earlier)
    reader = Library(library.profile)
    try:
        hits = reader.search("when to stake tomatoes", k=1, retriever="dense")
    finally:
        reader.close()
    assert hits[0].source == str(tmp_path / "docs" / "garden.md")
    assert saved_dense_rows(library.dir, "codes").shape == (2, 384)
