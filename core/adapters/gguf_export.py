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

# Architectures whose converter permutes q/k rows (convert_hf_to_gguf.py LlamaModel.permute).
_PERMUTED_ARCHS = {"llama"}


@dataclass(frozen=True)
class BaseLayout:
    """What export needs to know about the base GGUF."""

    architecture: str
    n_head: int
    n_head_kv: int
    n_block: int
    shapes: dict[str, tuple[int, int]]  # base tensor name -> (n_in, n_out)


def read_base_layout(model: ModelInfo) -> BaseLayout:
    import gguf

    reader = gguf.GGUFReader(model.path, "r")

    def num(key: str, default: int | None = None) -> int:
        field = reader.fields.get(f"{model.architecture}.{key}")
        if field is None:
            if default is None:
                raise InkwellError(f"{model.path}: GGUF metadata lacks {model.architecture}.{key}")
            return default
        value = field.contents()
        return int(value[0] if isinstance(value, list) else value)

    n_head = num("attention.head_count")
    shapes = {
        t.name: (int(t.shape[0]), int(t.shape[1])) for t in reader.tensors if len(t.shape) == 2
    }
    return BaseLayout(
        model.architecture,
        n_head,
        num("attention.head_count_kv", n_head),
        num("block_count"),
        shapes,
    )


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
        if name is None or name not in layout.shapes:
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
        n_in, n_out = layout.shapes[names[module]]
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
