"""The Write panel's one-line answers on real dev data: loops, copying, suggestions, ROUGE-L.

For each sampled user's newest query (a throw-away library holding exactly that
query's profile, as in ``inkwell eval``), the ``none`` and ``rag`` prompts are
prepared once through ``Writer.prepare`` and answered under each decoding
variant (``none``: all but the penalty), in one process:

``no rule``        greedy, no repeat control (what answers were before);
``penalty 1.3``    greedy with llama.cpp's repeat penalty (the value drafts use);
``no-repeat-3``    greedy, no word 3-gram twice and no word twice in a row;
``no-repeat-2``    greedy, no word pair twice (Inkwell's rule);
``… length``       and the length budget of the user's examples (``no-repeat-2 + length``
                   is Inkwell's default; ``rag`` only: without examples there is no budget);
``… no copy``      and no more than the input's first 3 words copied (``none`` only:
                   with retrieval the model does not copy).

Then ``Writer.suggest`` offers N suggestions (the greedy one plus sampled
ones, ranked by mean log-probability): its top-1 and the best of the N
(oracle) are scored against the gold answer.  Per variant: ROUGE-L, the share
of answers repeating a word 3-gram (or a word twice in a row), and the share
copying the input's opening words; next to them, how often the user's own
earlier pairs (and the gold answers) copy their input.

    nice -n 10 env INKWELL_THREADS=1 OMP_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/write_answers.py --data ../shared/data/commit_subject \\
        --users 3 [--model NAME] [--n 3] [--profile 30]

Writes ``benchmarks/results/answers_<task>_<model>.json`` (every answer, and the summary).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.privacy import install_network_guard

install_network_guard()

from core.answers import clean_answer, copied_prefix, repeats_ngram  # noqa: E402
from core.evaluation.cases import Sampling, cases_from_lamp  # noqa: E402
from core.lamp import load_dataset  # noqa: E402
from core.library import Library  # noqa: E402
from core.metrics import rouge  # noqa: E402
from core.models import ModelRegistry  # noqa: E402
from core.paths import Home  # noqa: E402
from core.prompts import spec_for, user_content  # noqa: E402
from core.runtime import GenerationParams, get_runtime  # noqa: E402
from core.writer import Method, Writer, WriteRequest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS: dict[str, dict[str, Any]] = {
    "no rule": {"no_repeat_ngram": 0, "length_budget": 0},
    "penalty 1.3": {"no_repeat_ngram": 0, "repeat_penalty": 1.3, "length_budget": 0},
    "no-repeat-3": {"no_repeat_ngram": 3, "length_budget": 0},
    "no-repeat-2": {"length_budget": 0},
    "no-repeat-3 + length": {"no_repeat_ngram": 3},
    "no-repeat-2 + length": {},
    "no-repeat-2, no copy": {"no_copy_of": "<input>"},
}
RAG_ONLY = {"penalty 1.3", "no-repeat-3 + length", "no-repeat-2 + length"}
NONE_ONLY = {"no-repeat-2, no copy"}
DEFAULT = "no-repeat-2 + length"
METHODS = (Method.NONE, Method.RAG)


def _rouge_l(answer: str, gold: str) -> float:
    return rouge(answer, gold)["rouge-L"] if answer.strip() else 0.0


def _query(writer: Writer, task: str, query: Any, method: Method, n: int) -> dict[str, Any]:
    """Every variant's answer; the ranked suggestions for ``rag``, the method users get."""
    prepared = writer.prepare(
        WriteRequest(query.input, task, method, retriever="bm25", k=3,
                     params=GenerationParams(max_tokens=32))
    )
    content = user_content(spec_for(task), query.input)
    answers = {}
    for name, change in VARIANTS.items():
        if name in (NONE_ONLY if method is Method.RAG else RAG_ONLY):
            continue
        change = {k: content if v == "<input>" else v for k, v in change.items()}
        answers[name] = writer.answer(replace(prepared, params=replace(prepared.params, **change)))
    suggestions = writer.suggest(prepared, n) if method is Method.RAG else []
    return {
        "answers": answers,
        "suggestions": [{"text": s.text, "score": s.score} for s in suggestions],
        "sources": len(prepared.sources),
    }


def _consensus(suggestions: list[str]) -> str:
    """The suggestion most like the others (ROUGE-L): minimum-Bayes-risk selection, the
    ranking compared with the model's own score."""
    if len(suggestions) < 2:
        return suggestions[0] if suggestions else ""
    return max(
        suggestions,
        key=lambda s: sum(_rouge_l(s, o) for o in suggestions if o is not s),
    )


def _summary(records: list[dict[str, Any]], task: str, history_copy_rate: float) -> dict[str, Any]:
    """Scores of the answers as the current pipeline cleans them (``clean_answer`` leaves an
    answer it already cleaned unchanged, and a rule added since only cuts or strips text)."""
    spec = spec_for(task)
    out: dict[str, Any] = {}
    for method in (m for m in METHODS if m.value in records[0]):
        rows = [r[method.value] | {"gold": r["gold"], "input": r["input"]} for r in records]
        out[method.value] = per = {}
        for name in rows[0]["answers"]:
            answers = [clean_answer(spec, row["answers"][name]) for row in rows]
            per[name] = {
                "rouge_l": statistics.mean(
                    _rouge_l(a, row["gold"]) for a, row in zip(answers, rows, strict=True)
                ),
                "loop_rate": statistics.mean(repeats_ngram(a) for a in answers),
                "pair_repeat_rate": statistics.mean(repeats_ngram(a, 2) for a in answers),
                "copy_rate": statistics.mean(
                    copied_prefix(a, user_content(spec, row["input"]))
                    for a, row in zip(answers, rows, strict=True)
                ),
                "empty": sum(not a.strip() for a in answers),
                "mean_words": statistics.mean(len(a.split()) for a in answers),
            }
        if method is not Method.RAG:
            continue
        suggestions = [[clean_answer(spec, s["text"]) for s in row["suggestions"]] for row in rows]
        per["suggestions"] = {
            "greedy_rouge_l": per[DEFAULT]["rouge_l"],
            "ranked_top1_rouge_l": statistics.mean(
                _rouge_l(s[0] if s else "", row["gold"])
                for s, row in zip(suggestions, rows, strict=True)
            ),
            "consensus_top1_rouge_l": statistics.mean(
                _rouge_l(_consensus(s), row["gold"])
                for s, row in zip(suggestions, rows, strict=True)
            ),
            "best_of_n_rouge_l": statistics.mean(
                max((_rouge_l(t, row["gold"]) for t in s), default=0.0)
                for s, row in zip(suggestions, rows, strict=True)
            ),
            "mean_offered": statistics.mean(len(s) for s in suggestions),
            "top1_is_greedy": statistics.mean(
                bool(s) and s[0] == clean_answer(spec, row["answers"][DEFAULT])
                for s, row in zip(suggestions, rows, strict=True)
            ),
        }
    out["gold_copy_rate"] = statistics.mean(
        copied_prefix(r["gold"], user_content(spec, r["input"])) for r in records
    )
    out["history_copy_rate"] = history_copy_rate
    out["gold_mean_words"] = statistics.mean(len(r["gold"].split()) for r in records)
    return out


def _resummarize(path: Path) -> int:
    result = json.loads(path.read_text())
    result["summary"] = _summary(
        result["queries"], result["task"], result["summary"]["history_copy_rate"]
    )
    result["summarized"] = "benchmarks/write_answers.py --summarize " + str(path.name)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(result["summary"], indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="a task folder in LaMP format")
    ap.add_argument("--users", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="model name (default: the app's default)")
    ap.add_argument("--n", type=int, default=3, help="suggestions per request")
    ap.add_argument("--profile", type=int, default=30,
                    help="retrieve from the newest N items of each profile (indexing is the cost)")
    ap.add_argument("--summarize", metavar="RESULTS",
                    help="only re-score a results file's answers with the current cleaning")
    ap.add_argument("--methods", default="none,rag", help="of none,rag")
    args = ap.parse_args()
    methods = tuple(m for m in METHODS if m.value in args.methods.split(","))
    if args.summarize:
        return _resummarize(Path(args.summarize))

    folder = Path(args.data)
    dataset = load_dataset(folder / "questions.json")
    cases, described = cases_from_lamp(
        dataset, Sampling(users=args.users, max_queries=1, seed=args.seed)
    )
    task = dataset.task.name
    started = time.monotonic()
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Home.resolve(Path(tmp) / "home").ensure()
        model = ModelRegistry(home).get(args.model)
        runtime = get_runtime(model)
        for i, case in enumerate(cases):
            query = case.queries[0]
            profile = home.profile(f"user{i}").ensure()
            library = Library(profile)
            profile_docs = query.profile[-args.profile :]
            library.index_documents(profile_docs)
            writer = Writer(home, profile, model, library=library, runtime=runtime)
            record: dict[str, Any] = {
                "user": case.user_id,
                "id": query.id,
                "input": query.input,
                "gold": query.gold,
                "history": [
                    [d.fields.get(dataset.task.input_field, d.text), d.title]
                    for d in profile_docs
                ],
            }
            for method in methods:
                record[method.value] = _query(writer, task, query, method, args.n)
            library.close()
            records.append(record)
            last = methods[-1].value
            print(f"[{i + 1}/{len(cases)}] {query.id}: gold {query.gold!r}; "
                  f"{last} {list(record[last]['answers'].values())[-1]!r}", flush=True)
    history = [pair for r in records for pair in r["history"]]
    summary = _summary(
        records, task, statistics.mean(copied_prefix(o, i) for i, o in history)
    )
    result = {
        "command": "benchmarks/write_answers.py " + " ".join(sys.argv[1:]),
        "model": model.name,
        "task": task,
        "sample": described,
        "settings": f"BM25 k=3 over the newest {args.profile} profile items, fewshot prompt, "
                    f"32 new tokens; rag suggestions: N={args.n}, sampled at the writer's "
                    "suggestion temperature",
        "minutes": round((time.monotonic() - started) / 60, 1),
        "summary": summary,
        "queries": [{k: v for k, v in r.items() if k != "history"} for r in records],
    }
    only = "" if methods == METHODS else "_" + "_".join(m.value for m in methods)
    out = RESULTS / f"answers_{task}_{model.name}{only}.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
