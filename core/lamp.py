"""The LaMP file format: tasks, their profile fields, and a strict loader.

Reads the official LaMP files unchanged (``*questions.json`` + ``*outputs.json``,
user- and time-based splits, all seven tasks) and the project's real-data
analogues ``proposal_title`` (of LaMP-5) and ``commit_subject`` (of LaMP-6).
Everything else that handles LaMP data (library import, adapter training data,
prompts, evaluation) goes through the ``LampTask`` descriptions here, so the
per-task field names live in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.documents import Document, content_hash
from core.errors import InkwellError


@dataclass(frozen=True)
class LampTask:
    name: str
    kind: str  # "classification", "regression" or "generation"
    # Profile fields playing the roles of the task's input and output (the training pair).
    input_field: str
    output_field: str
    # The instruction the query input starts with; stripped to get the raw content.
    input_prefix: str
    metrics: tuple[str, ...]
    description: str = ""

    def query_content(self, question_input: str) -> str:
        """The user's own text inside a query (what retrieval searches with)."""
        if self.name == "LaMP-1":
            quoted = re.findall(r'"([^"]*)"', question_input)
            return " ".join(quoted) or question_input
        for marker in ("description:", "review:"):
            if self.input_prefix.endswith(marker) or marker in self.input_prefix:
                idx = question_input.find(marker)
                if idx >= 0:
                    return question_input[idx + len(marker) :].strip()
        if question_input.startswith(self.input_prefix):
            return question_input[len(self.input_prefix) :].strip()
        head, sep, tail = question_input.partition(": ")
        return tail.strip() if sep and len(head) < 120 else question_input

    def pair(self, item: Mapping[str, Any]) -> tuple[str, str]:
        """A profile item as a training example (input text, target text) of this task."""
        needed = ("text",) if self.name == "LaMP-7" else (self.input_field, self.output_field)
        missing = [f for f in needed if f not in item]
        if missing:
            raise InkwellError(
                f"profile item {item.get('id', '?')!r} has no {' or '.join(map(repr, missing))} "
                f"field, which {self.name} items need"
            )
        if self.name == "LaMP-7":
            words = str(item["text"]).split()
            cut = max(1, len(words) // 2)
            return " ".join(words[:cut]), " ".join(words[cut:])
        return str(item[self.input_field]), str(item[self.output_field])


_GEN = ("rouge-1", "rouge-L")
TASKS: dict[str, LampTask] = {
    t.name: t
    for t in [
        LampTask(
            "LaMP-1",
            "classification",
            "title",
            "abstract",
            "For an author who has written the paper with the title",
            ("accuracy",),
            "personalized citation identification",
        ),
        LampTask(
            "LaMP-2",
            "classification",
            "description",
            "tag",
            "Which tag does this movie relate to among the following tags? Just answer with the "
            "tag name without further explanation. tags: [sci-fi, based on a book, comedy, "
            "action, twist ending, dystopia, dark comedy, classic, psychology, fantasy, romance, "
            "thought-provoking, social commentary, violence, true story] description:",
            ("accuracy", "f1"),
            "personalized movie tagging",
        ),
        LampTask(
            "LaMP-2N",
            "classification",
            "text",
            "category",
            "Which category does this article relate to among the following categories?",
            ("accuracy", "f1"),
            "personalized news categorization (LaMP v1)",
        ),
        LampTask(
            "LaMP-3",
            "regression",
            "text",
            "score",
            "What is the score of the following review on a scale of 1 to 5? just answer with "
            "1, 2, 3, 4, or 5 without further explanation. review:",
            ("mae", "rmse"),
            "personalized product rating",
        ),
        LampTask(
            "LaMP-4",
            "generation",
            "text",
            "title",
            "Generate a headline for the following article: ",
            _GEN,
            "personalized news headline generation",
        ),
        LampTask(
            "LaMP-5",
            "generation",
            "abstract",
            "title",
            "Generate a title for the following abstract of a paper: ",
            _GEN,
            "personalized scholarly title generation",
        ),
        LampTask(
            "LaMP-6",
            "generation",
            "text",
            "title",
            "Generate a subject for the following email: ",
            _GEN,
            "personalized e-mail subject generation",
        ),
        LampTask(
            "LaMP-7",
            "generation",
            "text",
            "text",
            "Paraphrase the following tweet without any explanation before or after it: ",
            _GEN,
            "personalized tweet paraphrasing",
        ),
        LampTask(
            "proposal_title",
            "generation",
            "abstract",
            "title",
            "Generate a title for the following abstract of a proposal: ",
            _GEN,
            "design-proposal title generation (analogue of LaMP-5)",
        ),
        LampTask(
            "commit_subject",
            "generation",
            "text",
            "title",
            "Write the subject line for this commit message body: ",
            _GEN,
            "commit subject generation (analogue of LaMP-6)",
        ),
    ]
}

# LaMP 2 in the v2 release is movie tagging; v1's news categorization is kept apart.
_TASK_ALIASES = {"lamp_2m": "LaMP-2", "lamp_2n": "LaMP-2N"}


def task_by_name(name: str) -> LampTask:
    key = name.strip().lower().replace("-", "_")
    if key in _TASK_ALIASES:
        return TASKS[_TASK_ALIASES[key]]
    for task in TASKS.values():
        if task.name.lower().replace("-", "_") == key:
            return task
    raise InkwellError(f"unknown LaMP task {name!r}; known: {', '.join(TASKS)}")


@dataclass(frozen=True)
class LampQuestion:
    id: str
    input: str
    profile: tuple[Mapping[str, Any], ...]
    user_id: str  # the question id where the file has no user ids (user-based split)


@dataclass(frozen=True)
class LampDataset:
    task: LampTask
    questions: tuple[LampQuestion, ...]
    golds: Mapping[str, str] = field(default_factory=dict)
    questions_file: Path | None = None

    def users(self) -> dict[str, list[LampQuestion]]:
        """Questions grouped by user, in file order."""
        out: dict[str, list[LampQuestion]] = {}
        for q in self.questions:
            out.setdefault(q.user_id, []).append(q)
        return out


def infer_task(questions: Sequence[LampQuestion]) -> LampTask:
    """Name the task from the profile fields and the query wording (questions-only files)."""
    for q in questions:
        keys = set().union(*(item.keys() for item in q.profile)) if q.profile else set()
        if {"description", "tag"} <= keys:
            return TASKS["LaMP-2"]
        if {"text", "category"} <= keys:
            return TASKS["LaMP-2N"]
        if {"text", "score"} <= keys:
            return TASKS["LaMP-3"]
        for task in TASKS.values():
            if task.input_prefix and q.input.startswith(task.input_prefix.rstrip()):
                return task
        if keys == {"id", "text"} or keys == {"id", "text", "date"}:
            return TASKS["LaMP-7"]
    raise InkwellError("cannot tell which LaMP task this file holds; pass the task name")


def _fail(path: Path, where: str, reason: str) -> InkwellError:
    return InkwellError(f"{path}: {where}: {reason}")


def parse_questions(path: Path, data: Any) -> list[LampQuestion]:
    """The questions of a LaMP file already read and parsed (``path`` names it in errors)."""
    if not isinstance(data, list):
        raise _fail(
            path, "top level", f"expected a JSON list of questions, got {type(data).__name__}"
        )
    questions = []
    for i, raw in enumerate(data):
        where = f"question {i}"
        if not isinstance(raw, dict):
            raise _fail(path, where, f"expected an object, got {type(raw).__name__}")
        for key in ("id", "input", "profile"):
            if key not in raw:
                raise _fail(path, where, f"missing field {key!r}")
        if not isinstance(raw["input"], str):
            raise _fail(path, where, "'input' must be a string")
        if not isinstance(raw["profile"], list):
            raise _fail(path, where, "'profile' must be a list")
        qid = str(raw["id"])
        profile = tuple(
            _parse_profile_item(path, f"{where} (id {qid}) profile item {j}", item)
            for j, item in enumerate(raw["profile"])
        )
        questions.append(LampQuestion(qid, raw["input"], profile, str(raw.get("user_id", qid))))
    return questions


def _parse_profile_item(path: Path, where: str, item: Any) -> Mapping[str, Any]:
    if not isinstance(item, dict):
        raise _fail(path, where, f"expected an object, got {type(item).__name__}")
    if "id" not in item:
        raise _fail(path, where, "missing field 'id'")
    for key, value in item.items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _fail(path, where, f"field {key!r} must be a string or number")
    return {k: (v if isinstance(v, str) else str(v)) for k, v in item.items()}


def _read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InkwellError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InkwellError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InkwellError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def load_questions(path: Path) -> list[LampQuestion]:
    return parse_questions(path, _read_json(path))


def load_outputs(path: Path) -> tuple[str | None, dict[str, str]]:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("golds"), list):
        raise _fail(path, "top level", 'expected {"task": ..., "golds": [...]}')
    golds = {}
    for i, g in enumerate(data["golds"]):
        if not isinstance(g, dict) or "id" not in g or "output" not in g:
            raise _fail(path, f"gold {i}", "expected an object with 'id' and 'output'")
        golds[str(g["id"])] = str(g["output"])
    task = data.get("task")
    return (str(task) if task else None), golds


def outputs_path_for(questions: Path) -> Path | None:
    """The outputs file beside a questions file, by LaMP's naming (``dev_questions.json``)."""
    candidate = questions.with_name(questions.name.replace("questions", "outputs"))
    return candidate if candidate != questions and candidate.exists() else None


def load_dataset(
    questions: Path, outputs: Path | None = None, task: str | None = None
) -> LampDataset:
    qs = load_questions(questions)
    outputs = outputs or outputs_path_for(questions)
    golds: dict[str, str] = {}
    named = task
    if outputs is not None:
        file_task, golds = load_outputs(outputs)
        named = named or file_task
        missing = [q.id for q in qs if q.id not in golds]
        if missing:
            raise InkwellError(
                f"{outputs}: no gold output for question(s) {', '.join(missing[:5])}"
            )
    try:
        lamp_task = task_by_name(named) if named else infer_task(qs)
    except InkwellError as exc:  # name the file: the user may have passed several
        raise InkwellError(f"{outputs if named and not task else questions}: {exc}") from None
    return LampDataset(lamp_task, tuple(qs), golds, questions)


def find_questions_files(data_dir: Path) -> list[Path]:
    """Questions files in a folder: ``questions.json``, ``dev_questions.json``, ``sample_…``."""
    if data_dir.is_file():
        return [data_dir]
    if not data_dir.is_dir():
        raise InkwellError(f"{data_dir}: no such file or folder")
    found = sorted(data_dir.glob("*questions.json"))
    if not found:
        raise InkwellError(f"{data_dir}: no LaMP questions file (*questions.json) in this folder")
    return found


def profile_item_document(item: Mapping[str, Any], task: LampTask, source: str) -> Document:
    """A LaMP profile item as a library document (one per item, as the paper's profile)."""
    fields = {k: str(v) for k, v in item.items() if k not in {"id", "date"}}
    if task.name == "LaMP-7":
        text, title = fields.get("text", ""), ""
    else:
        text = fields.get(task.input_field, "")
        title = fields.get(task.output_field, "") if task.output_field != task.input_field else ""
    item_id = str(item["id"])
    return Document(
        doc_id=f"lamp:{item_id}",
        source=f"{source}#{item_id}",
        title=title,
        date=str(item["date"]) if item.get("date") else None,
        text=text,
        kind="lamp",
        content_hash=content_hash(*(f"{k}={fields[k]}" for k in sorted(fields))),
        fields={**fields, "task": task.name},
    )
