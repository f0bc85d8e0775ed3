"""Runs the four methods (and two non-LLM floors) for each user case, resumably.

Cheap by design, because per-user training dominates the cost on a laptop:
the model is loaded once and adapters are hot-swapped; each user's adapter is
cached under the run folder by a hash of the model, the training settings and
the training items, so re-runs and resumed runs reuse it; each finished user's
predictions are written atomically, so an interrupted run resumes at the first
unfinished user without recomputing the others.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from core.adapters.config import TrainConfig
from core.documents import Document
from core.evaluation.cases import Query, UserCase
from core.fsutil import atomic_write_json, ensure_private_dir, read_json
from core.jobs import Job
from core.models import ModelInfo
from core.paths import Home
from core.prompts import spec_for, user_content
from core.runtime import ActiveAdapter, GenerationParams, get_runtime
from core.writer import METHODS, Method, Writer, WriteRequest

if TYPE_CHECKING:
    from core.library import Library

FLOORS = ("first-12-words", "nearest-title")


@dataclass(frozen=True)
class EvalConfig:
    methods: tuple[str, ...] = METHODS
    retriever: str = "bm25"
    k: int = 3
    prompt_format: str = "fewshot"
    max_tokens: int = 32
    seed: int = 0
    train_steps: int | None = None  # None: epochs scaled to the profile size
    train_epochs: float | None = None
    train_max_steps: int | None = None  # cap of the scaled policy (None: TrainConfig's)
    # The adapter learns from the newest part of the trainable profile (``inkwell eval
    # --fractions``: does PEFT's gain grow with the same user's data?).
    train_fraction: float = 1.0

    def fingerprint(self, model: ModelInfo) -> str:
        """What a cached user result depends on (a change re-runs the users)."""
        data = {**asdict(self), "model": model.sha256}
        if self.train_fraction == 1.0:
            del data["train_fraction"]  # runs from before fractions existed keep their cache
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def train_config(self) -> TrainConfig:
        """How each user's adapter is trained."""
        # Every user gets an adapter, however little they wrote (proposal authors can have
        # two older items): that is exactly the cold-start case the comparison is about.
        config = TrainConfig(
            seed=self.seed,
            steps=self.train_steps,
            epochs=self.train_epochs,
            min_examples=1,
        )
        if self.train_max_steps:
            config = replace(config, max_steps=self.train_max_steps)
        return config


class TrainedAdapter(NamedTuple):
    """A user's adapter, and what the results record about it."""

    adapter: ActiveAdapter
    summary: dict[str, Any]


@dataclass
class UserResult:
    user_id: str
    task: str
    profile_size: int
    fingerprint: str
    queries: list[dict[str, Any]] = field(default_factory=list)  # id, gold, predictions{method}
    adapter: dict[str, Any] | None = None
    seconds: float = 0.0


class _QueryLibraries:
    """A throw-away library holding exactly one query's profile at a time.

    Retrieval for a query may only see that query's profile (items strictly
    older than it).  When the next profile contains the current one the library
    is extended incrementally; otherwise a fresh one is built.
    """

    def __init__(self, work: Path) -> None:
        self.work = work
        self.library: Library | None = None
        self.ids: set[str] = set()
        self.count = 0

    def holding(self, docs: Sequence[Document]) -> Library:
        from core.library import Library

        ids = {d.doc_id for d in docs}
        if self.library is None or not self.ids <= ids:
            self.close()
            self.count += 1
            profile = Home(self.work / f"lib{self.count}").ensure().profile("user").ensure()
            self.library = Library(profile)
            self.ids = set()
        self.library.index_documents(docs)
        self.ids = ids
        return self.library

    def close(self) -> None:
        if self.library is not None:
            self.library.close()
            self.library = None


def newest(documents: Sequence[Document], fraction: float) -> Sequence[Document]:
    """The newest ``fraction`` of a chronological profile, rounded up (so at least one item)."""
    if fraction >= 1.0:
        return documents
    return documents[-math.ceil(fraction * len(documents)) :]


def first_words_floor(content: str, n: int = 12) -> str:
    first_line = next((line for line in content.splitlines() if line.strip()), "")
    return " ".join(first_line.split()[:n])


# Runs the users an evaluation still needs and yields each result as it finishes: in this
# process, one after the other (``in_process``), or one Ray task per user
# (``core.evaluation.distributed``).  The job writes every result as it arrives.
Executor = Callable[["EvalJob", Sequence[UserCase]], Iterator[UserResult]]


def in_process(job: EvalJob, cases: Sequence[UserCase]) -> Iterator[UserResult]:
    for case in cases:
        job.check_cancelled()
        yield job.evaluate_user(case)


class EvalJob(Job[list[UserResult]]):
    """Evaluates every case; a user's result file is its checkpoint."""

    title = "evaluation"

    def __init__(
        self,
        cases: Sequence[UserCase],
        model: ModelInfo,
        config: EvalConfig,
        out_dir: Path,
        finished_only: bool = False,
        executor: Executor | None = None,
        train_in_worker: bool = False,
    ) -> None:
        """``train_in_worker``: train each adapter in the training worker process (the one
        ``inkwell adapter train`` and the Adapter panel use), so a crash in torch cannot
        take the caller down and a cancel stops the training there; the desktop's advice
        does.  A batch evaluation trains in-process, reusing one loaded base."""
        super().__init__()
        self.cases = list(cases)
        self.model = model
        self.config = config
        self.out_dir = out_dir
        self.finished_only = finished_only  # report the cached users, compute none
        self.executor = executor or in_process
        self.train_in_worker = train_in_worker
        self.fingerprint = config.fingerprint(model)

    def _result_file(self, user_id: str) -> Path:
        safe = hashlib.sha256(user_id.encode()).hexdigest()[:16]
        return self.out_dir / "users" / f"{safe}.json"

    def cached(self, case: UserCase) -> UserResult | None:
        data = read_json(self._result_file(case.user_id))
        if not data or data.get("fingerprint") != self.fingerprint:
            return None
        return UserResult(**data)

    def run(self) -> list[UserResult]:
        ensure_private_dir(self.out_dir / "users")
        finished: dict[str, UserResult] = {}
        todo = []
        for case in self.cases:
            cached = self.cached(case)
            if cached is not None:
                finished[case.user_id] = cached
            elif not self.finished_only:
                todo.append(case)
        total = len(self.cases)
        self.report(len(finished), total, f"{len(finished)} users finished earlier")
        for result in self.executor(self, todo):
            atomic_write_json(self._result_file(result.user_id), asdict(result))
            finished[result.user_id] = result
            self.report(len(finished), total, f"user {result.user_id} done")
        return [finished[c.user_id] for c in self.cases if c.user_id in finished]

    # -- one user -------------------------------------------------------------------------------

    def evaluate_user(self, case: UserCase) -> UserResult:
        started = time.monotonic()
        methods = [Method(m) for m in self.config.methods]
        adapter = self._adapter(case) if any(m.adapts for m in methods) else None
        result = UserResult(case.user_id, case.task, case.profile_size, self.fingerprint)
        if adapter is not None:
            result.adapter = adapter.summary
        work = self.out_dir / "work" / hashlib.sha256(case.user_id.encode()).hexdigest()[:16]
        libraries = _QueryLibraries(work)
        answers: dict[str, dict[str, Any]] = {}
        try:
            # Smallest profile first: a later query's profile usually extends the earlier
            # one, so the same library grows instead of being rebuilt per query.
            for query in sorted(case.queries, key=lambda q: len(q.profile)):
                self.check_cancelled()
                library = libraries.holding(query.profile)
                answers[query.id] = self._run_query(case, query, library, adapter)
        finally:
            libraries.close()
            shutil.rmtree(work, ignore_errors=True)  # throw-away libraries
        result.queries = [answers[q.id] for q in case.queries]
        result.seconds = time.monotonic() - started
        return result

    def _run_query(
        self,
        case: UserCase,
        query: Query,
        library: Library,
        adapter: TrainedAdapter | None,
    ) -> dict[str, Any]:
        profile = library.profile
        writer = Writer(
            profile.home, profile, self.model, library=library, runtime=get_runtime(self.model)
        )
        spec = spec_for(case.task)
        predictions: dict[str, str] = {}
        for method_name in self.config.methods:
            method = Method(method_name)
            request = WriteRequest(
                query.input,
                case.task,
                method,
                adapter=adapter.adapter if (method.adapts and adapter) else None,
                retriever=self.config.retriever,
                k=self.config.k,
                prompt_format=self.config.prompt_format,
                params=GenerationParams(max_tokens=self.config.max_tokens, seed=self.config.seed),
            )
            predictions[method_name] = writer.answer(writer.prepare(request), self.cancel_token)
        content = user_content(spec, query.input)
        predictions["first-12-words"] = first_words_floor(content)
        nearest = library.search(content, k=1, retriever="bm25")
        predictions["nearest-title"] = nearest[0].title if nearest else ""
        return {
            "id": query.id,
            "gold": query.gold,
            "profile_size": len(query.profile),
            "predictions": predictions,
        }

    def _adapter(self, case: UserCase) -> TrainedAdapter:
        """Train (or reuse) the user's adapter on prompts exactly like the ``none`` method's."""
        from core.adapters.job import TrainJob, TrainProcessJob
        from core.adapters.store import AdapterStore

        scratch = Home(self.out_dir / "work" / "prompts").ensure().profile("user").ensure()
        writer = Writer(scratch.home, scratch, self.model, runtime=get_runtime(self.model))
        examples = writer.training_examples(
            case.task, newest(case.training_documents, self.config.train_fraction)
        )
        profile = Home(self.out_dir / "adapters").ensure().profile("eval").ensure()
        user_key = hashlib.sha256(case.user_id.encode()).hexdigest()[:12]
        kind = TrainProcessJob if self.train_in_worker else TrainJob
        job = kind(profile, self.model, examples, self.config.train_config(),
                   name=f"eval-{user_key}")
        job.cancel_token = self.cancel_token
        job.prepare()
        adapter_id = job.inner.adapter_id if isinstance(job, TrainProcessJob) else job.adapter_id
        reused = AdapterStore(profile).find(adapter_id) is not None
        record = job.run()
        summary = {
            "id": record.id,
            "gguf_path": str(record.gguf_path),
            "reused": reused,
            "n_train": record.n_train,
            "n_val": record.n_val,
            "steps": record.steps,
            "val_loss": record.val_loss,
            "val_loss_base": record.val_loss_base,
            "train_seconds": record.duration_s,
        }
        return TrainedAdapter(ActiveAdapter(record.gguf_path), summary)
