"""kill -9 at seeded random moments during indexing, adapter training and the evaluation.

Each trial starts the real ``inkwell`` CLI in a fresh process, SIGKILLs it (with
the training worker it started, or alone) after a seeded delay, and then opens every
store of the data dir: the library's manifest and Chroma, the adapter list with
every adapter's files, the evaluation's per-user results.  After the trials the
same command runs to the end and its result is compared with a clean run's.

The default run does 2-3 trials per kind (indexing's are in
``tests/library/test_crash.py``); ``-m slow`` does 20 per kind and writes the
figures to ``benchmarks/results/crash_trials.json``.  Two Inkwell processes on
the same data dir are tested here too: the second one refuses with a clear
message instead of interleaving writes.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import random
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.adapters.store import STORE_LOCK
from core.fsutil import atomic_write_json, read_json
from core.library import Library
from core.models import SMOLLM2
from core.paths import Home, ProfilePaths
from tests.crashkit import (
    REPO,
    TrialStats,
    check_adapters_load,
    check_json_files_open,
    check_library_opens,
    index_trials,
    kill_tree,
    kill_when,
    popen_cli,
    run_cli,
)

DATA = REPO / "tests" / "data"
RESULTS = REPO / "benchmarks" / "results" / "crash_trials.json"
LAMP = DATA / "commit_subject" / "sample_questions.json"
# ``inkwell adapter train`` with cheap settings (the CLI has no flags for them): one example a
# step, short sequences, a checkpoint after every step so that kills land between checkpoints.
TRAIN_SCRIPT = (
    "import sys, functools; import core.adapters.config as c; "
    "c.TrainConfig = functools.partial(c.TrainConfig, batch_size=1, max_len=48, r=4, "
    "checkpoint_every=1); from core.cli import main; sys.exit(main(sys.argv[1:]))"
)
TRAIN_STEPS = 3
EVAL_ARGS = ("eval", "--data", str(DATA / "commit_subject"), "--users", "2", "--max-queries", "1",
             "--steps", "1", "--max-tokens", "8", "--model", SMOLLM2)


@pytest.fixture(scope="module")
def crash_record() -> Iterator[list[TrialStats]]:
    """The slow tests' figures, written to ``benchmarks/results/crash_trials.json`` (one entry
    per job kind, kept from earlier runs for kinds not run this time)."""
    recorded: list[TrialStats] = []
    yield recorded
    if not recorded:
        return
    # The three kinds may run as separate pytest processes: merge under a lock.
    with open(Path(tempfile.gettempdir()) / "inkwell-crash-trials.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_json(RESULTS, default=None) or {}
        for stats in recorded:
            data[stats.kind] = {
                **stats.as_dict(),
                "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            }
        atomic_write_json(RESULTS, data)


def _profile(root: Path) -> ProfilePaths:
    return Home.resolve(root).ensure().profile("default").ensure()


# -- indexing --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_kill_9_indexing_20_seeded_trials(tmp_path: Path, profile,
                                          crash_record: list[TrialStats]) -> None:
    stats = index_trials(tmp_path, profile, n=20, seed=20, check_each=True)
    crash_record.append(stats)
    assert stats.survived == stats.trials == 20


# -- adapter training -----------------------------------------------------------------------------

def _train(home: Path, log: Path):
    args = ["adapter", "train", "--lamp", str(LAMP), "--steps", str(TRAIN_STEPS), "--name",
            "crash", "--model", SMOLLM2]
    return popen_cli(home, *args, script=TRAIN_SCRIPT, stderr_file=log)


_STEP_LINE = re.compile(r"^train: (\d+)/(\d+) .*loss=")


def _first_step(log: Path) -> int | None:
    """The first optimizer step a run reported (its progress lines carry the loss)."""
    for line in log.read_text(errors="replace").splitlines():
        m = _STEP_LINE.match(line)
        if m:
            return int(m.group(1))
    return None


def _checkpoints(profile: ProfilePaths) -> list[Path]:
    from core.adapters.checkpoint import SIDECAR

    return list(profile.training_dir.glob(f"*/{SIDECAR}"))


def _checkpoint_step(profile: ProfilePaths) -> int:
    """The step of the unfinished job's checkpoint (0: none); it must always load."""
    from core.adapters import checkpoint

    steps = [0]
    for sidecar in _checkpoints(profile):
        loaded = checkpoint.load(sidecar.parent, "torch")
        assert loaded is not None, f"{sidecar}: the checkpoint a kill left does not load"
        steps.append(loaded.step)
    return max(steps)


def _weights(record: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from core.adapters.lora import read_peft

    return read_peft(Path(record["dir"]) / "peft").modules


def _training_phases(profile: ProfilePaths, log: Path) -> dict[str, tuple[Any, float]]:
    """Moments of a training run to kill in: (when it has begun, up to how many seconds on)."""
    started = time.time()

    def new_checkpoint() -> bool:
        return any(p.stat().st_mtime > started for p in _checkpoints(profile))

    def staging() -> bool:
        return any(p.name.startswith(".staging-") for p in profile.adapters_dir.iterdir())

    return {
        "start-up": (lambda: True, 8.0),
        "loading the base": (lambda: "loading the base model" in log.read_text(), 4.0),
        "training steps": (new_checkpoint, 2.0),
        "publishing": (staging, 0.2),
    }


def _hidden_entries(profile: ProfilePaths) -> list[str]:
    """Hidden entries of the adapter store other than its (empty) lock file."""
    return [p.name for p in profile.adapters_dir.iterdir()
            if p.name.startswith(".") and p.name != STORE_LOCK]


def training_trials(tmp_path: Path, n: int, seed: int, compare: bool,
                    phases: list[str] | None = None) -> TrialStats:
    """``n`` seeded kills of ``inkwell adapter train``; each one must leave nothing broken
    listed and a checkpoint the next run resumes from.  ``compare``: the final adapter must
    equal a clean run's (training is deterministic, resuming must not change it).
    ``phases``: kill in these phases, in turn (default: a seeded random phase each time)."""
    home = tmp_path / "home"
    profile = _profile(home)
    rng = random.Random(seed)
    stats = TrialStats("adapter training", seed)
    for trial in range(n):
        resume_from = _checkpoint_step(profile)
        log = tmp_path / f"trial{trial}.log"
        proc = _train(home, log)
        phase = phases[trial % len(phases)] if phases else rng.choice(
            sorted(_training_phases(profile, log)))
        ready, most = _training_phases(profile, log)[phase]
        extra = round(rng.uniform(0, most), 2)
        # Odd trials kill the CLI alone (a user's kill -9): its worker must notice, save a
        # checkpoint and exit by itself.  Even trials kill both at once (power loss, OOM).
        only_cli = trial % 2 == 1
        killed = kill_when(proc, ready, extra, only_parent=only_cli)
        stats.trials += 1
        stats.killed += killed
        stats.kill_moments.append(f"{phase} +{extra} s{' (CLI only)' if only_cli else ''}")
        if only_cli:  # the orphaned worker wrote to the same log: it stopped cleanly
            assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
        first = _first_step(log)
        if first is not None:  # it trained: from the checkpoint on, not from scratch
            assert first == resume_from + 1, (first, resume_from, log.read_text()[-2000:])
        listed = check_adapters_load(profile)  # nothing half-written is ever listed
        _checkpoint_step(profile)  # the checkpoint a kill left loads
        leftovers = _hidden_entries(profile)
        assert all(p.startswith((".staging-", ".trash-")) for p in leftovers), leftovers
        if listed:  # finished (before the kill, or by an orphaned worker): start over
            assert killed or proc.returncode == 0, log.read_text()[-3000:]
            run_cli(home, "adapter", "delete", listed[0]["id"])
            stats.notes.append(f"trial {trial}: the adapter was finished")
        stats.survived += 1
    resume_from = _checkpoint_step(profile)
    final = _train(home, tmp_path / "final.log")
    assert final.wait(timeout=7200) == 0, (tmp_path / "final.log").read_text()[-3000:]
    assert _first_step(tmp_path / "final.log") == resume_from + 1
    stats.notes.append(f"the final run resumed from step {resume_from}")
    (record,) = check_adapters_load(profile)
    assert record["steps"] == TRAIN_STEPS
    assert not _hidden_entries(profile)
    assert not profile.training_dir.exists() or not any(profile.training_dir.iterdir())
    if compare:
        clean = _train(tmp_path / "clean", tmp_path / "clean.log")
        assert clean.wait(timeout=7200) == 0, (tmp_path / "clean.log").read_text()[-3000:]
        (reference,) = check_adapters_load(_profile(tmp_path / "clean"))
        assert record["id"] == reference["id"]
        ours, theirs = _weights(record), _weights(reference)
        assert ours.keys() == theirs.keys()
        for name, (a, b) in theirs.items():
            assert np.allclose(ours[name][0], a, atol=1e-5)
            assert np.allclose(ours[name][1], b, atol=1e-5)
    return stats


def test_kill_9_training_then_resume(tmp_path: Path) -> None:
    # With its worker at start-up; the CLI alone mid-training (its worker checkpoints and
    # stops); with its worker while publishing.
    stats = training_trials(tmp_path, n=3, seed=3, compare=False,
                            phases=["start-up", "training steps", "publishing"])
    assert stats.survived == 3 and stats.killed >= 2


@pytest.mark.slow
def test_kill_9_training_20_seeded_trials(tmp_path: Path,
                                          crash_record: list[TrialStats]) -> None:
    stats = training_trials(tmp_path, n=20, seed=20, compare=True)
    crash_record.append(stats)
    assert stats.survived == stats.trials == 20 and stats.killed >= 10


# -- evaluation -----------------------------------------------------------------------------------

def _eval(home: Path, out: Path, log: Path, methods: str):
    return popen_cli(home, *EVAL_ARGS, "--methods", methods, "--out", str(out), "--json",
                     stderr_file=log)


def _user_files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Finished users' result files: their checkpoints (mtime, content)."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "users").glob("*.json")}


def _comparable(out: Path) -> dict[str, Any]:
    """What a run computed, without its timings and paths."""
    results = read_json(out / "results.json")
    users = {}
    for name, (_mtime, raw) in _user_files(out).items():
        user = json.loads(raw)
        adapter = user["adapter"] and {k: user["adapter"][k] for k in ("id", "steps", "n_train")}
        users[name] = {"queries": user["queries"], "adapter": adapter}
    return {"systems": results["systems"], "users": users}


def _eval_phases(out: Path, log: Path) -> dict[str, tuple[Any, float]]:
    """Moments of this run to kill in: (when it has begun, up to how many seconds on)."""
    started = time.time()

    def saved_a_user() -> bool:  # by this run: users finished earlier are only reused
        return any(p.stat().st_mtime > started for p in (out / "users").glob("*.json"))

    return {
        "start-up": (lambda: True, 8.0),
        "a user's work": (lambda: ": starting" in log.read_text(), 15.0),
        "after saving a user": (saved_a_user, 5.0),
        "writing the results": (lambda: "2/2" in log.read_text(), 1.0),
    }


def eval_trials(tmp_path: Path, n: int, seed: int, methods: str,
                phases: list[str] | None = None) -> TrialStats:
    """``n`` seeded kills of ``inkwell eval``: finished users are never recomputed, every
    results file and store opens, and the final results equal a clean run's.
    ``phases``: kill in these phases, in turn (default: a seeded random phase each time)."""
    home, out = tmp_path / "home", tmp_path / "out"
    rng = random.Random(seed)
    stats = TrialStats("evaluation", seed)
    stats.notes.append(f"inkwell {' '.join(EVAL_ARGS)} --methods {methods}")
    reused = 0
    restart = False
    for trial in range(n):
        if restart:  # the last trial finished the run: start over
            for path in (out / "users").glob("*.json"):
                path.unlink()
        before = _user_files(out) if (out / "users").is_dir() else {}
        log = tmp_path / f"trial{trial}.log"
        proc = _eval(home, out, log, methods)
        phase = phases[trial % len(phases)] if phases else rng.choice(
            sorted(_eval_phases(out, log)))
        ready, most = _eval_phases(out, log)[phase]
        extra = round(rng.uniform(0, most), 2)
        killed = kill_when(proc, ready, extra)
        stats.trials += 1
        stats.killed += killed
        stats.kill_moments.append(f"{phase} +{extra} s")
        after = _user_files(out) if (out / "users").is_dir() else {}
        for name, seen in before.items():  # a finished user is reused, never rewritten
            assert after[name] == seen, name
        reused += len(before)
        if out.is_dir():
            check_json_files_open(out)
            for library in (out / "work").glob("*/lib*/"):
                check_library_opens(Home.resolve(library).profile("user"))
            if (out / "adapters").is_dir():
                check_adapters_load(Home.resolve(out / "adapters").profile("eval"))
        if not killed:
            assert proc.returncode == 0, log.read_text()[-3000:]
        restart = not killed
        stats.survived += 1
    stats.notes.append(f"{reused} finished users' results were reused, none rewritten")
    stats.reused = reused
    before = _user_files(out) if (out / "users").is_dir() else {}
    final = _eval(home, out, tmp_path / "final.log", methods)
    assert final.wait(timeout=7200) == 0, (tmp_path / "final.log").read_text()[-3000:]
    after = _user_files(out)
    assert all(after[name] == seen for name, seen in before.items())
    clean = _eval(tmp_path / "clean-home", tmp_path / "clean", tmp_path / "clean.log", methods)
    assert clean.wait(timeout=7200) == 0, (tmp_path / "clean.log").read_text()[-3000:]
    assert _comparable(out) == _comparable(tmp_path / "clean")
    return stats


def test_kill_9_evaluation_then_resume(tmp_path: Path) -> None:
    # Killed with one user finished (reused by the next run), then while the next one runs.
    stats = eval_trials(tmp_path, n=2, seed=5, methods="none,rag",
                        phases=["after saving a user", "a user's work"])
    assert stats.survived == 2 and stats.killed >= 1 and stats.reused >= 1


@pytest.mark.slow
def test_kill_9_evaluation_20_seeded_trials(tmp_path: Path,
                                            crash_record: list[TrialStats]) -> None:
    stats = eval_trials(tmp_path, n=20, seed=20, methods="none,rag,peft")
    crash_record.append(stats)
    assert stats.survived == stats.trials == 20 and stats.killed >= 10


# -- two processes on one data dir ----------------------------------------------------------------

def test_two_library_adds_coordinate_or_refuse(tmp_path: Path, profile) -> None:
    """Two ``library add`` started together on one library: one takes the write lock, the
    other waits for it (5 s), then proceeds or refuses with a clear message; nothing is
    interleaved, and running the refused one again completes."""
    home = profile.home.root
    folders, procs, logs = [], [], []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(40):
            (folder / f"{name}{i:02d}.md").write_text(
                f"{name} note {i} about token{name}{i}q.\n\n" + "river stone lamp " * 30)
        folders.append(folder)
        logs.append(tmp_path / f"{name}.log")
    for folder, log in zip(folders, logs, strict=True):
        procs.append(popen_cli(home, "library", "add", str(folder), stderr_file=log))
    codes = [p.wait(timeout=3600) for p in procs]
    texts = [log.read_text() for log in logs]
    assert 0 in codes and set(codes) <= {0, 2}, (codes, texts)
    for code, text, folder in zip(codes, texts, folders, strict=True):
        assert "Traceback" not in text, text[-3000:]
        if code == 2:  # it found the other holding the lock: says so, changes nothing
            assert "another Inkwell process is changing this library" in text, text
            run_cli(home, "library", "add", str(folder))
    lib = Library(profile)
    try:
        assert lib.status().counts == {"indexed": 80}
        assert sorted(d.source for d in lib.documents()) == sorted(
            str(p) for f in folders for p in f.iterdir())
        assert lib.store.all_ids() == lib.manifest.all_chunk_ids()
    finally:
        lib.close()


def test_second_training_of_the_same_adapter_refuses(tmp_path: Path) -> None:
    """``adapter train`` while the same training runs: the second refuses, naming the reason,
    and the first one's checkpoint and the adapter list are untouched."""
    home = tmp_path / "home"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _train(home, first_log)
    deadline = time.monotonic() + 900
    while "loading the base model" not in first_log.read_text():  # the worker holds the job
        assert first.poll() is None, first_log.read_text()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    second = _train(home, second_log)
    try:
        assert second.wait(timeout=900) == 2, second_log.read_text()[-3000:]
        text = second_log.read_text()
        assert "another Inkwell process is already training this adapter" in text, text
        assert "Traceback" not in text
        assert first.poll() is None  # the first one carries on
    finally:
        kill_tree(first)
    assert check_adapters_load(_profile(home)) == []


def test_a_kill_after_publishing_leaves_no_training_text(tmp_path: Path, smollm2) -> None:
    """Killed between publishing the adapter and removing its working folder: the next run
    finds the adapter, and the folder (the examples' text in request.json) goes too."""
    from core.adapters.config import TrainConfig
    from core.adapters.data import examples_from_lamp_file
    from core.adapters.job import REQUEST, TrainJob
    from core.adapters.lora import LoraWeights
    from core.adapters.store import AdapterRecord, AdapterStore

    profile = _profile(tmp_path / "home")
    examples, _user, _task = examples_from_lamp_file(LAMP)
    job = TrainJob(profile, smollm2, examples, TrainConfig(steps=1), name="leftover")
    a = np.zeros((4, 576), np.float32)
    weights = LoraWeights(4, 8.0, {"model.layers.0.self_attn.q_proj": (a, a.T.copy())})
    AdapterStore(profile).publish(AdapterRecord(
        id=job.adapter_id, name="leftover", model=smollm2.name, architecture="llama",
        base_sha256=smollm2.sha256, created="2026-01-01T00:00:00Z", source="trained:torch",
        r=4, alpha=8.0, target_modules=("q_proj",), fingerprint=job.fingerprint), weights,
        smollm2)
    job.job_dir.mkdir(parents=True)
    (job.job_dir / REQUEST).write_text(json.dumps({"examples": [e.to_json() for e in examples]}))
    record = job.execute()
    assert record.id == job.adapter_id
    assert not job.job_dir.exists()


def test_a_killed_writers_temp_files_do_not_pile_up(tmp_path: Path) -> None:
    """A kill during an atomic write leaves ``.<name>.<random>.tmp`` (seen after the eval
    trials: ``.results.json.*.tmp``); the next write of that file removes old ones, and
    leaves alone a fresh one another process may be writing right now."""
    target = tmp_path / "results.json"
    old = tmp_path / ".results.json.killed1.tmp"
    fresh = tmp_path / ".results.json.writing.tmp"
    other = tmp_path / ".settings.json.killed2.tmp"
    for path in (old, fresh, other):
        path.write_text('{"half": ')
    two_hours_ago = time.time() - 7200
    for path in (old, other):
        os.utime(path, (two_hours_ago, two_hours_ago))
    atomic_write_json(target, {"whole": True})
    assert read_json(target) == {"whole": True}
    assert not old.exists() and fresh.exists() and other.exists()
