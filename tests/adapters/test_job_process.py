"""The training child process: progress, real cancel, kill -9, resume; never a broken adapter."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from core.adapters import job as job_module
from core.adapters.checkpoint import SIDECAR
from core.adapters.job import TrainJob, TrainProcessJob
from core.adapters.lora import read_peft
from core.adapters.protocol import WORKER_LOG, Finished, decode, start_worker
from core.adapters.store import AdapterStore
from core.errors import InkwellError, JobCancelled
from core.jobs import Progress
from core.paths import Home
from tests.adapters.conftest import FAST

CONFIG = replace(FAST, steps=4, max_len=64)


def _events(job: TrainProcessJob) -> list[Progress]:
    seen: list[Progress] = []
    job.on_progress(seen.append)
    return seen


def _without_fcntl_or_signals(folder, monkeypatch) -> None:
    """As on Windows: no ``fcntl`` in the worker (a sitecustomize hides it), and no signal
    may be sent to it (cancel must travel on its stdin)."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text('import sys\nsys.modules["fcntl"] = None\n')
    path = [str(folder), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))

    def no_signals(self, sig):
        raise AssertionError(f"signal {sig} sent to the training worker")

    monkeypatch.setattr(subprocess.Popen, "send_signal", no_signals)
    # Nor a kill after the grace: on a loaded machine one step can outlast it.
    monkeypatch.setattr(job_module, "CANCEL_GRACE_S", 900.0)


def test_cancel_keeps_a_checkpoint_and_the_next_run_resumes(
    profile, smollm2, commit_examples, tmp_path, monkeypatch
):
    with monkeypatch.context() as windows_like:
        _without_fcntl_or_signals(tmp_path / "no-fcntl", windows_like)
        _cancelled_run(profile, smollm2, commit_examples)
    _resumed_run(profile, smollm2, commit_examples)


def _cancelled_run(profile, smollm2, commit_examples) -> None:
    job = TrainProcessJob(profile, smollm2, commit_examples, CONFIG, name="cancel")
    seen = _events(job)
    job.on_progress(lambda p: job.cancel() if p.done >= 1 and p.metrics else None)
    with pytest.raises(JobCancelled):
        job.execute()
    assert AdapterStore(profile).list() == []  # nothing half-made is listed
    assert (job.inner.job_dir / SIDECAR).exists()
    assert any(p.metrics.get("loss") for p in seen)  # step, loss and examples/s arrived
    log = (profile.home.logs_dir / WORKER_LOG).read_text(encoding="utf-8")
    assert "only soft file lock" in log  # the worker really ran without fcntl


def _resumed_run(profile, smollm2, commit_examples) -> None:
    again = TrainProcessJob(profile, smollm2, commit_examples, CONFIG, name="cancel")
    resumed = _events(again)
    record = again.execute()
    first_step = next(p for p in resumed if p.metrics)
    assert first_step.done >= 2  # started from the checkpoint, not from step 1
    assert [r.id for r in AdapterStore(profile).list()] == [record.id]
    assert not again.inner.job_dir.exists()


@pytest.mark.slow  # three trainings; the default run covers the child process through cancel
def test_killed_worker_leaves_nothing_listed_and_resumes_to_the_same_adapter(
    profile, smollm2, commit_examples, tmp_path
):
    job = TrainProcessJob(profile, smollm2, commit_examples, CONFIG, name="killed")
    ckpt = job.inner.job_dir / SIDECAR

    def kill_after_first_checkpoint() -> None:
        while not ckpt.exists():
            time.sleep(0.05)
        assert job.process is not None
        os.kill(job.process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_after_first_checkpoint, daemon=True)
    killer.start()
    with pytest.raises(InkwellError, match=r"stopped unexpectedly.*resume"):
        job.execute()
    killer.join()
    assert AdapterStore(profile).list() == []
    record = TrainProcessJob(profile, smollm2, commit_examples, CONFIG, name="killed").execute()
    assert record.steps == 4 and record.gguf_path.is_file()
    # Training is deterministic, and resuming does not change the result.
    elsewhere = Home.resolve(tmp_path / "elsewhere").ensure().profile("default").ensure()
    uninterrupted = TrainJob(elsewhere, smollm2, commit_examples, CONFIG, name="killed").execute()
    assert uninterrupted.id == record.id
    resumed, straight = read_peft(record.peft_dir), read_peft(uninterrupted.peft_dir)
    for name, (a, b) in straight.modules.items():
        assert np.allclose(resumed.modules[name][0], a, atol=1e-6)
        assert np.allclose(resumed.modules[name][1], b, atol=1e-6)


def test_errors_in_the_worker_come_back_as_user_errors(profile, smollm2, commit_examples):
    job = TrainProcessJob(profile, smollm2, commit_examples, CONFIG, name="busy")
    job.inner.job_dir.mkdir(parents=True)
    import fcntl

    with open(job.inner.job_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # as if another process were training this adapter
        with pytest.raises(InkwellError, match="another Inkwell process is already training"):
            job.execute()


def test_a_core_package_in_the_working_directory_is_never_loaded(profile, tmp_path, monkeypatch):
    """The worker runs with -P in the data dir: a planted ``core/`` in the user's current
    folder neither shadows Inkwell's modules nor runs."""
    marker = tmp_path / "planted-code-ran"
    planted = tmp_path / "somewhere" / "core"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(planted.parent)
    proc = start_worker(profile, tmp_path / "no-such-request.json")
    out, _ = proc.communicate(timeout=300)
    events = [decode(line) for line in out.splitlines()]
    assert len(events) == 1 and isinstance(events[0], Finished), out
    assert events[0].kind == "error" and "cannot read the training request" in events[0].message
    assert not marker.exists()
