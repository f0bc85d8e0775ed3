"""kill -9 during indexing: the next run resumes with nothing lost and nothing duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.library import Library
from tests.library.conftest import REPO

# The real CLI, with small batches so that a run has many batch boundaries to be killed at.
_SCRIPT = (
    "import sys; import core.library.indexing as ix; ix.FLUSH_ITEMS = 4; ix.FLUSH_CHUNKS = 12; "
    "from core.cli import main; sys.exit(main(sys.argv[1:]))"
)
N_FILES = 90


def _corpus(folder: Path, rng: random.Random) -> None:
    folder.mkdir()
    words = ["river", "stone", "lamp", "paper", "orbit", "cedar", "violet", "anchor", "meadow",
             "signal"]
    for i in range(N_FILES):
        paragraphs = [" ".join(rng.choices(words, k=rng.randint(20, 120))) for _ in
                      range(rng.randint(1, 4))]
        paragraphs.insert(0, f"Note {i} mentions token{i}x uniquely.")
        (folder / f"note{i:03d}.md").write_text("\n\n".join(paragraphs))


def _kill_during_indexing(home: Path, folder: Path, delay: float) -> int:
    """Start ``inkwell library add``; SIGKILL it ``delay`` s after indexing began."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, "--home", str(home), "library", "add", str(folder)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # the first progress line: the job holds the lock and runs
        if line.startswith("indexing:"):
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return proc.returncode


def _check_exactly_once(lib: Library, folder: Path) -> None:
    status = lib.status()
    assert status.counts == {"indexed": N_FILES}, status.counts
    sources = [d.source for d in lib.documents()]
    assert sorted(sources) == sorted(str(p) for p in folder.iterdir())  # once each
    assert lib.store.all_ids() == lib.manifest.all_chunk_ids()
    assert lib.store.count() == lib.manifest.chunk_count()
    for i in random.Random(0).sample(range(N_FILES), 8):
        hits = lib.search(f"token{i}x", k=3)
        # Only that file holds the token (its first paragraph may overlap into chunk 1).
        assert {h.source for h in hits} == {str(folder / f"note{i:03d}.md")}, hits
        # Its vectors are there too: a chunk's own text finds that chunk first.
        path = str(folder / f"note{i:03d}.md")
        last = lib.manifest.chunks_of_origins([path])[-1]
        top = lib.search(last.text, k=1, retriever="dense")[0]
        assert (top.source, top.chunk_index) == (path, last.chunk_index)


def _trials(tmp_path: Path, profile, n: int, seed: int) -> None:
    rng = random.Random(seed)
    folder = tmp_path / "notes"
    _corpus(folder, rng)
    home = profile.home.root
    killed = 0
    for trial in range(n):
        if trial % 3 == 2:  # the user edits a file between runs
            victim = folder / f"note{rng.randrange(N_FILES):03d}.md"
            victim.write_text(victim.read_text() + f"\n\nEdited in trial {trial}.")
        code = _kill_during_indexing(home, folder, rng.uniform(0.0, 2.5))
        killed += code == -signal.SIGKILL
    assert killed >= 1, "no run was killed before it finished: the test proved nothing"
    lib = Library(profile)
    try:
        report = lib.add_job([folder]).execute()
        assert report.errors == 0 and report.skipped == 0
        _check_exactly_once(lib, folder)
    finally:
        lib.close()


def test_kill_9_mid_indexing_then_resume(tmp_path: Path, profile) -> None:
    _trials(tmp_path, profile, n=3, seed=7)


@pytest.mark.slow
def test_kill_9_mid_indexing_20_seeded_trials(tmp_path: Path, profile) -> None:
    _trials(tmp_path, profile, n=20, seed=20)
