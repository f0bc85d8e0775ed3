"""How often a free-writing draft goes off the request: invented numbers and names.

Twenty fixed requests of the kind people type into the Write panel ("free"
task, method ``none``: no retrieved passages, so every detail must come from
the request).  A draft counts as *off the request* when it contains a number,
or a capitalised word inside a sentence (a name, a place, a product), that the
request does not contain.  The heuristic over-counts a little (a capitalised
common word after a colon) and never under-counts an invented number.  Each
bundled model writes every draft through ``Writer`` (greedy, the app's
settings), alternating models per request.

    nice -n 10 env INKWELL_THREADS=1 .venv/bin/python benchmarks/free_drafts.py [--models A,B]

Writes ``benchmarks/results/free_drafts.json`` (every draft and what was flagged).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from core.privacy import install_network_guard

install_network_guard()

from core.models import GEMMA, SMOLLM2, ModelRegistry  # noqa: E402
from core.paths import Home  # noqa: E402
from core.runtime import GenerationParams  # noqa: E402
from core.writer import Method, Writer, WriteRequest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "free_drafts.json"
REQUESTS = (
    "A short note thanking the team for shipping the release on time.",
    "Two sentences inviting my neighbours to a garden party on Saturday.",
    "A reply declining a meeting because I am travelling next week.",
    "A paragraph about why I walk to work every morning.",
    "A message to Anna asking whether the report is ready.",
    "A short apology for missing yesterday's call.",
    "A note to the landlord that the kitchen tap is leaking.",
    "Three sentences on what I learned from my first marathon.",
    "A reminder to the book club that we meet at 7 pm on Thursday.",
    "A thank-you card for a colleague who is retiring.",
    "A short bio for a conference talk about database indexes.",
    "An e-mail asking the school for the date of the next parents' evening.",
    "A paragraph describing a rainy afternoon by the harbour.",
    "A note to my team that the build is broken and I am fixing it.",
    "Two sentences recommending a good bread recipe to a friend.",
    "A request to my manager for two days off in March.",
    "A short welcome message for new members of the chess club.",
    "A paragraph on why small models are useful on laptops.",
    "A message congratulating Sam on the new job.",
    "A note to the cleaner that the spare key is under the blue pot.",
)
_STOP = {"i", "i'm", "i've", "i'll", "i'd"}
_WORD = re.compile("[\\w'\u2019]+")


def invented(draft: str, request: str) -> list[str]:
    """Numbers and in-sentence capitalised words of the draft that the request lacks."""
    known = {w.casefold() for w in _WORD.findall(request)}
    found = []
    for sentence in re.split(r"(?<=[.!?:])\s+|\n+", draft):
        tokens = _WORD.findall(sentence)
        for i, token in enumerate(tokens):
            word = token.casefold()
            if word in known or word in _STOP:
                continue
            if any(c.isdigit() for c in token) or (i > 0 and token[0].isupper()):
                found.append(token)
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=f"{SMOLLM2},{GEMMA}")
    ap.add_argument("--max-tokens", type=int, default=120)
    args = ap.parse_args()
    names = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        home = Home.resolve(Path(tmp)).ensure()
        profile = home.profile("me").ensure()
        registry = ModelRegistry(home)
        writers = {n: Writer(home, profile, registry.get(n)) for n in names}
        rows = []
        for request in REQUESTS:
            row: dict[str, object] = {"request": request}
            for name, writer in writers.items():
                prepared = writer.prepare(WriteRequest(
                    request, "free", Method.NONE,
                    params=GenerationParams(max_tokens=args.max_tokens)))
                draft = writer.answer(prepared)
                row[name] = {"draft": draft, "invented": invented(draft, request)}
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    summary = {
        name: {
            "off_request_rate": sum(bool(r[name]["invented"]) for r in rows)  # type: ignore[index]
            / len(rows),
            "empty": sum(not r[name]["draft"].strip() for r in rows),  # type: ignore[index]
        }
        for name in names
    }
    result = {"command": "benchmarks/free_drafts.py " + " ".join(sys.argv[1:]),
              "requests": len(REQUESTS), "max_tokens": args.max_tokens,
              "summary": summary, "drafts": rows}
    RESULTS.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
