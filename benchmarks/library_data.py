"""Real paragraphs for the library benchmarks, from the shared LaMP-format data.

``../shared/data`` (see its README) holds real writing by real authors:
commit-message bodies (``commit_subject``) and design-proposal abstracts
(``proposal_title``).  Every profile item's text is split into paragraphs;
paragraphs of fewer than 8 words are dropped; the sample is seeded, so every
benchmark run embeds the same texts.  Queries are the items' own titles
(commit subjects, proposal titles): short, real, and about their paragraph.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The shared data folder beside the checkout (the README of ../shared/data describes it).
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Paragraph:
    item_id: str
    title: str
    date: str
    text: str


def load_paragraphs(data: Path) -> list[Paragraph]:
    """Every usable paragraph of every distinct profile item, in a stable order."""
    out: list[Paragraph] = []
    for task, field in (("proposal_title", "abstract"), ("commit_subject", "text")):
        path = data / task / "questions.json"
        if not path.is_file():
            raise SystemExit(f"{path}: not found; pass --data with the folder holding "
                             "proposal_title/ and commit_subject/")
        seen: set[str] = set()
        for question in json.loads(path.read_text(encoding="utf-8")):
            for item in question["profile"]:
                if item["id"] in seen:
                    continue
                seen.add(item["id"])
                for para in re.split(r"\n\s*\n", str(item[field])):
                    para = " ".join(para.split())
                    if len(para.split()) >= 8:
                        out.append(Paragraph(str(item["id"]), str(item["title"]),
                                             str(item.get("date", "")), para))
    return out


def sample(paragraphs: list[Paragraph], n: int, seed: int = 0) -> list[Paragraph]:
    if n > len(paragraphs):
        raise SystemExit(f"only {len(paragraphs)} paragraphs in the data, asked for {n}")
    return random.Random(seed).sample(paragraphs, n)


Splice = tuple[int, int] | None  # (first-half paragraph, second-half paragraph), None: real


def synthetic_variants_with_sources(
    paragraphs: list[Paragraph], n: int, seed: int = 0
) -> list[tuple[str, Splice]]:
    """``n`` texts: the real paragraphs, then splices of two real ones (first half of one,
    second half of another) when more texts are needed than the data holds; each with
    the indices of the paragraphs it was spliced from."""
    rng = random.Random(seed)
    out: list[tuple[str, Splice]] = [(p.text, None) for p in paragraphs[:n]]
    while len(out) < n:
        i, j = rng.randrange(len(paragraphs)), rng.randrange(len(paragraphs))
        a, b = paragraphs[i].text.split(), paragraphs[j].text.split()
        out.append((" ".join(a[: len(a) // 2] + b[len(b) // 2:]), (i, j)))
    return out


def synthetic_variants(paragraphs: list[Paragraph], n: int, seed: int = 0) -> list[str]:
    return [text for text, _ in synthetic_variants_with_sources(paragraphs, n, seed)]


def write_result(path: Path, result: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def commit_questions(data: Path) -> Path:
    """``--data`` may be the data folder, the task folder, or the questions file."""
    for candidate in (data, data / "questions.json", data / "commit_subject" / "questions.json"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{data}: no commit_subject questions.json there")


def user_examples(questions: Path, n_items: int) -> tuple[str, list[Any]]:
    """The first user with at least ``n_items`` profile items, and their newest ``n_items``
    as training examples."""
    from core.adapters.data import examples_from_lamp_profile
    from core.lamp import load_dataset

    dataset = load_dataset(questions)
    for user, qs in dataset.users().items():
        profile = max((q.profile for q in qs), key=len)
        if len(profile) >= n_items:
            return user, examples_from_lamp_profile(profile[-n_items:], dataset.task)
    raise SystemExit(f"{questions}: no user with {n_items} profile items")
