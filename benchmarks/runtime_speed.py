"""Tokens/s and time-to-first-token of Inkwell's writer versus raw llama-cpp-python.

Both sides run in this process on the same GGUF, prompt and settings (threads,
context, greedy decoding, repeat penalty, token limit), alternating A/B so
machine noise hits both alike.  The Inkwell side is the code path of
``inkwell write`` (Writer.prepare + Writer.stream); the raw side is a bare
``Llama.create_completion(stream=True)``.  Prints the ratios (target >= 0.95)
and writes them to ``benchmarks/results/runtime_speed.json``.

    .venv/bin/python benchmarks/runtime_speed.py [--model NAME] [--runs 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from core.privacy import install_network_guard

install_network_guard()

from core.models import ModelRegistry  # noqa: E402
from core.paths import Home  # noqa: E402
from core.runtime import DEFAULT_CONTEXT, GenerationParams, default_threads  # noqa: E402
from core.writer import Writer, WriteRequest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "runtime_speed.json"
REQUEST = "Write a long letter to a friend about a walking holiday in the mountains."


def timed(pieces: Iterator[str]) -> tuple[float, float, int]:
    """(seconds to first piece, seconds for the rest, pieces) of a stream started just now."""
    start = time.perf_counter()
    first = None
    n = 0
    for _ in pieces:
        n += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None, "no tokens generated"
    return first - start, end - first, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()

    import llama_cpp

    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-bench-")).ensure()
    model = ModelRegistry(home).get(args.model)
    writer = Writer(home, home.profile().ensure(), model)
    prepared = writer.prepare(
        WriteRequest(REQUEST, "free", params=GenerationParams(max_tokens=args.max_tokens))
    )
    p = prepared.params
    threads = default_threads()
    raw = llama_cpp.Llama(
        model_path=str(model.path),
        n_ctx=min(DEFAULT_CONTEXT, model.context_length),
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )

    def raw_stream() -> Iterator[str]:
        raw.reset()
        for chunk in raw.create_completion(
            prepared.prompt,
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            repeat_penalty=p.repeat_penalty,
            seed=p.seed,
            stop=list(p.stop) or None,
            stream=True,
        ):
            text = chunk["choices"][0]["text"]  # type: ignore[index]
            if text:  # time to the first *visible* text on both sides
                yield text

    samples: dict[str, list[tuple[float, float, int]]] = {"inkwell": [], "raw": []}
    timed(writer.stream(prepared))  # warm-up both (page cache, thread pools)
    timed(raw_stream())
    for _ in range(args.runs):
        samples["inkwell"].append(timed(writer.stream(prepared)))
        samples["raw"].append(timed(raw_stream()))

    def summary(rows: list[tuple[float, float, int]]) -> dict[str, float]:
        ttft = statistics.median(r[0] for r in rows)
        tps = statistics.median((r[2] - 1) / r[1] for r in rows if r[1] > 0)
        return {
            "ttft_s": ttft,
            "tokens_per_s": tps,
            "pieces": statistics.median(r[2] for r in rows),
        }

    ink, base = summary(samples["inkwell"]), summary(samples["raw"])
    result = {
        "model": model.name,
        "threads": threads,
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        "prompt_tokens": writer.runtime.count_tokens(prepared.prompt),
        "inkwell": ink,
        "raw_llama_cpp": base,
        "tokens_per_s_ratio": ink["tokens_per_s"] / base["tokens_per_s"],
        "ttft_ratio_raw_over_inkwell": base["ttft_s"] / ink["ttft_s"],
        "command": "python benchmarks/runtime_speed.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing[model.name] = result
    RESULTS.write_text(json.dumps(existing, indent=2) + "\n")
    ok = result["tokens_per_s_ratio"] >= 0.95 and result["ttft_ratio_raw_over_inkwell"] >= 0.95
    verdict = "OK" if ok else "BELOW TARGET"
    print(
        f"{model.name}: tokens/s ratio {result['tokens_per_s_ratio']:.3f}, "
        f"TTFT ratio {result['ttft_ratio_raw_over_inkwell']:.3f} -> {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
