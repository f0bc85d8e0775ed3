"""The library end to end on real files, a real Chroma store and the real embedder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import InkwellError
from core.lamp import load_dataset, profile_item_document
from core.library import Library
from core.privacy import refused_attempts
from tests.library.conftest import (
    docx_bytes,
    eml_bytes,
    library_files,
    pdf_bytes,
    run_cli,
    saved_dense_rows,
)


def _corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sub").mkdir(exist_ok=True)
    files = {
        "garden": folder / "garden.md",
        "budget": folder / "sub" / "budget.pdf",
        "letter": folder / "letter.docx",
        "mail": folder / "sub" / "hello.eml",
        "notes": folder / "notes.txt",
    }
    files["garden"].write_text("# Garden\n\nThe tomatoes need staking before the July heat.\n")
    files["budget"].write_bytes(pdf_bytes("Quarterly budget review for the bakery expansion",
                                          "Budget"))
    files["letter"].write_bytes(docx_bytes("Reference letter",
                                           ["Mira is a meticulous violin teacher."]))
    files["mail"].write_bytes(eml_bytes("Hiking trip", "Meet at the trailhead near the glacier."))
    files["notes"].write_text("Kubernetes pods restart when the liveness probe fails.\n")
    (folder / "ignored.py").write_text("print('code is not writing')\n")
    (folder / ".hidden.txt").write_text("hidden files are passed over\n")
    return files


def _stored_vector(lib: Library, chunk_id: str) -> np.ndarray:
    """One chunk's vector as Chroma returns it."""
    return next(vectors[ids.index(chunk_id)] for ids, vectors in lib.store.vectors()
                if chunk_id in ids)


def _vectors_by_id(lib: Library) -> dict[str, bytes]:
    """Every vector Chroma returns, by chunk id."""
    return {i: v.tobytes() for ids, vs in lib.store.vectors() for i, v in zip(ids, vs, strict=True)}


def _consistent(lib: Library) -> None:
    """Every chunk exactly once: Chroma and the manifest hold the same ids."""
    assert lib.store.all_ids() == lib.manifest.all_chunk_ids()
    assert lib.store.count() == lib.manifest.chunk_count()


def test_add_search_and_incremental_reindex(tmp_path: Path, library: Library) -> None:
    files = _corpus(tmp_path / "docs")
    report = library.add_job([tmp_path / "docs"]).execute()
    assert (report.indexed, report.skipped, report.errors, report.ignored) == (5, 0, 0, 1)
    _consistent(library)

    for retriever in ("bm25", "dense", "hybrid"):
        hits = library.search("when should I stake tomato plants", k=3, retriever=retriever)
        assert hits[0].source == str(files["garden"]), (retriever, hits)
        assert hits[0].title == "Garden" and "staking" in hits[0].text and hits[0].date
    assert library.search("violin teacher", k=1, retriever="dense")[0].source == str(
        files["letter"])
    assert library.search("glacier", k=5)[0].title == "Hiking trip"
    # More wanted than stored: every chunk, once, best first.
    everything = library.search("garden", k=1000, retriever="dense")
    assert len(everything) == library.manifest.chunk_count()

    # Nothing changed: nothing is read or embedded again (overlapping paths count once).
    ids_before = library.manifest.all_chunk_ids()
    again = library.add_job([tmp_path / "docs", tmp_path / "docs" / "notes.txt"]).execute()
    assert (again.indexed, again.unchanged) == (0, 5)
    # Touched but identical: only the signature is updated, same chunks.
    os.utime(files["notes"], ns=(time.time_ns(), time.time_ns() + 10**9))
    touched = library.add_job([tmp_path / "docs"]).execute()
    assert (touched.indexed, touched.unchanged) == (0, 5)
    assert library.manifest.all_chunk_ids() == ids_before

    # One file changed, one deleted: only those are touched.
    files["garden"].write_text("# Garden\n\nThe cucumbers climb the trellis by August.\n")
    files["mail"].unlink()
    changed = library.add_job([tmp_path / "docs"]).execute()
    assert (changed.indexed, changed.removed, changed.unchanged) == (1, 1, 3)
    _consistent(library)
    assert not library.search("tomatoes staking", k=5)
    assert library.search("cucumbers trellis", k=1)[0].source == str(files["garden"])
    assert all(h.source != str(files["mail"]) for h in library.search("glacier trailhead", k=5,
                                                                      retriever="dense"))
    # A second reader (another process, as the desktop is to the CLI) loads the saved
    # indexes, and rebuilds them when the writer has changed the library since.
    reader = Library(library.profile)
    try:
        for retriever in ("bm25", "dense"):
            assert reader.search("cucumbers trellis", k=1, retriever=retriever)[0].source \
                == str(files["garden"])
        assert not reader.store_is_open  # served by the saved matrix: Chroma not even opened
        kayak = tmp_path / "docs" / "kayak.md"
        kayak.write_text("# Kayak\n\nPaddling the kayak across the fjord at dawn.\n")
        assert library.add_job([tmp_path / "docs"]).execute().indexed == 1
        for retriever in ("bm25", "dense"):
            assert reader.search("kayak fjord", k=1, retriever=retriever)[0].source == str(kayak)
    finally:
        reader.close()
    kayak.unlink()
    assert library.add_job([tmp_path / "docs"]).execute().removed == 1
    status = library.status()
    assert status.counts == {"indexed": 4}
    assert {f.path for f in status.files} == {str(files[k]) for k in
                                              ("garden", "budget", "letter", "notes")}
    # What the trainer gets back: whole documents with titles and dates.
    docs = {d.source: d for d in library.documents()}
    assert docs[str(files["budget"])].text == "Quarterly budget review for the bakery expansion"
    assert library.get_document(docs[str(files["letter"])].doc_id).title == "Reference letter"


def test_index_documents_is_incremental_by_id_and_hash(sample_data: Path,
                                                       library: Library) -> None:
    dataset = load_dataset(sample_data / "commit_subject" / "sample_questions.json")
    q = dataset.questions[0]
    docs = [profile_item_document(item, dataset.task, "profile") for item in q.profile]
    first = library.index_documents(docs)
    assert first.indexed == len(docs) and first.errors == 0
    assert library.index_documents(docs).unchanged == len(docs)
    # The same item twice (profiles overlap) is one document, not a crash or a duplicate.
    assert library.index_documents(docs + docs[:2]).unchanged == len(docs)
    edited = [docs[0].__class__(**{**docs[0].__dict__, "text": docs[0].text + " extra words",
                                   "content_hash": "changed"}), *docs[1:]]
    assert library.index_documents(edited).indexed == 1
    _consistent(library)
    got = {d.doc_id: d for d in library.documents()}
    assert set(got) == {d.doc_id for d in docs}
    assert got[docs[1].doc_id].fields == docs[1].fields
    hit = library.search(docs[2].text[:200], k=1, retriever="bm25")[0]
    assert (hit.doc_id, hit.title, hit.date) == (docs[2].doc_id, docs[2].title, docs[2].date)


def _git(repo: Path, *args: str, email: str = "me@example.org", date: str = "") -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Me", "GIT_AUTHOR_EMAIL": email,
           "GIT_COMMITTER_NAME": "Me", "GIT_COMMITTER_EMAIL": email,
           "GIT_AUTHOR_DATE": date or "2024-03-04T05:06:07Z",
           "GIT_COMMITTER_DATE": date or "2024-03-04T05:06:07Z", "HOME": str(repo)}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True,
                   timeout=120)


def test_add_git_imports_only_the_authors_commits(tmp_path: Path, library: Library) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "commit", "--allow-empty", "-q", "-m",
         "Speed up the parser\n\nCache the token table between calls.")
    _git(repo, "commit", "--allow-empty", "-q", "-m", "Someone else's change",
         email="other@example.org")
    _git(repo, "commit", "--allow-empty", "-q", "-m", "Fix typo in README",
         date="2024-05-06T00:00:00Z")
    report = library.add_git_job(repo, "ME@example.org").execute()
    assert report.indexed == 2
    docs = sorted(library.documents(), key=lambda d: d.date or "")
    assert [d.title for d in docs] == ["Speed up the parser", "Fix typo in README"]
    assert docs[0].date == "2024-03-04" and docs[0].kind == "commit"
    assert "token table" in docs[0].text
    _git(repo, "commit", "--allow-empty", "-q", "-m", "Add streaming mode")
    again = library.add_git_job(repo, "me@example.org").execute()
    assert (again.indexed, again.unchanged) == (1, 2)
    with pytest.raises(InkwellError, match="not a git repository"):
        library.add_git_job(tmp_path, "me@example.org").execute()
    forgotten = library.forget(repo)
    assert len(forgotten.doc_ids) == 3 and library.manifest.document_count() == 0


CANARY = "Zebra quartz lanterns hum beneath the cobalt orchard at midnight"


def test_forget_leaves_no_trace_of_the_canary(tmp_path: Path, library: Library) -> None:
    files = _corpus(tmp_path / "docs")
    secret = tmp_path / "docs" / "secret.md"
    # The canary is in the title too, so it reaches Chroma's metadata, not only the manifest.
    secret.write_text(f"# {CANARY}\n\n{CANARY}.\n\nMore private thoughts about the orchard.")
    library.add_job([tmp_path / "docs"]).execute()
    for retriever in ("bm25", "dense", "hybrid"):  # builds every derived index
        assert library.search("cobalt orchard lanterns", k=1, retriever=retriever)[0].source \
            == str(secret)
    (chunk_id,) = library.manifest.chunk_ids([str(secret)])
    vector = _stored_vector(library, chunk_id)
    # The vector as Chroma returns it, as the dense search's saved matrix holds it
    # (normalised), and its int8 code.
    saved = json.loads((library.dir / "vectors" / "ids.json").read_text())["ids"]
    unit = saved_dense_rows(library.dir)[saved.index(chunk_id)]
    code = saved_dense_rows(library.dir, "codes")[saved.index(chunk_id)]
    needles = [CANARY.encode(), CANARY.lower().encode(), vector.tobytes(), unit.tobytes(),
               code.tobytes()]
    root = library.dir

    def leaks() -> list[tuple[Path, int]]:
        return [(p, i) for p in library_files(root) for i, n in enumerate(needles)
                if n in p.read_bytes()]

    # The scan can see the text (manifest, Chroma metadata, BM25 vocabulary aside: stemmed)
    # and the vector (HNSW segment or Chroma's queue) and its code before the forget.
    found = {i for _, i in leaks()}
    assert 0 in found and found & {2, 3} and 4 in found, leaks()

    report = library.forget(secret)
    assert report.paths == [str(secret)] and len(report.doc_ids) == 1 and report.chunks == 1
    assert not leaks(), leaks()
    assert not [p for p in library_files(root) if report.doc_ids[0].encode() in p.read_bytes()]
    _consistent(library)
    for retriever in ("bm25", "dense", "hybrid"):
        assert all(h.source != str(secret) for h in library.search("cobalt orchard lanterns", k=5,
                                                                   retriever=retriever))
    assert library.search("tomatoes staking", k=1)[0].source == str(files["garden"])
    with pytest.raises(InkwellError, match="nothing from here"):
        library.forget(secret)
    # Re-adding the folder does not bring it back while the file is gone ...
    secret.unlink()
    assert library.add_job([tmp_path / "docs"]).execute().indexed == 0
    # ... and forgetting a whole folder removes everything below it.
    assert len(library.forget(tmp_path / "docs").paths) == 5
    assert library.status().counts == {} and library.store.count() == 0


def test_files_are_private_and_nothing_went_to_the_network(tmp_path: Path,
                                                           library: Library) -> None:
    before = len(refused_attempts())
    _corpus(tmp_path / "docs")
    library.add_job([tmp_path / "docs"]).execute()
    library.search("garden", retriever="hybrid")
    library.forget(tmp_path / "docs" / "notes.txt")
    assert len(refused_attempts()) == before
    for path in library_files(library.dir):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_vanishing_file_mid_run_does_not_abort(tmp_path: Path, library: Library) -> None:
    _corpus(tmp_path / "docs")
    job = library.add_job([tmp_path / "docs"])
    job.prepare()  # the scan saw every file ...
    (tmp_path / "docs" / "notes.txt").unlink()  # ... then one vanished before it was read
    report = job.run()
    assert report.indexed == 4 and report.errors == 0
    assert str(tmp_path / "docs" / "notes.txt") not in {f.path for f in library.status().files}


def test_second_writer_is_refused_with_a_clear_message(tmp_path: Path, library: Library,
                                                       home) -> None:
    _corpus(tmp_path / "docs")
    with library.writing():
        proc = run_cli(home.root, "library", "add", str(tmp_path / "docs"), check=False)
    assert proc.returncode == 2
    assert "another Inkwell process is changing this library" in proc.stderr
    assert library.add_job([tmp_path / "docs"]).execute().indexed == 5  # lock released


def test_folder_watcher_indexes_changes(tmp_path: Path, library: Library) -> None:
    from core.library.watch import FolderWatcher

    folder = tmp_path / "watched"
    folder.mkdir()
    reports = []
    watcher = FolderWatcher(library, [folder], quiet_s=0.3, on_indexed=reports.append).start()

    def wait_for(predicate, what: str) -> None:
        deadline = time.monotonic() + 30
        while not predicate():
            assert time.monotonic() < deadline, f"watcher did not {what}"
            time.sleep(0.1)

    try:
        note = folder / "idea.md"
        note.write_text("# Idea\n\nA bicycle rack shaped like a fish.\n")
        (folder / "ignored.bin").write_bytes(b"\0\1")
        wait_for(lambda: getattr(library.manifest.origin(str(note)), "status", "") == "indexed",
                 "index a new file")
        assert library.search("fish bicycle rack", k=1)[0].source == str(note)
        note.unlink()
        wait_for(lambda: library.manifest.origin(str(note)) is None, "drop a deleted file")
    finally:
        watcher.stop()
    assert [r.indexed for r in reports][:1] == [1] and reports[-1].removed == 1


def test_search_an_empty_library(library: Library) -> None:
    for retriever in ("bm25", "dense", "hybrid"):
        assert library.search("anything at all", k=5, retriever=retriever) == []


def test_a_damaged_saved_index_is_rebuilt(tmp_path: Path, library: Library) -> None:
    """The saved BM25 index and vector matrix are derived: a damaged one (a disk error, or
    another process swapping it out mid-read) is rebuilt from the stores, never an error."""
    files = _corpus(tmp_path / "docs")
    library.add_job([tmp_path / "docs"]).execute()
    for retriever in ("bm25", "dense"):
        library.search("stake tomato plants", k=1, retriever=retriever)
    for matrix_file in (library.dir / "vectors").glob("*.vectors.npy"):
        matrix_file.write_bytes(b"\x93NUMPY garbage")
    (library.dir / "bm25" / "ids.json").write_text('{"generation": "x"')
    reader = Library(library.profile)
    try:
        for retriever in ("bm25", "dense", "hybrid"):
            assert reader.search("when should I stake tomato plants", k=1,
                                 retriever=retriever)[0].source == str(files["garden"])
    finally:
        reader.close()
    assert saved_dense_rows(library.dir).shape == (library.manifest.chunk_count(), 384)


def test_hnsw_slots_past_the_live_elements_hold_no_recycled_memory(tmp_path: Path,
                                                                   library: Library) -> None:
    """hnswlib writes its element buffers whole, unused slots holding whatever the writing
    process freed before — a forgotten text, say (chroma-core/chroma#7688).  Every write job
    zeroes those slots; Chroma still reads every vector.  The recycled memory is planted
    here: which bytes the allocator hands hnswlib is not up to a test."""
    _corpus(tmp_path / "docs")
    library.add_job([tmp_path / "docs"]).execute()
    before = _vectors_by_id(library)
    segments = [h.parent for h in (library.dir / "chroma").glob("*/header.bin")]
    assert segments
    for segment in segments:
        for name in ("data_level0.bin", "length.bin"):
            path = segment / name
            size = path.stat().st_size
            with open(path, "r+b") as file:  # the last slot is unused with so few chunks
                file.seek(size - len(CANARY))
                file.write(CANARY.encode())
    library.add_job([tmp_path / "docs"]).execute()  # nothing new: the job still writes
    assert not [p for p in library_files(library.dir) if CANARY.encode() in p.read_bytes()]
    library.close()
    again = Library(library.profile)
    try:
        assert _vectors_by_id(again) == before
    finally:
        again.close()


def test_a_search_that_read_before_a_forget_does_not_save_it_back(tmp_path: Path,
                                                                 library: Library) -> None:
    """A rebuild reads the stores, a forget (another process: the CLI while the GUI searches)
    purges, then the rebuild finishes: it must not write bm25/ or vectors/ back."""
    _corpus(tmp_path / "docs")
    secret = tmp_path / "docs" / "secret.md"
    secret.write_text(f"# {CANARY}\n\n{CANARY}.\n")
    library.add_job([tmp_path / "docs"]).execute()
    (chunk_id,) = library.manifest.chunk_ids([str(secret)])
    vector = _stored_vector(library, chunk_id)
    library.close()

    def search_while_forgotten(retriever: str) -> list:
        searcher, forgetter = Library(library.profile), Library(library.profile)
        reader = searcher.manifest if retriever == "bm25" else searcher.store
        name = "chunk_texts" if retriever == "bm25" else "vectors"
        read = getattr(reader, name)

        def read_then_forget() -> list:
            data = list(read())
            forgetter.forget(secret)
            return data

        setattr(reader, name, read_then_forget)
        try:
            return searcher.search("cobalt orchard lanterns", k=5, retriever=retriever)
        finally:
            searcher.close()
            forgetter.close()

    needles = [b"cobalt", chunk_id.encode(), vector.tobytes()]

    def leaks() -> list[tuple[Path, bytes]]:
        return [(p, n) for p in library_files(library.dir) for n in needles
                if n in p.read_bytes()]

    for retriever in ("bm25", "dense"):
        hits = search_while_forgotten(retriever)
        assert all(h.source != str(secret) for h in hits)
        assert not leaks(), (retriever, leaks())
        adder = Library(library.profile)
        adder.add_job([secret]).execute()  # back in, to be forgotten during the next rebuild
        adder.close()


def test_indexing_updates_the_lexical_index_in_place(tmp_path: Path, library: Library) -> None:
    """The first BM25 search after a change reads no chunk texts (no rebuild), in this process
    and in another one, and ranks exactly as an index rebuilt from scratch."""
    files = _corpus(tmp_path / "docs")
    library.add_job([tmp_path / "docs"]).execute()
    assert library.search("tomatoes", k=1)[0].source == str(files["garden"])  # built once
    (tmp_path / "docs" / "bikes.md").write_text("# Bikes\n\nA bicycle rack shaped like a fish.\n")
    files["garden"].write_text("# Garden\n\nThe courgettes climb the fish-shaped trellis.\n")
    files["notes"].unlink()
    report = library.add_job([tmp_path / "docs"]).execute()
    assert (report.indexed, report.removed) == (2, 1)

    def no_rebuild() -> None:
        raise AssertionError("the lexical index was rebuilt")

    other = Library(library.profile)
    rebuilt = Library(library.profile)
    try:
        for reader in (library, other):
            reader.manifest.chunk_texts = no_rebuild  # type: ignore[method-assign]
        rebuilt._lexical.folder = tmp_path / "rebuilt-bm25"  # its own index, from scratch
        for query in ("fish", "tomatoes", "liveness probe", "bicycle fish trellis", "budget"):
            expected = [(h.doc_id, round(h.score, 4))
                        for h in rebuilt.search(query, k=5, retriever="bm25")]
            for reader in (library, other):
                assert [(h.doc_id, round(h.score, 4))
                        for h in reader.search(query, k=5, retriever="bm25")] == expected, query
        assert {h.source for h in library.search("fish", k=5)} == {
            str(tmp_path / "docs" / "bikes.md"), str(files["garden"])}
        assert library.search("liveness probe", k=5) == []
    finally:
        other.close()
        rebuilt.close()
