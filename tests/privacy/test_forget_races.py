"""Forget wins every race: work that read a document before it was forgotten keeps nothing.

The review behind issue 19 trained an adapter (``adapter train --steps 12``), forgot
one of its documents once the worker was stepping, and the finished adapter was
published with ``stale: false``.  Here the same happens for real (a training of
many steps in the real CLI, the document forgotten through ``core.forget.forget``,
the function the CLI and the desktop call), and each publishing path is checked
on its own: the adapter store, the advice, the training folder, a crash between
the two renames of a publish, and the manifest used from two threads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.adapters.lora import LoraWeights
from core.adapters.store import AdapterRecord, AdapterStore
from core.errors import DocumentsForgotten
from core.forget import forget
from core.library import Library
from core.library.manifest import Manifest
from core.paths import ProfilePaths
from tests.crashkit import REPO, kill_tree, popen_cli
from tests.privacy.pipeline import canary_needles, new_canary_word, scan_for, write_corpus

# The real CLI with cheap settings: one example a step, short sequences, a checkpoint
# after every step (tests/privacy/test_crash_trials.py trains the same way).
TRAIN_SCRIPT = (
    "import sys, functools; import core.adapters.config as c; "
    "c.TrainConfig = functools.partial(c.TrainConfig, batch_size=1, max_len=48, r=4, "
    "checkpoint_every=1); from core.cli import main; sys.exit(main(sys.argv[1:]))"
)
STEP = re.compile(r"^train: (\d+)/(\d+) .*loss=", re.M)


def _zero_weights() -> LoraWeights:
    a = np.zeros((4, 576), np.float32)  # SmolLM2's hidden size
    return LoraWeights(4, 8.0, {"model.layers.0.self_attn.q_proj": (a, a.T.copy())})


def _record(smollm2, adapter_id: str, doc_ids: tuple[str, ...]) -> AdapterRecord:
    return AdapterRecord(
        id=adapter_id, name=adapter_id, model=smollm2.name, architecture="llama",
        base_sha256=smollm2.sha256, created="2026-01-01T00:00:00Z", source="trained:torch",
        r=4, alpha=8.0, target_modules=("q_proj",), fingerprint="0" * 64, doc_ids=doc_ids)


@pytest.mark.timeout(900)
def test_forgetting_a_document_mid_training_stops_it_and_leaves_no_trace(
        tmp_path: Path, profile: ProfilePaths) -> None:
    """The issue's reproduction: the training stops at its next step, removes its folder, no
    adapter is listed, and the canary is nowhere in the data dir."""
    word = new_canary_word()
    files = write_corpus(tmp_path / "corpus", word)
    library = Library(profile)
    try:
        library.add_job([tmp_path / "corpus"]).execute()
        log = tmp_path / "train.log"
        proc = popen_cli(profile.home.root, "adapter", "train", "--steps", "400", "--model",
                         "smollm2-135m-instruct", script=TRAIN_SCRIPT, stderr_file=log)
        try:
            deadline = time.monotonic() + 600
            while not STEP.search(log.read_text(errors="replace")):  # the worker is stepping
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "training never started stepping"
                time.sleep(0.2)
            assert scan_for([profile.home.root], canary_needles(word)).hits  # the scan sees it
            forget(library, [files["canary"]])
            assert proc.wait(timeout=300) == 2
        finally:
            kill_tree(proc)
    finally:
        library.close()
    text = log.read_text(errors="replace")
    assert "training stopped" in text and "forgotten" in text, text[-3000:]
    steps = [int(done) for done, _total in STEP.findall(text)]
    assert max(steps) < 400, "it stopped long before its last step"
    assert AdapterStore(profile).list() == []
    assert list(profile.training_dir.iterdir()) == []
    assert scan_for([profile.home.root], canary_needles(word)).hits == []


def test_an_adapter_published_after_a_forget_is_stale(profile: ProfilePaths, smollm2) -> None:
    """The last step done, the adapter is being saved when the forget lands: it is stale."""
    manifest = Manifest(profile.manifest_file)
    try:
        manifest.bury(["doc:forgotten"])
        store = AdapterStore(profile)
        late = store.publish(_record(smollm2, "late", ("doc:kept", "doc:forgotten")),
                             _zero_weights(), smollm2)
        assert late.stale and late.stale_doc_ids == ("doc:forgotten",)
        assert store.get("late").stale
        clean = store.publish(_record(smollm2, "clean", ("doc:kept",)), _zero_weights(), smollm2)
        assert not clean.stale
    finally:
        manifest.close()


@pytest.fixture
def library(profile: ProfilePaths) -> Iterator[Library]:
    lib = Library(profile)
    yield lib
    lib.close()


def test_adding_a_forgotten_document_again_lifts_its_tombstone(library, tmp_path: Path,
                                                                smollm2) -> None:
    note = tmp_path / "docs" / "note.md"
    note.parent.mkdir()
    note.write_text("# Tide tables\n\nThe spring tides came early this year.\n")
    library.add_job([note.parent]).execute()
    (doc_id,) = [d.doc_id for d in library.documents()]
    forget(library, [note])
    store = AdapterStore(library.profile)
    assert store.publish(_record(smollm2, "a", (doc_id,)), _zero_weights(), smollm2).stale
    library.add_job([note.parent]).execute()  # the user adds it back
    assert not store.publish(_record(smollm2, "b", (doc_id,)), _zero_weights(), smollm2).stale


def test_the_advice_discards_what_it_measured_on_a_forgotten_document(library,
                                                                      tmp_path: Path) -> None:
    from core.evaluation.advice import AdviseJob, advice_file

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"n{i}.md").write_text(f"# Note {i}\n\nThe harbour was calm on day {i}.\n")
    profile = library.profile
    job = AdviseJob(profile.home, profile)
    library.add_job([folder]).execute()
    job.prepare()  # read the documents
    forget(library, [folder / "n1.md"])
    profile.advice_dir.mkdir(parents=True)  # as if the job had written into it since
    (profile.advice_dir / "users.json").write_text("The harbour was calm on day 1.")
    with pytest.raises(DocumentsForgotten, match="discarded"):
        job.run()  # measured on what prepare() read: the forgotten note among it
    assert not profile.advice_dir.exists()
    assert not advice_file(profile).exists()


CRASH_BETWEEN_RENAMES = """
import os, sys
from dataclasses import replace
from tests.privacy.test_forget_races import _record, _zero_weights
from core.adapters.store import AdapterStore
from core.models import ModelRegistry, SMOLLM2
from core.paths import Home
profile = Home.resolve(sys.argv[1]).profile("default")
model = ModelRegistry(Home.resolve(sys.argv[2])).get(SMOLLM2)
real_rename = os.rename
def rename(src, dst):
    real_rename(src, dst)
    if os.path.basename(dst).startswith(".trash-"):  # the old adapter is set aside: power cut
        os._exit(9)
os.rename = rename
AdapterStore(profile).publish(replace(_record(model, "mine", ()), name="new"),
                              _zero_weights(), model)
"""


def test_a_crash_between_the_renames_of_a_publish_keeps_the_old_adapter(
        profile: ProfilePaths, smollm2, registry) -> None:
    store = AdapterStore(profile)
    store.publish(replace(_record(smollm2, "mine", ()), name="old"), _zero_weights(), smollm2)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_BETWEEN_RENAMES, str(profile.home.root),
         str(registry.home.root)], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert crashed.returncode == 9, crashed.stderr
    assert not (store.root / "mine").exists()  # set aside, not yet replaced
    reopened = AdapterStore(profile)
    assert [(r.id, r.name) for r in reopened.list()] == [("mine", "old")]
    assert [p.name for p in reopened.root.iterdir() if p.name != ".lock"] == ["mine"]


def test_vacuum_waits_for_another_threads_reader(tmp_path: Path) -> None:
    """One connection shared by threads: VACUUM failed with "SQL statements in progress"
    while another thread was reading (the GUI's indexing and search threads)."""
    from core.documents import Document

    manifest = Manifest(tmp_path / "manifest.sqlite3")
    try:
        with manifest.transaction() as db:
            for i in range(3):
                manifest.set_status(db, f"/n{i}", "file", "indexed")
                manifest.replace_content(db, f"/n{i}", [Document(
                    doc_id=f"d{i}", source=f"/n{i}", title=f"n{i}", date=None, text="x" * 100,
                    kind="note", content_hash=str(i))], [])
        reading = manifest.documents()
        next(reading)  # a query in progress on this thread
        errors: list[BaseException] = []

        def vacuum() -> None:
            try:
                manifest.vacuum()
            except BaseException as exc:
                errors.append(exc)

        other = threading.Thread(target=vacuum, daemon=True)
        other.start()
        time.sleep(0.5)
        assert len(list(reading)) == 2  # the reader finishes; the VACUUM then runs
        other.join(60)
        assert errors == []
    finally:
        manifest.close()
