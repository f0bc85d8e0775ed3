"""LaMP's metrics: accuracy and macro-F1 (LaMP-1/2), MAE and RMSE (LaMP-3), ROUGE-1/L (4-7).

ROUGE is the F-measure of Google's ``rouge_score`` (the implementation behind
LaMP's ``evaluate`` metric), with Porter stemming, averaged over queries.
Classification labels follow LaMP's evaluation script: a prediction outside
the label set counts as wrong; a non-numeric rating is mapped to the far end
of the scale from the gold score, as LaMP does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from core.lamp import LampTask

LABELS = {
    "LaMP-1": ("[1]", "[2]"),
    "LaMP-2": (
        "sci-fi",
        "based on a book",
        "comedy",
        "action",
        "twist ending",
        "dystopia",
        "dark comedy",
        "classic",
        "psychology",
        "fantasy",
        "romance",
        "thought-provoking",
        "social commentary",
        "violence",
        "true story",
    ),
    "LaMP-2N": (
        "food & drink",
        "sports",
        "education",
        "parents",
        "religion",
        "travel",
        "business",
        "crime",
        "science & technology",
        "culture & arts",
        "entertainment",
        "politics",
        "women",
        "style & beauty",
        "healthy living",
    ),
    "LaMP-3": ("1", "2", "3", "4", "5"),
}


@lru_cache(maxsize=1)
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


def rouge(prediction: str, reference: str) -> dict[str, float]:
    scores = _scorer().score(reference.strip(), prediction.strip())
    return {"rouge-1": scores["rouge1"].fmeasure, "rouge-L": scores["rougeL"].fmeasure}


def accuracy(preds: Sequence[str], golds: Sequence[str]) -> float:
    return sum(p.strip() == g.strip() for p, g in zip(preds, golds, strict=True)) / max(
        1, len(golds)
    )


def macro_f1(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str]) -> float:
    f1s = []
    for label in labels:
        tp = sum(p == label and g == label for p, g in zip(preds, golds, strict=True))
        fp = sum(p == label and g != label for p, g in zip(preds, golds, strict=True))
        fn = sum(p != label and g == label for p, g in zip(preds, golds, strict=True))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


def _rating(pred: str, gold: float) -> float:
    try:
        return float(pred.strip())
    except ValueError:
        return 1.0 if abs(1 - gold) > abs(5 - gold) else 5.0


def score(task: LampTask, preds: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """The task's LaMP metrics over a set of predictions."""
    preds = [p.strip() for p in preds]
    golds = [g.strip() for g in golds]
    if task.kind == "classification":
        out = {"accuracy": accuracy(preds, golds)}
        if "f1" in task.metrics:
            out["f1"] = macro_f1(preds, golds, LABELS[task.name])
        return out
    if task.kind == "regression":
        errors = [_rating(p, float(g)) - float(g) for p, g in zip(preds, golds, strict=True)]
        n = max(1, len(errors))
        return {
            "mae": sum(abs(e) for e in errors) / n,
            "rmse": math.sqrt(sum(e * e for e in errors) / n),
        }
    per = [rouge(p, g) for p, g in zip(preds, golds, strict=True)]
    n = max(1, len(per))
    return {k: sum(s[k] for s in per) / n for k in ("rouge-1", "rouge-L")}


def primary_metric(task: LampTask) -> tuple[str, bool]:
    """The metric the evaluation ranks methods by, and whether higher is better."""
    if task.kind == "classification":
        return "accuracy", True
    if task.kind == "regression":
        return "mae", False
    return "rouge-L", True
