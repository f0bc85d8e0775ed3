"""LaMP loader (official files unchanged, the real-data analogues, broken files) and metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core.errors import InkwellError
from core.lamp import TASKS, load_dataset, load_outputs, profile_item_document
from core.metrics import macro_f1, rouge, score


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_reads_official_lamp_files_unchanged(tmp_path) -> None:
    # LaMP-5 as distributed: user-based split, no user_id, outputs named LaMP_5.
    q = _write(
        tmp_path / "dev_questions.json",
        [
            {
                "id": "510",
                "input": "Generate a title for the following abstract of a paper: We study X.",
                "profile": [
                    {"id": "5100", "title": "On X", "abstract": "X is studied."},
                    {"id": "5101", "title": "More X", "abstract": "X again."},
                ],
            },
        ],
    )
    _write(
        tmp_path / "dev_outputs.json", {"task": "LaMP_5", "golds": [{"id": "510", "output": "X"}]}
    )
    ds = load_dataset(q)
    assert ds.task.name == "LaMP-5"
    assert ds.golds == {"510": "X"}
    assert ds.questions[0].user_id == "510"  # each question is its own user
    assert ds.task.query_content(ds.questions[0].input) == "We study X."
    doc = profile_item_document(ds.questions[0].profile[0], ds.task, str(q))
    assert (doc.title, doc.text, doc.kind) == ("On X", "X is studied.", "lamp")


@pytest.mark.parametrize(
    "task,item,expected",
    [
        ("LaMP-1", {"id": "1", "title": "T", "abstract": "A"}, ("T", "A")),
        ("LaMP-2", {"id": "1", "description": "D", "tag": "comedy"}, ("D", "comedy")),
        ("LaMP-3", {"id": "1", "text": "great", "score": "5"}, ("great", "5")),
        ("LaMP-4", {"id": "1", "text": "article", "title": "H"}, ("article", "H")),
        ("LaMP-6", {"id": "1", "text": "mail", "title": "S"}, ("mail", "S")),
        ("LaMP-7", {"id": "1", "text": "one two three four"}, ("one two", "three four")),
        (
            "commit_subject",
            {"id": "1", "text": "body", "title": "subj", "date": "2024-01-01"},
            ("body", "subj"),
        ),
    ],
)
def test_training_pairs_of_every_task(task, item, expected) -> None:
    assert TASKS[task].pair(item) == expected


def test_reads_the_real_data_samples(sample_data) -> None:
    for task in ("proposal_title", "commit_subject"):
        ds = load_dataset(sample_data / task / "sample_questions.json")
        assert ds.task.name == task
        assert len(ds.users()) == 5 and len(ds.questions) == 10
        assert all(q.id in ds.golds for q in ds.questions)
        for q in ds.questions:  # time-based: every profile item is older than... dated
            assert all(item.get("date") for item in q.profile)


@pytest.mark.parametrize(
    "content,reason",
    [
        ('{"not": "a list"}', "expected a JSON list"),
        ('[{"id": "1", "input": "x"}]', "missing field 'profile'"),
        ('[{"id": "1", "input": 3, "profile": []}]', "'input' must be a string"),
        ('[{"id": "1", "input": "x", "profile": [{"title": "t"}]}]', "missing field 'id'"),
        (
            '[{"id": "1", "input": "x", "profile": [{"id": "2", "title": ["t"]}]}]',
            "must be a string or number",
        ),
        ('[{"id": "1", ', "not valid JSON"),
    ],
)
def test_broken_lamp_files_name_the_file_and_reason(tmp_path, content, reason) -> None:
    path = tmp_path / "questions.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InkwellError) as err:
        load_dataset(path, task="LaMP-5")
    assert str(path) in str(err.value) and reason in str(err.value)


def test_non_utf8_lamp_file(tmp_path) -> None:
    path = tmp_path / "questions.json"
    path.write_bytes(b'[{"id": "\xff"}]')
    with pytest.raises(InkwellError, match="not UTF-8"):
        load_dataset(path, task="LaMP-5")


def test_rouge_by_hand() -> None:
    r = rouge("the cat sat", "the cat sat on the mat")
    # 3 of 3 predicted unigrams match, 3 of 6 reference ones: F = 2*1*0.5/1.5.
    assert r["rouge-1"] == pytest.approx(2 / 3)
    assert r["rouge-L"] == pytest.approx(2 / 3)
    # Stemmed, as LaMP's evaluation: "running dogs" matches "run dog".
    assert rouge("running dogs", "run dog")["rouge-1"] == pytest.approx(1.0)
    # Order matters for ROUGE-L only.
    swapped = rouge("sat cat the", "the cat sat")
    assert swapped["rouge-1"] == pytest.approx(1.0) and swapped["rouge-L"] == pytest.approx(1 / 3)


def test_classification_and_rating_metrics_by_hand() -> None:
    preds, golds = ["[1]", "[2]", "[1]"], ["[1]", "[1]", "[1]"]
    out = score(TASKS["LaMP-1"], preds, golds)
    assert out == {"accuracy": pytest.approx(2 / 3)}
    # label [1]: tp 2, fn 1 -> F1 0.8; label [2]: no true positive -> 0; macro 0.4
    assert macro_f1(preds, golds, ["[1]", "[2]"]) == pytest.approx(0.4)
    # A non-numeric rating counts as the far end of the scale from the gold score (LaMP).
    out = score(TASKS["LaMP-3"], ["4", "x", "2"], ["5", "2", "2"])
    assert out["mae"] == pytest.approx(4 / 3)
    assert out["rmse"] == pytest.approx(math.sqrt(10 / 3))


def test_predictions_round_trip_in_lamp_format(tmp_path) -> None:
    from core.evaluation.report import write_outputs
    from core.evaluation.runner import UserResult

    results = [
        UserResult(
            "u1",
            "proposal_title",
            3,
            "f",
            queries=[
                {
                    "id": "q1",
                    "gold": "A title",
                    "profile_size": 3,
                    "predictions": {
                        "none": "A",
                        "rag": "A title",
                        "first-12-words": "x",
                        "nearest-title": "y",
                    },
                },
                {
                    "id": "q2",
                    "gold": "Other",
                    "profile_size": 4,
                    "predictions": {
                        "none": "Other",
                        "rag": "no",
                        "first-12-words": "x",
                        "nearest-title": "y",
                    },
                },
            ],
        )
    ]
    from core.evaluation.report import summarize

    summary = summarize(results, ["none", "rag"])
    header = {
        "task": "proposal_title",
        "model": "m",
        "command": "c",
        "sample": "s",
        "config": {"retriever": "bm25", "k": 3, "prompt_format": "fewshot"},
        "wall_seconds": 1.0,
        "user_seconds_total": 2.0,
        "machine": "here",
    }
    paths = write_outputs(tmp_path, summary, header, results, "proposal_title", ["none", "rag"])
    task, golds = load_outputs(paths["predictions:rag"])
    assert task == "proposal_title" and golds == {"q1": "A title", "q2": "no"}
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| rag |" in paths["markdown"].read_text()


def test_spearman_by_hand() -> None:
    from core.evaluation.stats import spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks x: 1,2,3 ; y ties at the top: 1, 2.5, 2.5 -> rho = 0.866...
    assert spearman([1, 2, 3], [0, 5, 5]) == pytest.approx(math.sqrt(3) / 2)
    assert spearman([1, 2], [1, 2]) is None
