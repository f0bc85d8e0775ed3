"""Small GGUF files written with the ``gguf`` package, for tests.

A random LoRA adapter lets the foundation tests check adapter hot-swapping without
depending on the trainer; a tiny model file of any architecture is the raw material
of the bad-model tests (an architecture transformers cannot load, a header that lies).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.models import ModelInfo


def write_random_lora(
    model: ModelInfo,
    out: Path,
    rank: int = 4,
    alpha: float = 8.0,
    layers: int = 2,
    seed: int = 0,
    scale: float = 0.5,
) -> Path:
    """A LoRA on the attention query/output projections of the first ``layers`` blocks."""
    import gguf

    reader = gguf.GGUFReader(model.path)
    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}  # ne order: [n_in, n_out]
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(out), model.architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for layer in range(layers):
        for kind in ("attn_q", "attn_output"):
            name = f"blk.{layer}.{kind}.weight"
            n_in, n_out = shapes[name][0], shapes[name][1]
            a = (rng.standard_normal((rank, n_in)) * scale).astype(np.float32)
            b = (rng.standard_normal((n_out, rank)) * scale).astype(np.float32)
            writer.add_tensor(f"{name}.lora_a", a)
            writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def write_tiny_model(out: Path, architecture: str = "llama") -> Path:
    """A valid GGUF of ``architecture`` holding one 4x8 tensor of zeros."""
    import gguf

    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_context_length(16)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
