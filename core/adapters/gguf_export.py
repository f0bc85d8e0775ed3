"""Writing LoRA weights as a GGUF LoRA adapter that llama.cpp loads and hot-swaps.

The format (as llama.cpp's ``convert_lora_to_gguf.py`` writes it):
``general.type = "adapter"``, ``general.architecture`` = the base's,
``adapter.type = "lora"``, ``adapter.lora.alpha`` (float32); for every adapted
base tensor ``<name>.weight`` two tensors ``<name>.weight.lora_a`` (ne
[n_in, r], i.e. PEFT's A [r, in] as it is) and ``<name>.weight.lora_b`` (ne
[r, n_out], PEFT's B [out, r]).  llama.cpp reads the rank from ``lora_b`` and
scales by alpha / r.

llama.cpp's converter permutes the rows of the llama architecture's q and k
projections (its RoPE layout differs from Hugging Face's); transformers undoes
that when it dequantizes the GGUF, so LoRA is trained in Hugging Face's layout
and B's rows of q_proj/k_proj must be permuted the same way on export, or the
adapter loads fine but computes something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.adapters.lora import LoraWeights
from core.errors import InkwellError
from core.fsutil import atomic_path
from core.models import ModelInfo

# Architectures whose converter permutes q/k rows: llama.cpp's conversion/llama.py,
# LlamaModel.permute with undo_permute = True — LlamaForCausalLM and MistralForCausalLM
# (both written as "llama").  Qwen2/3 (conversion/qwen.py), Gemma 2/3 (gemma.py: only
# their norms change, +1) and Phi-3 (phi.py) store q/k as Hugging Face does.
_PERMUTED_ARCHS = {"llama"}
# Phi3MiniModel writes the fused gate_up_proj as ffn_up unchanged.
_FUSED_GATE_UP_ARCHS = {"phi3"}


@dataclass(frozen=True)
class BaseLayout:
    """What export needs to know about the base GGUF: head counts and projection shapes."""

    architecture: str
    n_head: int
    n_head_kv: int
    n_block: int
    shapes: dict[str, tuple[int, int]]  # projection ("attn_q", ...) -> (n_in, n_out)

    def shape(self, tensor: str) -> tuple[int, int] | None:
        """(n_in, n_out) of a base tensor such as ``blk.3.attn_q.weight``."""
        parts = tensor.split(".")
        return self.shapes.get(parts[2]) if len(parts) == 4 and parts[0] == "blk" else None


def read_base_layout(model: ModelInfo) -> BaseLayout:
    """Read the layout from llama.cpp's metadata of the GGUF.

    gguf's pure-Python reader takes ~30 s on Gemma 3 (it parses the 262k-token
    vocabulary); llama.cpp's vocabulary-only load, cached per process, takes ~1 s.
    """
    from core.adapters.tokens import vocab_for

    meta = vocab_for(model).llama.metadata
    arch = model.architecture

    def num(key: str, default: int | None = None) -> int:
        value = meta.get(f"{arch}.{key}")
        if value is None:
            if default is None:
                raise InkwellError(f"{model.path}: GGUF metadata lacks {arch}.{key}")
            return default
        return int(value)

    n_embd, n_ff = num("embedding_length"), num("feed_forward_length")
    n_head = num("attention.head_count")
    n_kv = num("attention.head_count_kv", n_head)
    head_k = num("attention.key_length", n_embd // n_head)
    head_v = num("attention.value_length", head_k)
    shapes = {
        "attn_qkv": (n_embd, (n_head + n_kv) * head_k + n_kv * head_v),  # fused: phi3
        "attn_q": (n_embd, n_head * head_k),
        "attn_k": (n_embd, n_kv * head_k),
        "attn_v": (n_embd, n_kv * head_v),
        "attn_output": (n_head * head_v, n_embd),
        "ffn_gate": (n_embd, n_ff),
        # phi3's ffn_up is its fused gate_up_proj: [gate; up], twice the rows
        "ffn_up": (n_embd, 2 * n_ff if arch in _FUSED_GATE_UP_ARCHS else n_ff),
        "ffn_down": (n_ff, n_embd),
    }
    return BaseLayout(arch, n_head, n_kv, num("block_count"), shapes)


def permute_rows(b: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder B's output rows the way llama.cpp's converter reorders q/k weight rows."""
    rows = b.shape[0]
    return b.reshape(n_head, 2, rows // n_head // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def gguf_tensor_names(weights: LoraWeights, layout: BaseLayout) -> dict[str, str]:
    """Map each Hugging Face module name to its base tensor in the GGUF; fail clearly if absent."""
    import gguf

    arch = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == layout.architecture), None)
    if arch is None:
        raise InkwellError(f"architecture {layout.architecture!r} has no GGUF tensor-name map")
    name_map = gguf.get_tensor_name_map(arch, layout.n_block)
    out = {}
    for module in weights.modules:
        name = name_map.get_name(module + ".weight", try_suffixes=(".weight",))
        if name is None or layout.shape(name) is None:
            raise InkwellError(
                f"the adapter adapts {module}, which has no matching tensor in the "
                f"{layout.architecture} base model (an adapter for another model?)"
            )
        out[module] = name
    return out


def check_against_base(weights: LoraWeights, layout: BaseLayout) -> dict[str, str]:
    """Check every A/B against the base tensor's shape; return the GGUF tensor names."""
    names = gguf_tensor_names(weights, layout)
    for module, (a, b) in weights.modules.items():
        n_in, n_out = layout.shape(names[module]) or (0, 0)
        if a.shape[1] != n_in or b.shape[0] != n_out:
            raise InkwellError(
                f"the adapter's {module} maps {a.shape[1]} -> {b.shape[0]} features but the base "
                f"model's {names[module]} maps {n_in} -> {n_out}: it was trained for another model"
            )
    return names


def write_gguf(weights: LoraWeights, model: ModelInfo, out: Path) -> None:
    """Write ``weights`` as a GGUF LoRA for ``model`` (atomically)."""
    import gguf

    layout = read_base_layout(model)
    names = check_against_base(weights, layout)
    with atomic_path(out) as tmp:
        writer = gguf.GGUFWriter(str(tmp), layout.architecture)
        writer.add_string("general.type", "adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(weights.alpha))
        for module in sorted(weights.modules):
            a, b = weights.modules[module]
            if layout.architecture in _PERMUTED_ARCHS:
                if module.endswith("q_proj"):
                    b = permute_rows(b, layout.n_head)
                elif module.endswith("k_proj"):
                    b = permute_rows(b, layout.n_head_kv)
            writer.add_tensor(f"{names[module]}.lora_a", np.ascontiguousarray(a, np.float32))
            writer.add_tensor(f"{names[module]}.lora_b", np.ascontiguousarray(b, np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
