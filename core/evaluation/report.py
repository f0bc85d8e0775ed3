"""Turning per-user results into the paper's table, correlations, a plot and predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.evaluation.runner import FLOORS, UserResult
from core.evaluation.stats import bootstrap_gain_ci, relative_gain, spearman
from core.fsutil import atomic_path, atomic_write_json, atomic_write_text
from core.lamp import task_by_name
from core.metrics import primary_metric, score


def summarize(results: Sequence[UserResult], methods: Sequence[str]) -> dict[str, Any]:
    """Scores per method and floor, relative gains over ``none``, per-user rows, correlations."""
    if not results:
        return {"methods": {}, "users": [], "queries": 0}
    task = task_by_name(results[0].task) if results[0].task in _lamp_names() else None
    systems = [*methods, *FLOORS]
    golds = [q["gold"] for r in results for q in r.queries]
    table: dict[str, dict[str, float]] = {}
    for system in systems:
        preds = [q["predictions"].get(system, "") for r in results for q in r.queries]
        table[system] = _score(task, preds, golds)
    metric, higher = primary_metric(task) if task else ("rouge-L", True)
    base = table.get("none", {}).get(metric)
    gains = {
        s: None if base is None else relative_gain(table[s][metric], base, higher) for s in systems
    }
    users = []
    per_query: list[dict[str, list[float]]] = []  # per user: each system's per-query scores
    for r in results:
        row: dict[str, Any] = {
            "user": r.user_id,
            "profile_size": r.profile_size,
            "queries": len(r.queries),
            "train_items": r.adapter["n_train"] if r.adapter else None,
        }
        scores = {
            system: [
                _score(task, [q["predictions"].get(system, "")], [q["gold"]])[metric]
                for q in r.queries
            ]
            for system in systems
        }
        for system in systems:
            row[system] = sum(scores[system]) / max(1, len(scores[system]))
        users.append(row)
        per_query.append(scores)
    intervals = {
        s: bootstrap_gain_ci(per_query, s, "none", higher)
        for s in systems
        if base is not None and s != "none"
    }
    correlations = {}
    if "none" in methods:
        sizes = [float(u["profile_size"]) for u in users]
        for m in methods:
            if m != "none":
                rho = spearman(sizes, [u[m] - u["none"] for u in users])
                correlations[f"profile_size~gain({m})"] = rho
    return {
        "metric": metric,
        "higher_is_better": higher,
        "systems": table,
        "relative_gain_percent": gains,
        # 95 % bootstrap interval of each gain, users resampled (core.evaluation.stats).
        "relative_gain_ci95": intervals,
        "users": users,
        "spearman": correlations,
        "queries": len(golds),
    }


def _lamp_names() -> set[str]:
    from core.lamp import TASKS

    return set(TASKS)


def _score(task: Any, preds: list[str], golds: list[str]) -> dict[str, float]:
    from core.lamp import TASKS

    return score(task or TASKS["LaMP-5"], preds, golds)  # free tasks: ROUGE, like LaMP-5


def markdown(summary: dict[str, Any], header: dict[str, Any]) -> str:
    metric = summary["metric"]
    lines = [
        f"# Evaluation: {header['task']} with {header['model']}",
        "",
        f"- Command: `{header['command']}`",
        f"- Sample: {header['sample']}",
        f"- Retriever {header['config']['retriever']}, k={header['config']['k']}, "
        f"prompt format {header['config']['prompt_format']}",
        f"- Wall time: {header['wall_seconds']:.0f} s for this invocation, "
        f"{header['user_seconds_total']:.0f} s summed over the users (a run resumes across "
        f"invocations), on {header['machine']}",
        "",
        "| system | "
        + " | ".join(next(iter(summary["systems"].values())).keys())
        + f" | relative gain in {metric} over none [95 % CI, users resampled] |",
        "|---|" + "---|" * (len(next(iter(summary["systems"].values()))) + 1),
    ]
    for system, scores in summary["systems"].items():
        gain = summary["relative_gain_percent"].get(system)
        gain_s = "—" if gain is None else f"{gain:+.2f} %"
        ci = summary.get("relative_gain_ci95", {}).get(system)
        if ci is not None:
            gain_s += f" [{ci[0]:+.1f}, {ci[1]:+.1f}]"
        lines.append(
            f"| {system} | " + " | ".join(f"{v:.4f}" for v in scores.values()) + f" | {gain_s} |"
        )
    lines += ["", "Spearman correlation of profile size with each method's per-user gain:", ""]
    for name, rho in summary["spearman"].items():
        lines.append(f"- {name}: {'undefined' if rho is None else f'{rho:+.3f}'}")
    lines += [
        "",
        f"Per user ({metric}):",
        "",
        "| user | profile size | queries | " + " | ".join(k for k in summary["systems"]) + " |",
        "|---|---|---|" + "---|" * len(summary["systems"]),
    ]
    for u in summary["users"]:
        lines.append(
            f"| {u['user']} | {u['profile_size']} | {u['queries']} | "
            + " | ".join(f"{u[k]:.3f}" for k in summary["systems"])
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(
    out_dir: Path,
    summary: dict[str, Any],
    header: dict[str, Any],
    results: Sequence[UserResult],
    lamp_task_name: str,
    methods: Sequence[str],
) -> dict[str, Path]:
    """results.json, results.md, predictions in LaMP's format per method, gain-vs-size plot."""
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "results.md"}
    atomic_write_json(paths["json"], {**header, **summary})
    atomic_write_text(paths["markdown"], markdown(summary, header))
    for m in methods:
        path = out_dir / f"predictions_{m.replace('+', '_')}.json"
        atomic_write_json(
            path,
            {
                "task": lamp_task_name,
                "golds": [
                    {"id": q["id"], "output": q["predictions"].get(m, "")}
                    for r in results
                    for q in r.queries
                ],
            },
        )
        paths[f"predictions:{m}"] = path
    if "none" in methods and len(methods) > 1:  # gains need the baseline
        paths["plot"] = out_dir / "gain_vs_profile_size.png"
        _plot(paths["plot"], summary, methods)
    return paths


def _plot(path: Path, summary: dict[str, Any], methods: Sequence[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    users = summary["users"]
    for m, marker in zip([m for m in methods if m != "none"], "os^", strict=False):
        xs = [u["profile_size"] for u in users]
        ys = [u[m] - u["none"] for u in users]
        ax.scatter(xs, ys, label=m, marker=marker, alpha=0.75)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("symlog")
    ax.set_xlabel("profile size (items)")
    ax.set_ylabel(f"per-user gain in {summary['metric']} over none")
    ax.legend()
    ax.set_title("Personalization gain vs. amount of user data")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
