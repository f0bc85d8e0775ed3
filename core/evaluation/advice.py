"""``inkwell advise``: which method helps *this* user, measured on their own held-out writing.

The user's newest documents that have a natural target (a commit's subject, an
e-mail's subject, a note's or post's title) are held out; the four methods
write those targets from the bodies using only the older documents (a
throw-away library, and an adapter trained on them alone, so nothing held out
leaks into the answer); the best-scoring method is recommended.  With little
data the paper's cold-start finding decides instead: retrieval needs no
training and already helps, an adapter needs more of the user's writing.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DocumentsForgotten
from core.evaluation.cases import case_from_library
from core.evaluation.report import summarize
from core.evaluation.runner import EvalConfig, EvalJob
from core.fsutil import atomic_write_json, read_json
from core.jobs import Job
from core.models import ModelInfo, ModelRegistry
from core.paths import Home, ProfilePaths
from core.settings import AppSettings, ProfileSettings
from core.tombstones import forgotten_among
from core.writer import METHODS, Method

# Below this many titled documents an adapter is not trained for the advice:
# the paper finds PEFT's gain grows with the user's data and RAG wins for cold-start users.
COLD_START_DOCUMENTS = 40
MIN_DOCUMENTS = 6
HOLDOUT = 10


@dataclass
class Advice:
    recommended: str
    scores: dict[str, float] = field(default_factory=dict)  # ROUGE-L per method
    gains: dict[str, float | None] = field(default_factory=dict)  # relative, % over none
    n_heldout: int = 0
    n_documents: int = 0
    cold_start: bool = True
    explanation: str = ""
    more_needed: int | None = None  # titled documents still missing before an adapter pays off

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def advice_file(profile: ProfilePaths) -> Path:
    return profile.eval_dir / "advice.json"


def load_advice(profile: ProfilePaths) -> Advice | None:
    """The last saved advice, so the GUI and ``advise --last`` show it without re-running."""
    data = read_json(advice_file(profile), default=None)
    return Advice(**data) if data else None


class AdviseJob(Job[Advice]):
    title = "which method helps me?"

    def __init__(self, home: Home, profile: ProfilePaths, model: ModelInfo | None = None) -> None:
        super().__init__()
        self.home, self.profile = home, profile
        self.model = model or ModelRegistry(home).get(AppSettings.load(home).model)
        self._docs: list[Any] = []

    def prepare(self) -> None:
        from core.library import Library

        library = Library(self.profile)
        try:
            self._docs = list(library.documents())
        finally:
            library.close()

    def run(self) -> Advice:
        try:
            advice = self._measure()
        finally:
            self._discard_if_forgotten()
        return self._save(advice)

    def _discard_if_forgotten(self) -> None:
        """A document read at the start was forgotten meanwhile: nothing measured on it
        stays (the forget removed the folder, but this job may have written into it since)."""
        gone = forgotten_among(self.profile, (d.doc_id for d in self._docs))
        if gone:
            shutil.rmtree(self.profile.advice_dir, ignore_errors=True)
            raise DocumentsForgotten(
                f"{len(gone)} of the documents the advice was measured on were forgotten "
                "meanwhile; what it measured was discarded. Ask again."
            )

    def _measure(self) -> Advice:
        case, n_titled = case_from_library(self._docs, HOLDOUT)
        if case is None or n_titled < MIN_DOCUMENTS:
            advice = Advice(
                "rag",
                n_documents=n_titled,
                cold_start=True,
                more_needed=COLD_START_DOCUMENTS - n_titled,
                explanation=(
                    f"Your library has {n_titled} document(s) with a title or subject to learn "
                    "from: too few to measure. Retrieval (RAG) needs no training and is the "
                    "method the research finds best for new users; add more of your writing "
                    f"(about {COLD_START_DOCUMENTS} documents) and ask again."
                ),
            )
            return advice
        cold = n_titled < COLD_START_DOCUMENTS
        methods = ("none", "rag") if cold else METHODS
        settings = ProfileSettings.load(self.profile)
        config = EvalConfig(methods=methods, retriever=settings.retriever, k=settings.k)
        # The adapter is trained in the worker process: the desktop runs the advice on a
        # thread of its window, which a crash in torch would take down.
        job = EvalJob([case], self.model, config, self.profile.advice_dir, train_in_worker=True)
        job.cancel_token = self.cancel_token
        for listener in self._listeners:
            job.on_progress(listener)
        summary = summarize(job.run(), methods)
        scores = {m: summary["systems"][m][summary["metric"]] for m in methods}
        gains = {m: summary["relative_gain_percent"][m] for m in methods}
        best = max(methods, key=lambda m: (scores[m], m == Method.RAG))
        if cold:
            best = Method.RAG.value if scores["rag"] >= scores["none"] else best
            explanation = (
                f"Measured on your {len(case.queries)} newest titled documents: RAG scores "
                f"{scores['rag']:.3f} ROUGE-L against {scores['none']:.3f} without "
                f"personalization. With {n_titled} titled documents you are a cold-start user: "
                "retrieval helps at once, while an adapter pays off with more data (about "
                f"{COLD_START_DOCUMENTS - n_titled} more documents)."
            )
        else:
            explanation = (
                f"Measured on your {len(case.queries)} newest titled documents (ROUGE-L): "
                + ", ".join(f"{m} {scores[m]:.3f}" for m in methods)
                + f". {best} writes most like you."
            )
        return Advice(
            best,
            scores,
            gains,
            len(case.queries),
            n_titled,
            cold,
            explanation,
            max(0, COLD_START_DOCUMENTS - n_titled) if cold else None,
        )

    def _save(self, advice: Advice) -> Advice:
        atomic_write_json(advice_file(self.profile.ensure()), advice.to_json())
        settings = ProfileSettings.load(self.profile)
        settings.recommended_method = advice.recommended
        settings.save(self.profile)
        return advice
