"""Training an adapter as a job: in-process (:class:`TrainJob`) or in a child process.

The evaluation trains one adapter per benchmark user in its own process with
:class:`TrainJob`, which reuses the loaded base between users and returns at
once when an adapter with the same data, settings and base already exists.
The CLI and the GUI use :class:`TrainProcessJob` / :func:`run_training_subprocess`:
the same job in a child process (:func:`worker_command`: ``python -m
core.adapters.worker``, or a frozen app's own executable), so cancel is real (the
worker checkpoints and exits), a crash cannot take the app down, and progress
arrives as JSON lines.

A job's working folder ``<profile>/training/<adapter id>/`` holds its request,
its spec (which documents it learns from) and its checkpoint; running the same
job again after a cancel, a kill or a full disk resumes from the checkpoint.
The folder is removed once the adapter is published.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from core.adapters.backends import TrainPlan, choose_backend, make_schedule
from core.adapters.base import check_trainable
from core.adapters.config import TrainConfig
from core.adapters.data import Example, fingerprint, split_train_val
from core.adapters.memory import check_training_fits
from core.adapters.store import (
    TRAINING_REQUEST,
    TRAINING_SPEC,
    AdapterRecord,
    AdapterStore,
    make_id,
)
from core.adapters.tokens import vocab_for
from core.errors import DataDirBusy, InkwellError, JobCancelled
from core.fsutil import atomic_write_json, ensure_private_dir
from core.jobs import Job, Progress
from core.locks import hold
from core.models import ModelInfo
from core.paths import ProfilePaths

__all__ = [
    "TrainConfig",
    "TrainJob",
    "TrainProcessJob",
    "run_training_subprocess",
    "worker_command",
]

REQUEST = TRAINING_REQUEST  # forgetting a document reads it too (AdapterStore.mark_stale)
TRAIN_WORKER_FLAG = "--train-worker"  # a frozen app's executable runs the worker with it
_CANCEL_GRACE_S = 30.0  # then the worker is killed; its last checkpoint still resumes


def _job_lock(job_dir: Path) -> contextlib.AbstractContextManager[bool]:
    """One process per job folder: a second run of the same job refuses instead of interleaving."""
    return hold(job_dir / ".lock",
                busy=f"{job_dir}: another Inkwell process is already training this adapter")


class TrainJob(Job[AdapterRecord]):
    """Train (or find) the adapter of ``examples`` on ``model``; returns its store record."""

    title = "Training adapter"

    def __init__(
        self,
        profile: ProfilePaths,
        model: ModelInfo,
        examples: Sequence[Example],
        config: TrainConfig | None = None,
        name: str | None = None,
        reuse: bool = True,
    ) -> None:
        super().__init__()
        self.profile = profile
        self.model = model
        self.examples = list(examples)
        self.config = config or TrainConfig()
        self.name = name or model.name
        self.reuse = reuse
        self.backend = choose_backend(self.config.backend)
        self.fingerprint = fingerprint(
            model.sha256,
            self.config.to_json(),
            self.backend.name,
            self.name,
            [e.to_json() for e in self.examples],
        )
        self.adapter_id = make_id(self.name, self.fingerprint)
        self.job_dir = profile.training_dir / self.adapter_id

    def prepare(self) -> None:
        """Refuse bad input before any heavy work: architecture, memory, too little data."""
        check_trainable(self.model)
        check_training_fits(self.model, self.config)
        c = self.config
        self.train_examples, self.val_examples = split_train_val(
            self.examples, c.val_fraction, c.max_val, c.min_examples
        )

    def write_request(self) -> Path:
        """Write what the training worker needs to run this job (``core.adapters.worker``).

        The request lives in the job's folder, so a training stopped before its adapter
        is published can be restarted from it by either front end, and forgetting a
        document can find and erase the text it holds.
        """
        ensure_private_dir(self.job_dir)
        request = self.job_dir / REQUEST
        atomic_write_json(
            request,
            {
                "model": self.model.to_json(),
                "config": self.config.to_json(),
                "name": self.name,
                "examples": [e.to_json() for e in self.examples],
            },
        )
        return request

    def run(self) -> AdapterRecord:
        store = AdapterStore(self.profile)
        existing = store.find(self.adapter_id)
        if self.reuse and existing is not None and not existing.stale:
            self._discard_job_dir()
            self.report(1, 1, f"already trained: {existing.id}")
            return existing
        started = time.monotonic()
        with _job_lock(self.job_dir):
            doc_ids = list(dict.fromkeys(e.doc_id for e in self.examples))
            atomic_write_json(
                self.job_dir / TRAINING_SPEC, {"adapter_id": self.adapter_id, "doc_ids": doc_ids}
            )
            plan = self._plan()
            self.report(0, plan.total_steps, "loading the base model")
            self.backend.prepare(self.model, self.profile.home.cache_dir, self.config)
            try:
                outcome = self.backend.train(
                    plan, self.job_dir, self._on_step, self.check_cancelled
                )
                weights = self.backend.export()
            finally:
                self.backend.close()
            self.check_cancelled()
            record = AdapterRecord(
                id=self.adapter_id,
                name=self.name,
                model=self.model.name,
                architecture=self.model.architecture,
                base_sha256=self.model.sha256,
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                source=f"trained:{self.backend.name}",
                r=weights.r,
                alpha=weights.alpha,
                target_modules=tuple(weights.target_modules),
                fingerprint=self.fingerprint,
                config=self.config.to_json(),
                n_train=len(self.train_examples),
                n_val=len(self.val_examples),
                steps=outcome.steps,
                train_loss=outcome.train_loss,
                val_loss=outcome.val_loss,
                val_loss_base=outcome.val_loss_base,
                duration_s=round(time.monotonic() - started, 2),
                doc_ids=tuple(doc_ids),
                doc_hashes={e.doc_id: e.content_hash for e in self.examples if e.content_hash},
            )
            record = store.publish(record, weights, self.model)
        shutil.rmtree(self.job_dir, ignore_errors=True)
        return record

    def _discard_job_dir(self) -> None:
        """Remove the working folder of a job whose adapter already exists.

        It is left by a kill between publishing and clean-up, and by the request a
        :class:`TrainProcessJob` writes before its worker finds the adapter; either way it
        holds the training examples' text, which must not outlive the job.
        """
        if not self.job_dir.exists():
            return
        with contextlib.suppress(DataDirBusy), _job_lock(self.job_dir):
            shutil.rmtree(self.job_dir, ignore_errors=True)

    def _plan(self) -> TrainPlan:
        vocab = vocab_for(self.model)
        c = self.config
        train = [vocab.encode(e, c.max_len) for e in self.train_examples]
        val = [vocab.encode(e, c.max_len) for e in self.val_examples]
        steps = c.planned_steps(len(train))
        return TrainPlan(c, train, val, make_schedule(len(train), steps, c.batch_size, c.seed))

    def _on_step(self, s: Any) -> None:
        self.report(s.step, s.total, "", loss=s.loss, examples_per_s=s.examples_per_s)


# -- the child process ---------------------------------------------------------------------------


def progress_event(p: Progress) -> dict[str, Any]:
    return {
        "event": "progress",
        "done": p.done,
        "total": p.total,
        "message": p.message,
        "eta_s": p.eta_s,
        "metrics": p.metrics,
    }


def _reader(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def worker_command(home: Path, profile: str, request: Path) -> list[str]:
    """The training child's command line, for the CLI and the desktop alike.

    From a source install it is ``python -m core.adapters.worker``; a frozen
    (PyInstaller) app has no ``python``, so it runs its own executable with
    ``--train-worker``, which the app's entry point hands to the worker first thing.
    """
    if getattr(sys, "frozen", False):
        program = [sys.executable, TRAIN_WORKER_FLAG]
    else:
        program = [sys.executable, "-m", "core.adapters.worker"]
    return [*program, "--home", str(home), "--profile", profile, "--request", str(request)]


class TrainProcessJob(Job[AdapterRecord]):
    """:class:`TrainJob` run by ``python -m core.adapters.worker``; same arguments.

    ``cancel()`` makes the worker save a checkpoint and exit (SIGTERM; SIGKILL
    after a grace period); the next run of the same job resumes from it.
    """

    title = "Training adapter"

    def __init__(
        self,
        profile: ProfilePaths,
        model: ModelInfo,
        examples: Sequence[Example],
        config: TrainConfig | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.inner = TrainJob(profile, model, examples, config, name)
        self.process: subprocess.Popen[str] | None = None

    def prepare(self) -> None:
        self.inner.prepare()  # clear errors here, before a process is started

    def run(self) -> AdapterRecord:
        job = self.inner
        request = job.write_request()
        cmd = worker_command(job.profile.home.root, job.profile.name, request)
        env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        # Its own session: a Ctrl-C in the terminal reaches the CLI, which then cancels cleanly.
        self.process = proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
        )
        assert proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        result: dict[str, Any] = {}
        cancelled_at: float | None = None
        try:
            while True:
                if self.cancel_token.cancelled and cancelled_at is None:
                    cancelled_at = time.monotonic()
                    proc.send_signal(signal.SIGTERM)
                if cancelled_at is not None and time.monotonic() - cancelled_at > _CANCEL_GRACE_S:
                    proc.kill()
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if line is None:
                    break
                self._relay(line, result)
        except KeyboardInterrupt:
            self.cancel()
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            raise JobCancelled() from None
        finally:
            rc = proc.wait()
        if "adapter" in result:
            return AdapterRecord.from_json(result["adapter"], Path(result["adapter"]["dir"]))
        if result.get("cancelled") or self.cancel_token.cancelled:
            raise JobCancelled()
        if "error" in result:
            raise InkwellError(result["error"])
        raise InkwellError(
            f"the training process stopped unexpectedly (exit status {rc}); run the same "
            "command again to resume from its last checkpoint"
        )

    def _relay(self, line: str, result: dict[str, Any]) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return  # not a protocol line
        kind = event.get("event")
        if kind == "progress":
            self.report(
                event["done"], event["total"], event.get("message", ""), **event.get("metrics", {})
            )
        elif kind == "done":
            result["adapter"] = event["adapter"]
        elif kind == "error":
            result["error"] = event["message"]
        elif kind == "cancelled":
            result["cancelled"] = True


def run_training_subprocess(
    profile: ProfilePaths,
    model: ModelInfo,
    examples: Sequence[Example],
    config: TrainConfig | None = None,
    name: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> AdapterRecord:
    """Train in a child process and wait for it; raises ``JobCancelled`` on Ctrl-C."""
    job = TrainProcessJob(profile, model, examples, config, name)
    if on_progress is not None:
        job.on_progress(on_progress)
    return job.execute()
