"""Training examples from the user's writing, following the paper's per-user recipe.

Every profile item (or library document) becomes an input -> output pair of a
task the user actually performs: a LaMP item its task's pair (abstract -> title,
body -> subject, ...), a document with a natural title body -> title, and any
long enough text opening -> continuation (the user's voice).  The loss is on the
output tokens only, and the newest items are held out for validation, as the
paper's time-based split does.

Examples are tokenized with the model's *llama.cpp* vocabulary and rendered with
the chat template stored in the GGUF (for models that have one), so the adapter
is trained on exactly the token sequences it will see at inference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.documents import Document
from core.errors import InkwellError
from core.lamp import TASKS, LampTask, load_dataset, task_by_name

CONTINUE_PREFIX = "Continue this text in the author's voice: "
TITLE_PREFIX = "Write a title for the following text: "
# LaMP-1's and LaMP-7's query prefixes describe other tasks than their training pairs.
_PAIR_PREFIX = {
    "LaMP-1": "Write the abstract of the paper with the title: ",
    "LaMP-7": "Continue the following tweet: ",
}
_KIND_TASK = {"email": "LaMP-6", "commit": "commit_subject"}
# A kept choice (core.choices) is trained as the writing task it answered.
_CHOICE_TASK = {"email_subject": "LaMP-6", "commit_subject": "commit_subject",
                "headline": "LaMP-4", "proposal_title": "proposal_title"}
_WINDOW_WORDS = 48  # opening and continuation length of a style pair, in words
_MAX_WINDOWS = 4  # style pairs taken from one long document
_DEFAULT_SUFFIX = "\n"  # ends the prompt; base models continue right after it


class TooFewExamples(InkwellError):
    """The data yields fewer training examples than the configuration needs."""


@dataclass(frozen=True)
class Example:
    """One input -> output pair.  The prompt is ``prefix + content + suffix``.

    Only ``content`` (the user's text) is shortened to fit ``max_len``: the
    instruction and the target are kept whole.  The prompt is one user turn,
    which tokenization wraps in the model's chat template; ``rendered=True``
    says prefix and suffix already hold the template (a caller that splits its
    own final inference prompt around the input, like the writer).
    """

    prefix: str
    content: str
    target: str
    doc_id: str
    date: str | None = None
    content_hash: str = ""
    suffix: str = _DEFAULT_SUFFIX
    rendered: bool = False

    @property
    def prompt(self) -> str:
        return self.prefix + self.content + self.suffix

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Example:
        return cls(**dict(data))


def _prefix(text: str) -> str:
    return text if text.endswith((" ", "\n")) else text + " "


def lamp_example(
    item: Mapping[str, Any],
    task: LampTask,
    suffix: str = _DEFAULT_SUFFIX,
    doc_id: str = "",
    content_hash: str = "",
    date: str | None = None,
) -> Example:
    """A LaMP profile item as its task's pair, prompted like the task's queries."""
    content, target = task.pair(item)
    prefix = _PAIR_PREFIX.get(task.name, task.input_prefix)
    date = date or item.get("date")
    return Example(
        prefix=_prefix(prefix),
        content=content.strip(),
        target=target.strip(),
        doc_id=doc_id or f"lamp:{item['id']}",
        date=str(date) if date else None,
        content_hash=content_hash,
        suffix=suffix,
    )


def examples_from_lamp_profile(
    items: Iterable[Mapping[str, Any]], task: LampTask | str, suffix: str = _DEFAULT_SUFFIX
) -> list[Example]:
    """One example per profile item (in the profile's order, oldest first in LaMP files).

    ``suffix`` lets the evaluation end prompts exactly like its own query prompts.
    """
    lamp_task = task if isinstance(task, LampTask) else task_by_name(task)
    return [
        ex for ex in (lamp_example(i, lamp_task, suffix) for i in items) if ex.content and ex.target
    ]


def examples_from_lamp_file(
    path: Path, user: str | None = None
) -> tuple[list[Example], str, LampTask]:
    """The examples of one user of a LaMP questions file (the first user unless ``user``).

    A user's newest question has the largest profile (older queries reappear in
    newer profiles), so that profile is the user's whole history.
    """
    dataset = load_dataset(path)
    users = dataset.users()
    if not users:
        raise InkwellError(f"{path}: the file has no questions")
    user_id = user if user is not None else next(iter(users))
    if user_id not in users:
        raise InkwellError(f"{path}: no user {user_id!r} (the file has {len(users)} users)")
    profile = max((q.profile for q in users[user_id]), key=len)
    try:
        examples = examples_from_lamp_profile(profile, dataset.task)
    except InkwellError as exc:
        raise InkwellError(f"{path}: user {user_id!r}: {exc}") from None
    return examples, user_id, dataset.task


def _style_pairs(doc: Document) -> list[Example]:
    words = doc.text.split()
    pairs = []
    for start in range(0, len(words) - 2 * _WINDOW_WORDS + 1, 2 * _WINDOW_WORDS)[:_MAX_WINDOWS]:
        opening = " ".join(words[start : start + _WINDOW_WORDS])
        continuation = " ".join(words[start + _WINDOW_WORDS : start + 2 * _WINDOW_WORDS])
        pairs.append(
            Example(
                prefix=CONTINUE_PREFIX,
                content=opening,
                target=continuation,
                doc_id=doc.doc_id,
                date=doc.date,
                content_hash=doc.content_hash,
            )
        )
    return pairs


def examples_from_documents(
    documents: Iterable[Document], task: str | None = None
) -> list[Example]:
    """Training pairs from library documents: task pairs, body -> title, opening -> continuation.

    A LaMP profile item (kind ``lamp``) gives its task's pair only; ``task``
    names that task for items that do not carry it in their fields.
    """
    out: list[Example] = []
    for doc in documents:
        task_name = doc.fields.get("task") or task
        if doc.kind == "lamp" and task_name in TASKS:
            try:
                ex = lamp_example(
                    doc.fields,
                    TASKS[task_name],
                    doc_id=doc.doc_id,
                    content_hash=doc.content_hash,
                    date=doc.date,
                )
            except InkwellError:  # an item without its task's fields (the library kept it)
                continue
            if ex.content and ex.target:
                out.append(ex)
            continue
        if doc.has_natural_title and doc.title.strip() and doc.text.strip():
            if doc.kind == "choice":
                task = _CHOICE_TASK.get(doc.fields.get("task", ""))
            else:
                task = _KIND_TASK.get(doc.kind)
            prefix = TASKS[task].input_prefix if task else TITLE_PREFIX
            out.append(
                Example(
                    prefix=_prefix(prefix),
                    content=doc.text.strip(),
                    target=doc.title.strip(),
                    doc_id=doc.doc_id,
                    date=doc.date,
                    content_hash=doc.content_hash,
                )
            )
        if doc.kind != "choice":  # a kept choice's input may be someone else's text
            out.extend(_style_pairs(doc))
    return out


def split_train_val(
    examples: Sequence[Example], val_fraction: float, max_val: int, min_train: int
) -> tuple[list[Example], list[Example]]:
    """Hold out the newest examples for validation (none for very small profiles).

    Undated examples count as older than dated ones and otherwise keep their
    order, which for LaMP profiles and library listings is chronological.
    """
    if not examples:
        raise TooFewExamples(
            "there is nothing to train on: the library has no documents with usable text "
            f"(add writing first; at least {min_train} examples are needed)"
        )
    ordered = sorted(examples, key=lambda e: e.date or "")
    n_val = min(max_val, int(len(ordered) * val_fraction)) if len(ordered) >= 10 else 0
    train, val = ordered[: len(ordered) - n_val], ordered[len(ordered) - n_val :]
    if len(train) < min_train:
        raise TooFewExamples(
            f"only {len(train)} training example(s) could be made from this data; at least "
            f"{min_train} are needed (add more of your writing, or lower min_examples)"
        )
    return train, val


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (examples, config, base model, backend)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()
