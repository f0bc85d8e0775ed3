"""Does PEFT's gain grow with the same user's data?  ``inkwell eval --fractions``.

The paper's claim is about *more data for the same person*; a correlation
across users mixes users of very different difficulty.  So each user's adapter
is trained on the newest 25 %, 50 %, 100 % (the fractions asked for) of their
trainable profile, with the same number of passes over the data at every
fraction (steps grow with the data: no step cap), and scored on the same
queries.  Each fraction is an ordinary, resumable evaluation run in its own
sub-folder; ``none`` and ``rag`` do not depend on the adapter, so they run once,
with the largest fraction, and every fraction's gain is measured against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import InkwellError
from core.evaluation.cases import Sampling
from core.evaluation.lamp_eval import evaluate_file
from core.evaluation.runner import EvalConfig, Executor
from core.evaluation.stats import bootstrap_gain_ci, relative_gain, wilcoxon_signed_rank
from core.fsutil import atomic_path, atomic_write_json, atomic_write_text
from core.jobs import ProgressListener
from core.models import ModelInfo
from core.writer import Method

DEFAULT_EPOCHS = 1.0


def parse_fractions(value: str) -> tuple[float, ...]:
    try:
        fractions = tuple(sorted({float(f) for f in value.split(",") if f.strip()}))
    except ValueError as e:
        raise InkwellError(f"--fractions takes numbers like 0.25,0.5,1.0 (got {value!r})") from e
    if len(fractions) < 2 or not all(0 < f <= 1 for f in fractions):
        raise InkwellError(
            f"--fractions needs at least two fractions in (0, 1], e.g. 0.25,0.5,1.0 (got {value!r})"
        )
    return fractions


def fraction_config(config: EvalConfig) -> EvalConfig:
    """The same passes over the data at every fraction: explicit epochs, never a step count."""
    if config.train_steps is not None or config.train_max_steps is not None:
        raise InkwellError(
            "--fractions trains every fraction for the same number of passes over the data, "
            "so the steps grow with the data: use --epochs, not --steps or --max-steps"
        )
    if not any(Method(m).adapts for m in config.methods):
        raise InkwellError("--fractions compares adapters: include peft or rag+peft in --methods")
    methods = tuple(dict.fromkeys(("none", *config.methods)))  # gains need the baseline
    return replace(config, methods=methods, train_epochs=config.train_epochs or DEFAULT_EPOCHS)


def evaluate_fractions(
    questions: Path,
    model: ModelInfo,
    config: EvalConfig,
    sampling: Sampling,
    fractions: Sequence[float],
    out_dir: Path,
    listener: ProgressListener | None = None,
    task: str | None = None,
    finished_only: bool = False,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """One run per fraction under ``out_dir/fraction-<f>``, then the curve across them."""
    config = fraction_config(config)
    largest = max(fractions)
    adapter_methods = tuple(m for m in config.methods if Method(m).adapts)
    runs: dict[float, dict[str, Any]] = {}
    for f in sorted(fractions, reverse=True):  # the largest first: it holds none and rag
        methods = config.methods if f == largest else adapter_methods
        runs[f] = evaluate_file(
            questions,
            model,
            replace(config, methods=methods, train_fraction=f),
            sampling,
            out_dir / f"fraction-{f:g}",
            listener,
            task=task,
            finished_only=finished_only,
            executor=executor,
        )
    curve = fraction_curve(runs, adapter_methods)
    files = write_curve(out_dir, curve, runs[largest])
    return {**curve, "files": {k: str(v) for k, v in files.items()}}


def fraction_curve(runs: dict[float, dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Per fraction and method: pooled gain over ``none`` with its interval, per-user spread.

    Only users finished at every fraction count, so each point of the curve is
    measured on the same users and queries.  The paired test compares each
    user's score at the largest fraction with the smallest.
    """
    largest, smallest = max(runs), min(runs)
    rows = {f: {u["user"]: u for u in run["users"]} for f, run in runs.items()}
    users = sorted(set.intersection(*(set(r) for r in rows.values())))
    if not users:
        raise InkwellError("no user has finished at every fraction yet")
    higher = runs[largest]["higher_is_better"]
    base = rows[largest]

    def pooled(f: float, m: str) -> list[dict[str, list[float]]]:
        # A user's mean score repeated once per query pools exactly like the report's table.
        return [
            {
                "none": [base[u]["none"]] * base[u]["queries"],
                m: [rows[f][u][m]] * base[u]["queries"],
            }
            for u in users
        ]

    points = []
    for f in sorted(runs):
        for m in methods:
            per_user = pooled(f, m)
            total = sum(sum(x[m]) for x in per_user)
            total_none = sum(sum(x["none"]) for x in per_user)
            spread = sorted(rows[f][u][m] - base[u]["none"] for u in users)
            points.append(
                {
                    "fraction": f,
                    "method": m,
                    "relative_gain_percent": relative_gain(total, total_none, higher),
                    "relative_gain_ci95": bootstrap_gain_ci(per_user, m, "none", higher),
                    "per_user_gain": {
                        "min": spread[0],
                        "median": spread[len(spread) // 2],
                        "max": spread[-1],
                    },
                    "mean_train_items": _mean([rows[f][u].get("train_items") for u in users]),
                }
            )
    tests = {}
    for m in methods:
        diffs = [rows[largest][u][m] - rows[smallest][u][m] for u in users]
        result = wilcoxon_signed_rank(diffs)
        tests[m] = {
            "compared": f"{largest:g} vs {smallest:g}",
            "users_better": sum(d > 0 for d in diffs),
            "users_worse": sum(d < 0 for d in diffs),
            "wilcoxon_w_plus": None if result is None else result[0],
            "p_two_sided": None if result is None else result[1],
        }
    return {
        "metric": runs[largest]["metric"],
        "users": len(users),
        "queries": sum(base[u]["queries"] for u in users),
        "points": points,
        "paired_test": tests,
        "cpu_seconds_users": sum(run["user_seconds_total"] for run in runs.values()),
    }


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def write_curve(out_dir: Path, curve: dict[str, Any], header: dict[str, Any]) -> dict[str, Path]:
    paths = {
        "json": out_dir / "fractions.json",
        "markdown": out_dir / "fractions.md",
        "plot": out_dir / "gain_vs_data_fraction.png",
    }
    atomic_write_json(paths["json"], curve)
    atomic_write_text(paths["markdown"], curve_markdown(curve, header))
    _plot(paths["plot"], curve, header)
    return paths


def curve_markdown(curve: dict[str, Any], header: dict[str, Any]) -> str:
    lines = [
        f"# PEFT's gain by amount of the same user's data: {header['task']} with {header['model']}",
        "",
        f"- Command: `{header['command']}`",
        f"- {curve['users']} users, {curve['queries']} queries, the same at every fraction",
        f"- Users' own time, all fractions: {curve['cpu_seconds_users'] / 60:.0f} min",
        "",
        f"| fraction of the profile | method | mean training items | relative gain in "
        f"{curve['metric']} over none [95 % CI] | per-user gain min / median / max |",
        "|---|---|---|---|---|",
    ]
    for p in curve["points"]:
        gain, ci, s = p["relative_gain_percent"], p["relative_gain_ci95"], p["per_user_gain"]
        gain_s = "—" if gain is None else f"{gain:+.1f} %"
        if ci is not None:
            gain_s += f" [{ci[0]:+.1f}, {ci[1]:+.1f}]"
        items = "—" if p["mean_train_items"] is None else f"{p['mean_train_items']:.0f}"
        lines.append(
            f"| {p['fraction']:g} | {p['method']} | {items} | {gain_s} | "
            f"{s['min']:+.3f} / {s['median']:+.3f} / {s['max']:+.3f} |"
        )
    lines += ["", "Paired test across users (Wilcoxon signed-rank, exact, two-sided):", ""]
    for m, t in curve["paired_test"].items():
        p_s = "undefined" if t["p_two_sided"] is None else f"p = {t['p_two_sided']:.3f}"
        lines.append(
            f"- {m}, {t['compared']}: better for {t['users_better']} users, worse for "
            f"{t['users_worse']}; {p_s}"
        )
    return "\n".join(lines) + "\n"


def _plot(path: Path, curve: dict[str, Any], header: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for method, marker in zip(
        dict.fromkeys(p["method"] for p in curve["points"]), "os^", strict=False
    ):
        pts = [p for p in curve["points"] if p["method"] == method]
        xs = [p["fraction"] for p in pts]
        ys = [p["relative_gain_percent"] or 0.0 for p in pts]
        lo = [y - (p["relative_gain_ci95"] or (y, y))[0] for y, p in zip(ys, pts, strict=True)]
        hi = [(p["relative_gain_ci95"] or (y, y))[1] - y for y, p in zip(ys, pts, strict=True)]
        ax.errorbar(xs, ys, yerr=[lo, hi], label=method, marker=marker, capsize=4)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("fraction of the user's trainable profile (newest first)")
    ax.set_ylabel(f"relative gain in {curve['metric']} over none (%)")
    ax.set_title(f"{header['task']}, {header['model']}: {curve['users']} users (95 % CI)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
