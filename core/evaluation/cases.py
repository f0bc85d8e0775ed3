"""What one user's evaluation needs: their profile, their queries and the gold answers.

Two sources produce the same ``UserCase``: a LaMP-format data set (one case per
benchmark user) and the app user's own library (their newest documents with a
natural target held out as queries).  Keeping the runner ignorant of where a
case came from means the advice a user gets is measured exactly like the
benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from core.documents import Document
from core.lamp import LampDataset, LampQuestion, profile_item_document


@dataclass(frozen=True)
class Query:
    id: str
    input: str  # as the writer receives it (a LaMP query keeps its instruction prefix)
    gold: str
    profile: tuple[Document, ...]  # what retrieval may see for this query (strictly older items)


@dataclass(frozen=True)
class UserCase:
    user_id: str
    task: str  # a prompt spec name (core.prompts.SPECS)
    queries: tuple[Query, ...]

    @property
    def training_documents(self) -> tuple[Document, ...]:
        """Items in *every* query's profile: older than all of this user's queries.

        In a time-based split a later query's profile holds the earlier queries
        with their gold answers; training on those would leak answers into the
        adapter, so the adapter sees only what every query may see.
        """
        if not self.queries:
            return ()
        common = set.intersection(*({d.doc_id for d in q.profile} for q in self.queries))
        return tuple(d for d in self.queries[0].profile if d.doc_id in common)

    @property
    def profile_size(self) -> int:
        return len(self.training_documents)


@dataclass(frozen=True)
class Sampling:
    users: int | None = None  # sample this many users (seeded), or all
    max_queries: int | None = None  # per user, the first N of the file's order
    seed: int = 0
    min_profile: int | None = None  # only users with at least this many trainable items

    def questions_of(self, questions: Sequence[LampQuestion]) -> Sequence[LampQuestion]:
        return questions[: self.max_queries] if self.max_queries else questions

    def describe(self, total_users: int, chosen: int, queries: int) -> str:
        who = (
            f"{chosen} of {total_users} users sampled at random (seed {self.seed})"
            if self.users is not None and self.users < total_users
            else f"all {total_users} users"
        )
        per = f", at most {self.max_queries} queries each" if self.max_queries else ""
        if self.min_profile:
            who += f" with at least {self.min_profile} trainable profile items"
        return f"{who}{per}: {queries} queries"


def cases_from_lamp(dataset: LampDataset, sampling: Sampling) -> tuple[list[UserCase], str]:
    """One case per user of a LaMP data set; returns the cases and a sentence stating the sample."""
    users = dataset.users()
    ids = list(users)
    if sampling.min_profile:
        ids = [
            u
            for u in ids
            if _common_profile(sampling.questions_of(users[u])) >= sampling.min_profile
        ]
    if sampling.users is not None and sampling.users < len(ids):
        ids = sorted(random.Random(sampling.seed).sample(ids, sampling.users), key=ids.index)
    source = str(dataset.questions_file or dataset.task.name)
    cases = []
    for uid in ids:
        questions = sampling.questions_of(users[uid])
        queries = tuple(
            Query(
                q.id,
                q.input,
                dataset.golds.get(q.id, ""),
                tuple(profile_item_document(item, dataset.task, source) for item in q.profile),
            )
            for q in questions
        )
        cases.append(UserCase(uid, dataset.task.name, queries))
    n_queries = sum(len(c.queries) for c in cases)
    return cases, sampling.describe(len(users), len(cases), n_queries)


def _common_profile(questions: Sequence[LampQuestion]) -> int:
    """How many profile items every one of these questions has: ``training_documents``' size."""
    if not questions:
        return 0
    return len(set.intersection(*({str(i.get("id")) for i in q.profile} for q in questions)))


# Which prompt task a document with a natural target is evaluated as.
_TASK_BY_KIND = {"commit": "commit_subject", "email": "email_subject"}


def case_from_library(
    documents: Sequence[Document], holdout: int, user_id: str = "you"
) -> tuple[UserCase | None, int]:
    """Hold out the user's newest titled documents of their most common kind as queries.

    Returns the case (None when there is nothing to evaluate) and how many
    documents with a natural target the user has.
    """
    titled = [d for d in documents if d.has_natural_title and d.title.strip() and d.text.strip()]
    if not titled:
        return None, 0
    by_task: dict[str, list[Document]] = {}
    for d in titled:
        task = d.fields.get("task") or _TASK_BY_KIND.get(d.kind, "title")
        by_task.setdefault(task, []).append(d)
    task, docs = max(by_task.items(), key=lambda kv: len(kv[1]))
    docs.sort(key=lambda d: (d.date or "", d.doc_id))
    held = docs[-holdout:] if len(docs) > holdout else docs[len(docs) // 2 :]
    held_ids = {d.doc_id for d in held}
    profile = tuple(d for d in documents if d.doc_id not in held_ids)
    from core.prompts import spec_for

    spec = spec_for(task)
    prefix = spec.lamp_task.input_prefix if spec.lamp_task else ""
    queries = tuple(
        Query(
            d.doc_id,
            prefix
            + (d.fields.get(spec.lamp_task.input_field, d.text) if spec.lamp_task else d.text),
            d.title,
            tuple(p for p in profile if (p.date or "") <= (d.date or "~")),
        )
        for d in held
    )
    return UserCase(user_id, task, queries), len(titled)
