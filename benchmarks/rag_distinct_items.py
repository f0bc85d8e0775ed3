"""How often RAG's top k chunks hold one item twice, and the examples the writer now uses.

For each task of the shared LaMP data, ``--users`` seeded questions: a library
of the question's own profile (its newest ``--profile`` items, as
``write_answers.py`` builds it), then the query's top k chunks by BM25 (what
the writer used to turn into examples, one per chunk) and the examples
``Writer.prepare`` puts into the prompt now (distinct items).  The model is not
run: a fake one renders the prompt.  Prints the shares and writes
``benchmarks/results/rag_distinct_items.json``.

    .venv/bin/python benchmarks/rag_distinct_items.py --data ../shared/data --users 25
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.privacy import install_network_guard  # noqa: E402

install_network_guard()

from benchmarks.library_data import DEFAULT_DATA, write_result  # noqa: E402
from core.lamp import load_dataset, profile_item_document  # noqa: E402
from core.library import Library  # noqa: E402
from core.models import ModelRegistry  # noqa: E402
from core.paths import Home  # noqa: E402
from core.writer import Method, Writer, WriteRequest  # noqa: E402
from tests.fakes import FakeModel  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "rag_distinct_items.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--users", type=int, default=25)
    ap.add_argument("--profile", type=int, default=30)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    result: dict[str, object] = {"k": args.k, "profile_items": args.profile,
                                 "command": "python benchmarks/rag_distinct_items.py "
                                            + " ".join(sys.argv[1:]),
                                 "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    for task in ("proposal_title", "commit_subject"):
        dataset = load_dataset(args.data / task / "questions.json")
        questions = list(dataset.questions)
        random.Random(args.seed).shuffle(questions)
        repeated = repeated_now = 0
        for question in questions[: args.users]:
            home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-distinct-")).ensure()
            profile = home.profile().ensure()
            library = Library(profile)
            library.index_documents([profile_item_document(item, dataset.task, "profile")
                                     for item in question.profile[-args.profile :]])
            query = dataset.task.query_content(question.input)
            chunks = library.search(query, k=args.k, retriever="bm25")
            repeated += len({h.doc_id for h in chunks}) < len(chunks)
            writer = Writer(home, profile, ModelRegistry(home).get(None), library=library,
                            runtime=FakeModel())
            prepared = writer.prepare(WriteRequest(query, task, Method.RAG, retriever="bm25",
                                                   k=args.k))
            ids = [e.doc_id for e in prepared.sources]
            repeated_now += len(set(ids)) < len(ids)
            library.close()
        n = min(args.users, len(questions))
        result[task] = {"queries": n, "top_k_chunks_repeat_an_item": repeated,
                        "prompts_repeat_an_item": repeated_now}
        print(f"{task}: {repeated} of {n} queries' top {args.k} chunks repeat an item; "
              f"{repeated_now} of the writer's prompts do")
    write_result(RESULTS, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
