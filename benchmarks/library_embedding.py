"""Embedding throughput and retrieval parity: Inkwell's ONNX MiniLM vs sentence-transformers.

Same 2,000 real paragraphs, same process, same threads.  Prints and records:

* paragraphs/s of each and the ratio (target ≥ 3x);
* per-paragraph cosine between the two vectors;
* retrieval parity on real queries (each paragraph's item title): top-5 overlap
  between the two rankings and recall@5 of the paragraph's own item for each;
* the same for an int8 copy (onnxruntime's BERT fusion, then dynamic per-channel
  int8 quantization), to show what quantizing would buy and cost (Inkwell ships
  fp32: its vectors equal sentence-transformers');
* the same for llama.cpp running GGUF conversions of the same model (``--gguf``,
  e.g. f16 and q8_0 made with llama.cpp's ``convert_hf_to_gguf.py``): Inkwell's
  tokenizer (the same ids and 256-token truncation as sentence-transformers),
  length-sorted, many paragraphs packed unpadded into one llama.cpp batch, mean
  pooling inside llama.cpp.

Timed passes are interleaved (reference, fp32, int8, llama.cpp..., reference, ...)
and the best of each is kept, so load from other processes hits all alike; the
load average is recorded with the result.

    .venv/bin/python benchmarks/library_embedding.py --data ../shared/data \
        --gguf /tmp/minilm-f16.gguf --gguf /tmp/minilm-q8_0.gguf
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.privacy import install_network_guard

install_network_guard()

from library_data import DEFAULT_DATA, load_paragraphs, sample, write_result  # noqa: E402

from core.library.embedder import (  # noqa: E402
    DIMENSION,
    Embedder,
    export_onnx,
    load_tokenizer,
    model_dir,
    onnx_path,
)
from core.paths import Home  # noqa: E402


class LlamaCppEmbedder:
    """MiniLM as GGUF run by llama.cpp (the benchmark's candidate; not Inkwell's embedder).

    llama.cpp runs BERT as an encoder: one ``llama_decode`` takes a whole batch of
    sequences, packed without padding (each attends only to itself through the
    mask), so the batch size is a token budget, ``ubatch``.  Attention is computed
    over the whole packed batch (masked), so its cost grows with ``ubatch``; it
    must still hold the longest input (256 tokens).
    """

    def __init__(self, gguf: Path, threads: int, ubatch: int, flash_attn: bool = False) -> None:
        import llama_cpp

        from core.runtime import ensure_llama_backends

        ensure_llama_backends()
        self._llama_cpp = llama_cpp
        self.ubatch = ubatch
        self.llm = llama_cpp.Llama(
            str(gguf), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            n_ctx=ubatch, n_batch=ubatch, n_ubatch=ubatch, n_threads=threads,
            n_threads_batch=threads, flash_attn=flash_attn, verbose=False)
        self.max_seqs = int(self.llm.context_params.n_seq_max)
        self.tokenizer = load_tokenizer()

    def embed(self, texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), DIMENSION), dtype=np.float32)
        batch, ctx = self.llm._batch, self.llm._ctx
        rows: list[int] = []
        used = 0

        def flush() -> None:
            ctx.decode(batch)
            for seq, row in enumerate(rows):
                pooled = self._llama_cpp.llama_get_embeddings_seq(ctx.ctx, seq)
                out[row] = np.ctypeslib.as_array(pooled, shape=(DIMENSION,))
            batch.reset()
            rows.clear()

        for i in order:
            if used + len(ids[i]) > self.ubatch or len(rows) >= self.max_seqs:
                flush()
                used = 0
            batch.add_sequence(ids[i], len(rows), True)
            rows.append(i)
            used += len(ids[i])
        if rows:
            flush()
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def _timed(fn, texts: list[str], repeats: int) -> tuple[np.ndarray, float]:
    best = float("inf")
    out = None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(texts)
        best = min(best, time.perf_counter() - start)
    assert out is not None
    return np.asarray(out, dtype=np.float32), best


def _parity(a: np.ndarray, b: np.ndarray, queries_a: np.ndarray, queries_b: np.ndarray,
            owner: list[int]) -> dict[str, float]:
    top_a = np.argsort(-(queries_a @ a.T), axis=1)[:, :5]
    top_b = np.argsort(-(queries_b @ b.T), axis=1)[:, :5]
    overlap = np.mean([len(set(x) & set(y)) / 5 for x, y in zip(top_a, top_b, strict=True)])
    recall_a = np.mean([owner[i] in set(top_a[i]) for i in range(len(owner))])
    recall_b = np.mean([owner[i] in set(top_b[i]) for i in range(len(owner))])
    return {"top5_overlap": float(overlap), "recall@5_reference": float(recall_b),
            "recall@5_candidate": float(recall_a),
            "cosine_min": float(np.min(np.sum(a * b, axis=1))),
            "cosine_mean": float(np.mean(np.sum(a * b, axis=1)))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("-n", type=int, default=2000, help="paragraphs (default 2000)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timed passes")
    parser.add_argument("--skip", default="",
                        help="comma-separated embedders to leave out of this run: onnx, int8 "
                             "(to keep a run short; sentence-transformers always runs)")
    parser.add_argument("--gguf", type=Path, action="append", default=[],
                        help="a GGUF conversion of the model to run with llama.cpp (repeatable)")
    parser.add_argument("--llama-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--llama-ubatch", type=int, default=256,
                        help="tokens per llama.cpp batch (at least 256, the longest input)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "library_embedding.json")
    args = parser.parse_args()
    skip = {name for name in args.skip.split(",") if name}

    paragraphs = sample(load_paragraphs(args.data), args.n)
    texts = [p.text for p in paragraphs]
    # Queries: titles of the sampled paragraphs' items; the "owner" is that paragraph.
    query_ix = list(range(min(args.queries, len(paragraphs))))
    queries = [paragraphs[i].title for i in query_ix]

    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir()), device="cpu")
    reference.encode(texts[:64], batch_size=32)

    def st_encode(batch: list[str]) -> np.ndarray:
        return reference.encode(batch, batch_size=32, normalize_embeddings=True,
                                convert_to_numpy=True)

    # name in the result -> embed function; "ref" is sentence-transformers.
    candidates: dict[str, Callable[[list[str]], np.ndarray]] = {"ref": st_encode}
    config: dict[str, dict[str, Any]] = {}
    cache = Home.resolve(os.environ.get("INKWELL_HOME") or tempfile.mkdtemp()).cache_dir
    if "onnx" not in skip or "int8" not in skip:
        export_onnx(onnx_path(cache))
    if "onnx" not in skip:
        candidates["inkwell_onnx"] = Embedder(cache).embed
    if "int8" not in skip:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model

        # int8 pays off on the BERT-fused graph (fused attention, LayerNorm, GELU).
        fused_path = onnx_path(cache).with_name("minilm-fused-benchmark.onnx")
        int8_path = onnx_path(cache).with_name("minilm-fused-int8-per-channel-benchmark.onnx")
        if not fused_path.is_file():
            optimize_model(str(onnx_path(cache)), model_type="bert", num_heads=12,
                           hidden_size=384, opt_level=1).save_model_to_file(str(fused_path))
        if not int8_path.is_file():
            quantize_dynamic(str(fused_path), str(int8_path), weight_type=QuantType.QInt8,
                             per_channel=True,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        candidates["onnx_int8"] = Embedder(cache, model_path=int8_path).embed
    for gguf in args.gguf:
        name = f"llama_cpp_{gguf.stem}"
        candidates[name] = LlamaCppEmbedder(gguf, args.llama_threads, args.llama_ubatch).embed
        config[name] = {"gguf": str(gguf), "bytes": gguf.stat().st_size,
                        "threads": args.llama_threads, "ubatch": args.llama_ubatch}
    for fn in candidates.values():
        fn(texts[:64])  # warm-up

    runs: dict[str, list[float]] = {name: [] for name in candidates}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, fn in candidates.items():
            vectors[name], seconds = _timed(fn, texts, 1)
            runs[name].append(seconds)
            print(f"  {name}: {len(texts) / seconds:.1f} paragraphs/s", flush=True)
    t_ref = min(runs["ref"])
    q_ref = st_encode(queries)

    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "loadavg_after": os.getloadavg()},
        "command": " ".join(sys.argv),
        "seconds_per_pass": runs,
        "paragraphs": len(texts), "queries": len(queries),
        "median_words": float(np.median([len(t.split()) for t in texts])),
        "sentence_transformers": {"seconds": t_ref, "per_s": len(texts) / t_ref},
    }
    print(f"sentence-transformers: {result['sentence_transformers']['per_s']:.1f} paragraphs/s")
    for name, fn in candidates.items():
        if name == "ref":
            continue
        seconds = min(runs[name])
        r = {"seconds": seconds, "per_s": len(texts) / seconds, "speedup_vs_st": t_ref / seconds,
             **config.get(name, {}),
             **_parity(vectors[name], vectors["ref"], np.asarray(fn(queries), dtype=np.float32),
                       q_ref, query_ix)}
        result[name] = r
        print(f"{name}: {r['per_s']:.1f} paragraphs/s ({r['speedup_vs_st']:.2f}x)  cosine min "
              f"{r['cosine_min']:.5f} mean {r['cosine_mean']:.5f}  top-5 overlap "
              f"{r['top5_overlap']:.3f}  recall@5 {r['recall@5_candidate']:.3f} "
              f"(reference {r['recall@5_reference']:.3f})")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
