"""Every one-line task, both bundled models, with and without retrieval: one clean line.

The answers come from the real models through ``Writer`` (the path of the CLI,
the Write panel and the evaluation) on the sample data's real commit messages
and proposals.  Short answers keep this cheap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.answers import COMMON_LABELS, repeats_ngram, words
from core.lamp import load_dataset, profile_item_document
from core.prompts import SPECS, WRITING_TASKS, spec_for
from core.runtime import GenerationParams
from core.writer import NO_REPEAT_NGRAM, Method, Writer, WriteRequest

REPO = Path(__file__).resolve().parent.parent
ONE_LINE_TASKS = [t for t in (*WRITING_TASKS, "proposal_title") if SPECS[t].single_line]
MODELS = ["smollm2", "gemma"]


@pytest.fixture(scope="module")
def library_profile(tmp_path_factory: pytest.TempPathFactory):
    """A profile whose library holds the sample users' commits and proposals."""
    from core.library import Library
    from core.paths import Home

    data = Path(__file__).resolve().parent / "data"
    profile = Home.resolve(tmp_path_factory.mktemp("home")).ensure().profile("me").ensure()
    library = Library(profile)
    for task in ("commit_subject", "proposal_title"):
        dataset = load_dataset(data / task / "sample_questions.json")
        question = dataset.questions[0]
        docs = [profile_item_document(i, dataset.task, "profile") for i in question.profile]
        library.index_documents(docs)
    yield profile, library, {t: load_dataset(data / t / "sample_questions.json").questions
                             for t in ("commit_subject", "proposal_title")}
    library.close()


def _request_text(task: str, questions: dict) -> str:
    """A real input of the task's kind: a commit body, or a proposal's abstract."""
    kind = "proposal_title" if task in ("title", "headline", "proposal_title") else "commit_subject"
    query = questions[kind][1].input
    return query if task == kind else spec_for(kind).lamp_task.query_content(query)  # type: ignore[union-attr]


@pytest.mark.parametrize("model_fixture", MODELS)
def test_every_one_line_task_gives_one_clean_line(model_fixture, request, library_profile):
    model = request.getfixturevalue(model_fixture)
    profile, library, questions = library_profile
    writer = Writer(profile.home, profile, model, library=library)
    labels = {label.lower() for label in COMMON_LABELS}
    for task in ONE_LINE_TASKS:
        spec = spec_for(task)
        labels_here = labels | {spec.output_label.lower(), spec.input_label.lower()}
        for method in (Method.NONE, Method.RAG):
            prepared = writer.prepare(
                WriteRequest(_request_text(task, questions), task, method, k=1,
                             params=GenerationParams(max_tokens=16))
            )
            streamed = list(writer.stream(prepared))
            answer = "".join(streamed)
            where = f"{model.name} {task} {method.value}: {answer!r}"
            assert answer.strip() and "\n" not in answer, where
            assert answer == answer.strip(), where
            assert not any(answer.lower().startswith(label + ":") for label in labels_here), where
            assert not repeats_ngram(answer, NO_REPEAT_NGRAM), where
            if method is Method.RAG:
                assert prepared.sources, f"{where}: retrieval found nothing"
                # The answer's length budget is the longest of the user's examples.
                longest = max(len(words(e.output)) for e in prepared.sources)
                assert prepared.params.length_budget == longest, where


def test_suggestions_are_distinct_and_ranked_by_the_model(smollm2, library_profile):
    profile, library, questions = library_profile
    writer = Writer(profile.home, profile, smollm2, library=library)
    prepared = writer.prepare(
        WriteRequest(_request_text("commit_subject", questions), "commit_subject", Method.RAG,
                     k=1, params=GenerationParams(max_tokens=16))
    )
    suggestions = writer.suggest(prepared, 3)
    texts = [s.text for s in suggestions]
    assert len(texts) == 3 and len({t.lower() for t in texts}) == 3, texts
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
    # The greedy answer is among them, scored as the runtime scores it on its own.
    greedy = writer.answer(prepared)
    assert greedy in texts
    alone = writer.runtime.score(prepared.prompt, [greedy + prepared.ending])[0]
    assert alone == pytest.approx(scores[texts.index(greedy)], abs=1e-3)


def test_cli_prints_n_lines_and_json_scores(home):
    body = ("The BM25 index is rebuilt when its saved copy is damaged, instead of failing the "
            "search. A test corrupts the file and checks that the search still answers.")

    def ink(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core", "write", "--task", "commit_subject", *args, body],
            capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # the ``home`` fixture points INKWELL_HOME at a fresh data dir

    plain = ink("--n", "3", "--max-tokens", "16")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert len(lines) == 3 and len(set(lines)) == 3 and all(line.strip() for line in lines)
    shown = json.loads(ink("--n", "3", "--max-tokens", "16", "--json").stdout)
    assert [s["text"] for s in shown["suggestions"]] == lines
    assert shown["answer"] == lines[0]
