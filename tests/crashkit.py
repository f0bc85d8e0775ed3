"""kill -9 trials shared by the crash tests: start the real CLI, SIGKILL it, check every store.

``tests/library/test_crash.py`` (indexing, default run) and
``tests/privacy/test_crash_trials.py`` (indexing, adapter training and the
evaluation, 20 seeded trials each with ``-m slow``) use these helpers, so a
"trial" means the same thing everywhere: a real ``inkwell`` process killed with
SIGKILL at a seeded random moment, after which every store of the data dir must
still open and hold nothing half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.library import Library
from core.paths import ProfilePaths

REPO = Path(__file__).resolve().parent.parent
# The real CLI, with small batches so that a run has many batch boundaries to be killed at.
INDEX_SCRIPT = (
    "import sys; import core.library.indexing as ix; ix.FLUSH_ITEMS = 4; ix.FLUSH_CHUNKS = 12; "
    "from core.cli import main; sys.exit(main(sys.argv[1:]))"
)
N_FILES = 90


@dataclass
class TrialStats:
    """What a series of trials did: how many runs, how many really died of SIGKILL, and how
    many left every store openable and consistent (``survived``)."""

    kind: str
    seed: int
    trials: int = 0
    killed: int = 0  # the rest finished before their kill moment came
    survived: int = 0
    kill_moments: list[str] = field(default_factory=list)  # phase + seconds into it
    reused: int = 0  # finished units (users) a killed run had saved, reused untouched
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def popen_cli(home: Path, *args: str, stderr_file: Path, script: str | None = None
              ) -> subprocess.Popen[str]:
    """Start ``inkwell --home HOME ARGS`` (``script``: a ``python -c`` stand-in for the CLI's
    entry point).  Its stderr goes to ``stderr_file`` and its stdout beside it (``.out``):
    files, not pipes, so a process nobody reads from never blocks, and a killed one's last
    words stay readable."""
    head = [sys.executable, "-c", script] if script else [sys.executable, "-m", "core"]
    with open(stderr_file, "w") as err, open(stderr_file.with_suffix(".out"), "w") as out:
        return subprocess.Popen([*head, "--home", str(home), *args], cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)},
                                stdout=out, stderr=err, text=True)


def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (the training worker runs in its own session,
    so killing the CLI's process group would not reach it)."""
    out: list[int] = []
    children: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += (task / "children").read_text().split()
        except OSError:
            continue
    for child in map(int, children):
        out += [child, *descendants(child)]
    return out


def wait_gone(pids: list[int], timeout_s: float) -> None:
    """Wait until processes that are not our children have exited (or are zombies)."""
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while True:
            try:
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    break
            except OSError:
                break
            assert time.monotonic() < deadline, f"process {pid} is still running"
            time.sleep(0.1)


def kill_tree(proc: subprocess.Popen[Any], only_parent: bool = False,
              orphan_timeout_s: float = 1800) -> bool:
    """SIGKILL ``proc`` and every descendant at once; True when ``proc`` was still running.

    ``only_parent``: kill ``proc`` alone, as a user's ``kill -9`` of the CLI does, and wait
    for its orphaned children (the training worker) to notice and exit by themselves.
    """
    victims = descendants(proc.pid)
    alive = proc.poll() is None
    for pid in [proc.pid] if only_parent else [proc.pid, *victims]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=120)
    wait_gone(victims, orphan_timeout_s if only_parent else 60)
    return alive and proc.returncode == -signal.SIGKILL


def kill_when(proc: subprocess.Popen[Any], ready: Callable[[], bool], extra_s: float,
              only_parent: bool = False, timeout_s: float = 7200) -> bool:
    """SIGKILL ``proc`` ``extra_s`` seconds after ``ready()`` first holds (a phase of the run
    has begun: a log line, a file).  Events rather than wall-clock delays, so that every phase
    gets its kills whatever the machine's load.  True when it was still running."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and not ready():
        assert time.monotonic() < deadline, "the phase to kill in never began"
        time.sleep(0.02)
    return kill_at(proc, extra_s, only_parent)


def kill_at(proc: subprocess.Popen[Any], delay_s: float, only_parent: bool = False) -> bool:
    """Let ``proc`` run for ``delay_s`` seconds, then SIGKILL it (see ``kill_tree``); True
    when it was still running (a real kill), False when it had finished by then."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=delay_s)
    return kill_tree(proc, only_parent)


def run_cli(home: Path, *args: str, check: bool = True,
            timeout_s: float = 1800) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "core", "--home", str(home), *args],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"inkwell {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


# -- every store opens ---------------------------------------------------------------------------

def check_library_opens(profile: ProfilePaths) -> None:
    """The manifest (SQLite integrity check) and Chroma open and can be read.

    Read-only on purpose: repairing what the killed run left is the next run's job
    (its reconcile), and that run is part of the trial.
    """
    lib = Library(profile)
    try:
        lib.status()
        assert lib.manifest._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert lib.store.count() == len(lib.store.all_ids())
    finally:
        lib.close()


def check_adapters_load(profile: ProfilePaths) -> list[dict[str, Any]]:
    """``inkwell adapter list --json`` works, and every adapter it lists is whole: its metadata,
    its PEFT folder and its GGUF (header and every tensor inside the file) all load."""
    from core.adapters.lora import read_peft
    from core.models import read_gguf_header

    listed = json.loads(run_cli(profile.home.root, "--profile", profile.name, "adapter", "list",
                                "--json").stdout)
    for record in listed:
        assert read_gguf_header(Path(record["gguf_path"])).file_type == "adapter"
        weights = read_peft(Path(record["dir"]) / "peft")
        assert weights.r == record["r"] and weights.modules
    return listed


def check_json_files_open(folder: Path) -> int:
    """Every ``*.json`` below ``folder`` parses (atomic writes leave no half file)."""
    n = 0
    for path in folder.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
        n += 1
    return n


# -- indexing ------------------------------------------------------------------------------------

def corpus(folder: Path, rng: random.Random) -> None:
    folder.mkdir()
    words = ["river", "stone", "lamp", "paper", "orbit", "cedar", "violet", "anchor", "meadow",
             "signal"]
    for i in range(N_FILES):
        paragraphs = [" ".join(rng.choices(words, k=rng.randint(20, 120))) for _ in
                      range(rng.randint(1, 4))]
        paragraphs.insert(0, f"Note {i} mentions token{i}x uniquely.")
        (folder / f"note{i:03d}.md").write_text("\n\n".join(paragraphs))


def kill_during_indexing(home: Path, folder: Path, delay: float) -> int:
    """Start ``inkwell library add``; SIGKILL it ``delay`` s after indexing began."""
    proc = subprocess.Popen(
        [sys.executable, "-c", INDEX_SCRIPT, "--home", str(home), "library", "add", str(folder)],
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


def check_exactly_once(lib: Library, folder: Path) -> None:
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


def index_trials(tmp_path: Path, profile: ProfilePaths, n: int, seed: int,
                 check_each: bool = False) -> TrialStats:
    """``n`` runs of ``library add`` killed at seeded moments (a file edited between some),
    then a run to the end: every file indexed exactly once.  ``check_each``: also open every
    store after each kill."""
    rng = random.Random(seed)
    folder = tmp_path / "notes"
    corpus(folder, rng)
    home = profile.home.root
    stats = TrialStats("indexing", seed)
    for trial in range(n):
        if trial % 3 == 2:  # the user edits a file between runs
            victim = folder / f"note{rng.randrange(N_FILES):03d}.md"
            victim.write_text(victim.read_text() + f"\n\nEdited in trial {trial}.")
        delay = rng.uniform(0.0, 2.5)
        code = kill_during_indexing(home, folder, delay)
        stats.trials += 1
        stats.kill_moments.append(f"indexing +{delay:.2f} s")
        stats.killed += code == -signal.SIGKILL
        if check_each:
            check_library_opens(profile)
            stats.survived += 1
    assert stats.killed >= 1, "no run was killed before it finished: the test proved nothing"
    lib = Library(profile)
    try:
        report = lib.add_job([folder]).execute()
        assert report.errors == 0 and report.skipped == 0
        check_exactly_once(lib, folder)
    finally:
        lib.close()
    if not check_each:
        stats.survived = stats.trials  # the final check covers them all
    return stats

