"""Training an adapter as a job: in-process (:class:`TrainJob`) or in a child process.

The evaluation trains one adapter per benchmark user in its own process with
:class:`TrainJob`, which reuses the loaded base between users and returns at
once when an adapter with the same data, settings and base already exists.
The CLI and the GUI use :class:`TrainProcessJob` / :func:`run_training_subprocess`:
the same job in a child process (the training worker; :mod:`core.adapters.protocol`
says how it is started, how it reports and how it is stopped), so cancel is real
(the worker checkpoints and exits), a crash cannot take the app down, and
progress arrives as JSON lines.

A job's working folder ``<profile>/training/<adapter id>/`` holds its request,
its spec (which documents it learns from) and its checkpoint; running the same
job again after a cancel, a kill or a full disk resumes from the checkpoint.
The folder is removed once the adapter is published.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from core.adapters.backends import StepReport, TrainPlan, choose_backend, make_schedule
from core.adapters.base import check_trainable
from core.adapters.config import TrainConfig
from core.adapters.data import Example, fingerprint, split_train_val
from core.adapters.memory import MemoryPlan, fit_training
from core.adapters.protocol import (
    CANCEL_GRACE_S,
    WORKER_LOG,
    Event,
    Finished,
    ask_to_stop,
    decode,
    start_worker,
)
from core.adapters.store import (
    TRAINING_LOCK,
    TRAINING_REQUEST,
    TRAINING_SPEC,
    AdapterRecord,
    AdapterStore,
    make_id,
)
from core.adapters.tokens import vocab_for
from core.errors import DataDirBusy, DocumentsForgotten, InkwellError, JobCancelled
from core.fsutil import atomic_write_json, ensure_private_dir
from core.jobs import Job, Progress
from core.locks import hold
from core.models import ModelInfo
from core.paths import ProfilePaths
from core.tombstones import forgotten_among

__all__ = [
    "TrainConfig",
    "TrainJob",
    "TrainProcessJob",
    "run_training_subprocess",
]

REQUEST = TRAINING_REQUEST  # forgetting a document reads it too (AdapterStore.mark_stale)


def _job_lock(job_dir: Path) -> contextlib.AbstractContextManager[bool]:
    """One process per job folder: a second run of the same job refuses instead of interleaving."""
    return hold(job_dir / TRAINING_LOCK,
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
        available: int | None = None,
    ) -> None:
        """``available``: the bytes to plan the training's memory for instead of what the
        device has free now (benchmarks and tests that play a smaller machine)."""
        super().__init__()
        self.available = available
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
        self.doc_ids = list(dict.fromkeys(e.doc_id for e in self.examples))

    def check_input(self) -> None:
        """Refuse bad input before any work: an architecture it cannot train, too little data."""
        check_trainable(self.model)
        c = self.config
        self.train_examples, self.val_examples = split_train_val(
            self.examples, c.val_fraction, c.max_val, c.min_examples
        )

    def prepare(self) -> None:
        """:meth:`check_input`, then the memory plan (dtype, gradient checkpointing, examples
        per pass, length) — or a refusal — before the base model is loaded.  The training
        follows the plan and the adapter's record keeps it."""
        self.check_input()
        self.memory: MemoryPlan = fit_training(
            self.model, self.config, self.backend.name, self.available
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
            doc_ids = self.doc_ids
            atomic_write_json(
                self.job_dir / TRAINING_SPEC, {"adapter_id": self.adapter_id, "doc_ids": doc_ids}
            )
            plan = self._plan()
            self.report(0, plan.total_steps, f"loading the base model; {self.memory.describe()}")
            try:
                self._check_not_forgotten()
                self.backend.prepare(
                    self.model, self.profile.home.cache_dir, self.config, self.memory
                )
                outcome = self.backend.train(
                    plan, self.job_dir, self._on_step, self.check_cancelled
                )
                weights = self.backend.export()
            except DocumentsForgotten:
                # Its folder holds the forgotten text (the request) and what was learnt
                # from it (checkpoints): nothing of it may be resumed or kept.
                shutil.rmtree(self.job_dir, ignore_errors=True)
                raise
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
                memory=self.memory.to_json(),
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
        c, max_len = self.config, self.memory.max_len
        train = [vocab.encode(e, max_len) for e in self.train_examples]
        val = [vocab.encode(e, max_len) for e in self.val_examples]
        steps = c.planned_steps(len(train))
        return TrainPlan(c, train, val, make_schedule(train, steps, c.batch_size, c.seed))

    def _on_step(self, s: StepReport) -> None:
        self.report(s.step, s.total, "", loss=s.loss, examples_per_s=s.examples_per_s)
        self._check_not_forgotten()

    def _check_not_forgotten(self) -> None:
        """Stop if the user forgot a document this job learns from (:mod:`core.tombstones`)."""
        gone = forgotten_among(self.profile, self.doc_ids)
        if gone:
            raise DocumentsForgotten(
                f"training stopped: {len(gone)} of the documents it learns from "
                "were forgotten meanwhile; its working files were removed"
            )


# -- the child process ---------------------------------------------------------------------------


def _read_events(stream: IO[str], events: queue.Queue[Event | None]) -> None:
    for line in stream:
        event = decode(line)
        if event is not None:
            events.put(event)
    events.put(None)


class TrainProcessJob(Job[AdapterRecord]):
    """:class:`TrainJob` run by the training worker (:mod:`core.adapters.protocol`); same arguments.

    ``cancel()`` makes the worker save a checkpoint and exit (killed after a grace
    period); the next run of the same job resumes from it.  The CLI runs this job
    directly, the desktop on its job worker thread, like indexing.
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
        # Clear input errors here, before a process is started.  The memory plan is the
        # worker's: it asks torch about the device, and this process (the app, the CLI) must
        # not load torch; a refusal reaches it as the worker's error, before any training.
        self.inner.check_input()

    def run(self) -> AdapterRecord:
        job = self.inner
        request = job.write_request()
        try:
            self.process = proc = start_worker(job.profile, request)
        except OSError as exc:
            raise InkwellError(f"the training process could not be started ({exc})") from exc
        assert proc.stdout is not None
        events: queue.Queue[Event | None] = queue.Queue()
        threading.Thread(target=_read_events, args=(proc.stdout, events), daemon=True).start()
        finished: Finished | None = None
        asked_at: float | None = None
        try:
            while True:
                if self.cancel_token.cancelled and asked_at is None:
                    asked_at = time.monotonic()
                    ask_to_stop(proc)
                if asked_at is not None and time.monotonic() - asked_at > CANCEL_GRACE_S:
                    proc.kill()
                try:
                    event = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                if event is None:
                    break
                if isinstance(event, Progress):
                    self.report(event.done, event.total, event.message, **event.metrics)
                else:
                    finished = event
        except KeyboardInterrupt:
            self.cancel()
            ask_to_stop(proc)
            try:
                proc.wait(CANCEL_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise JobCancelled() from None
        finally:
            rc = proc.wait()
        if finished is not None and finished.kind == "done" and finished.adapter is not None:
            return AdapterRecord.from_json(finished.adapter, Path(finished.adapter["dir"]))
        if (finished is not None and finished.kind == "cancelled") or self.cancel_token.cancelled:
            raise JobCancelled()
        if finished is not None and finished.kind == "error":
            raise InkwellError(finished.message)
        log = job.profile.home.logs_dir / WORKER_LOG
        raise InkwellError(
            f"the training process stopped unexpectedly (exit status {rc}; details in {log}); "
            "start the same training again to resume from its last checkpoint"
        )


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
