"""MiniLM (a BERT encoder) + mean pooling + L2 norm, written as an ONNX graph from its weights.

The embedder needs an ONNX file, and exporting one through ``torch.onnx`` would make
PyTorch a dependency of retrieval; PyTorch is the optional trainer (core/trainer.py).  So
the graph is built here from ``model.safetensors`` with the ``onnx`` package: BERT's
embeddings, ``num_hidden_layers`` post-norm encoder layers (self-attention with the padding
masked out, GELU feed-forward) and the sentence-transformers pooling, in the opset-17 ops
that onnxruntime's graph optimiser fuses.  The vectors equal sentence-transformers' (tested).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17


class _Graph:
    """Nodes and initializers with generated names: each method returns its output's name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, value: np.ndarray, name: str | None = None) -> str:
        name = name or f"c{len(self.weights)}"
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        self._n += 1
        out = f"{op_type.lower()}{self._n}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def linear(self, x: str, weights: dict[str, np.ndarray], prefix: str) -> str:
        """``x @ W.T + b`` for the torch Linear layer ``prefix``."""
        w = self.const(weights[f"{prefix}.weight"].T, f"{prefix}.weight_t")
        return self.op("Add", self.op("MatMul", x, w), self.const(weights[f"{prefix}.bias"]))

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, eps: float) -> str:
        return self.op("LayerNormalization", x, self.const(weights[f"{prefix}.weight"]),
                       self.const(weights[f"{prefix}.bias"]), axis=-1, epsilon=eps)


def build(model_dir: Path) -> onnx.ModelProto:
    """The sentence-embedding graph of the BERT folder ``model_dir`` (inputs as BERT's)."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        raise ValueError(f"{model_dir}: not a BERT encoder with GELU")
    stored = load_file(model_dir / "model.safetensors")
    weights = {k.removeprefix("bert."): v for k, v in stored.items()}
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    head_dim, eps = hidden // heads, float(config["layer_norm_eps"])
    g = _Graph()
    f32 = np.float32

    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
    length = g.op("Shape", ids, start=1, end=2)
    positions = g.op("Slice", g.const(weights["embeddings.position_embeddings.weight"]),
                     g.const(np.array([0], np.int64)), length, g.const(np.array([0], np.int64)))
    x = g.op("Add", g.op("Gather", g.const(weights["embeddings.word_embeddings.weight"]), ids),
             positions)
    x = g.op("Add", x, g.op("Gather", g.const(weights["embeddings.token_type_embeddings.weight"]),
                            types))
    x = g.layer_norm(x, weights, "embeddings.LayerNorm", eps)

    maskf = g.op("Cast", mask, to=TensorProto.FLOAT)  # [B, S]
    # Padding gets the most negative float added before the softmax, as transformers does.
    bias = g.op("Mul", g.op("Sub", g.const(np.array(1, f32)), maskf),
                g.const(np.array(np.finfo(f32).min, f32)))
    bias = g.op("Unsqueeze", bias, g.const(np.array([1, 2], np.int64)))  # [B, 1, 1, S]
    split_heads = g.const(np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = g.const(np.array([0, 0, hidden], np.int64))
    scale = g.const(np.array(1 / math.sqrt(head_dim), f32))
    sqrt2 = g.const(np.array(math.sqrt(2), f32))
    one, half = g.const(np.array(1, f32)), g.const(np.array(0.5, f32))

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"

        def heads_of(name: str, perm: list[int], p: str = p, x: str = x) -> str:
            projected = g.linear(x, weights, f"{p}.attention.self.{name}")
            return g.op("Transpose", g.op("Reshape", projected, split_heads), perm=perm)

        q = heads_of("query", [0, 2, 1, 3])  # [B, H, S, D]
        k = heads_of("key", [0, 2, 3, 1])  # [B, H, D, S]
        v = heads_of("value", [0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge_heads)
        attended = g.linear(context, weights, f"{p}.attention.output.dense")
        x = g.layer_norm(g.op("Add", attended, x), weights, f"{p}.attention.output.LayerNorm", eps)
        inner = g.linear(x, weights, f"{p}.intermediate.dense")
        # Exact GELU, x (1 + erf(x / sqrt 2)) 0.5, as BERT's "gelu", in the order of ops
        # onnxruntime's GELU fusion looks for (it then fuses the bias in too).
        erf = g.op("Erf", g.op("Div", inner, sqrt2))
        gelu = g.op("Mul", g.op("Mul", inner, g.op("Add", erf, one)), half)
        out = g.linear(gelu, weights, f"{p}.output.dense")
        x = g.layer_norm(g.op("Add", out, x), weights, f"{p}.output.LayerNorm", eps)

    axis1 = g.const(np.array([1], np.int64))
    weight = g.op("Unsqueeze", maskf, g.const(np.array([2], np.int64)))  # [B, S, 1]
    summed = g.op("ReduceSum", g.op("Mul", x, weight), axis1, keepdims=0)
    count = g.op("Max", g.op("ReduceSum", weight, axis1, keepdims=0),
                 g.const(np.array(1e-9, f32)))
    mean = g.op("Div", summed, count)
    norm = g.op("Sqrt", g.op("ReduceSum", g.op("Mul", mean, mean), axis1, keepdims=1))
    g.nodes.append(helper.make_node(
        "Div", [mean, g.op("Max", norm, g.const(np.array(1e-12, f32)))], ["embedding"]))

    dims = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes, "minilm_sentence_embedding",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in (ids, mask, types)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="inkwell")
    model.ir_version = 8  # what every onnxruntime since 1.10 reads
    onnx.checker.check_model(model)
    return model
