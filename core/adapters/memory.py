"""How much memory running a model and training an adapter on it take, before doing either.

Training peak = the dequantized base weights in the training dtype + the LoRA
weights with their gradients and AdamW's two moments (float32) + the activations
autograd keeps for one batch + the logits over the vocabulary (float32, with their
softmax and gradient) + the process itself (torch, transformers, tokenizer).
Gradient checkpointing keeps only each block's input and recomputes one block at a
time in the backward pass.  The constants are checked against measured peak RSS
in docs/MODELS.md ("Memory estimates").

Running (llama.cpp) = the GGUF file (mapped) + the KV cache in f16 at the
context Inkwell opens + llama.cpp's compute buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import InkwellError

if TYPE_CHECKING:
    from core.adapters.config import TrainConfig
    from core.models import ModelInfo

GB = 1e9
PROCESS_BYTES = 1_000_000_000  # the process: torch, transformers, peft, llama.cpp's vocabulary
LLAMA_BUFFERS_BYTES = 300_000_000  # llama.cpp compute buffers, the runtime, the tokenizer
FIT_FRACTION = 0.85  # of the memory available now: the rest is headroom for the system


@dataclass(frozen=True)
class ModelShape:
    """The dimensions that decide memory use (from the GGUF metadata or the catalog)."""

    n_params: int
    n_layers: int
    hidden: int
    n_head: int
    n_kv_head: int
    head_dim: int
    ffn: int
    vocab: int


@dataclass(frozen=True)
class TrainingMemory:
    weights: int
    lora: int
    activations: int
    logits: int
    process: int

    @property
    def total(self) -> int:
        return self.weights + self.lora + self.activations + self.logits + self.process


def lora_params(shape: ModelShape, r: int, targets: tuple[str, ...]) -> int:
    q, kv = shape.n_head * shape.head_dim, shape.n_kv_head * shape.head_dim
    dims = {
        "q_proj": (shape.hidden, q), "k_proj": (shape.hidden, kv), "v_proj": (shape.hidden, kv),
        "o_proj": (q, shape.hidden), "gate_proj": (shape.hidden, shape.ffn),
        "up_proj": (shape.hidden, shape.ffn), "down_proj": (shape.ffn, shape.hidden),
    }
    return shape.n_layers * sum(r * sum(dims[t]) for t in targets if t in dims)


def training_memory(
    shape: ModelShape,
    *,
    batch: int,
    seq: int,
    dtype_bytes: int,
    r: int,
    targets: tuple[str, ...],
    checkpointing: bool,
) -> TrainingMemory:
    tokens = batch * seq
    # What one block keeps for its backward pass, in elements: the norms' inputs, q/k/v,
    # the attention scores and probabilities (eager attention), the attention output,
    # the MLP's gate, up, activation and product, and the residual stream.
    per_token = 8 * shape.hidden + (shape.n_head + 2 * shape.n_kv_head) * shape.head_dim
    per_token += 4 * shape.ffn
    block = tokens * per_token + 2 * batch * shape.n_head * seq * seq
    if checkpointing:
        kept = shape.n_layers * tokens * shape.hidden + 2 * block  # inputs + one block redone
    else:
        kept = shape.n_layers * block + block  # + the gradients of the block being done
    return TrainingMemory(
        weights=shape.n_params * dtype_bytes,
        lora=lora_params(shape, r, targets) * 4 * 4,  # weight, gradient, two AdamW moments
        activations=kept * dtype_bytes,
        logits=tokens * shape.vocab * 4 * 3,  # float32 logits, log-softmax, gradient
        process=PROCESS_BYTES,
    )


def running_memory(shape: ModelShape, file_size: int, n_ctx: int) -> int:
    kv_cache = 2 * shape.n_layers * shape.n_kv_head * shape.head_dim * n_ctx * 2
    return file_size + kv_cache + LLAMA_BUFFERS_BYTES


def available_memory() -> int:
    """Bytes of memory a new process can use now without swapping (psutil's "available")."""
    import psutil

    return int(psutil.virtual_memory().available)


def fits(needed: int, available: int) -> bool:
    return needed <= available * FIT_FRACTION


def model_shape(model: ModelInfo) -> ModelShape:
    """The dimensions of a GGUF model, from llama.cpp's reading of its metadata.

    The parameter count is computed from them (embeddings, tied to the output as in every
    small model Inkwell targets, plus each block's projections), so nothing is loaded.
    """
    from core.adapters.gguf_export import read_base_layout
    from core.adapters.tokens import vocab_for

    layout = read_base_layout(model)
    meta = vocab_for(model).llama.metadata
    arch = model.architecture
    hidden, ffn = layout.shapes["attn_q"][0], int(meta[f"{arch}.feed_forward_length"])
    head_dim = layout.shapes["attn_q"][1] // layout.n_head
    vocab = int(vocab_for(model).llama.n_vocab())
    block = sum(n_in * n_out for name, (n_in, n_out) in layout.shapes.items()
                if name in ("attn_q", "attn_k", "attn_v", "attn_output"))
    block += 3 * hidden * ffn
    return ModelShape(
        n_params=vocab * hidden + layout.n_block * block, n_layers=layout.n_block,
        hidden=hidden, n_head=layout.n_head, n_kv_head=layout.n_head_kv, head_dim=head_dim,
        ffn=ffn, vocab=vocab,
    )


def training_estimate(shape: ModelShape, config: TrainConfig) -> TrainingMemory:
    """Peak memory of training with ``config`` on the CPU (float32), as the trainer runs it."""
    return training_memory(
        shape, batch=config.batch_size, seq=config.max_len, dtype_bytes=4, r=config.r,
        targets=config.target_modules, checkpointing=False,
    )


def check_training_fits(
    model: ModelInfo, config: TrainConfig, available: int | None = None
) -> None:
    """Refuse, before any work, a training that would not fit in the memory available now."""
    shape = model_shape(model)
    needed = training_estimate(shape, config).total
    available = available_memory() if available is None else available
    if fits(needed, available):
        return
    # The largest model of the same build that would fit: memory beyond the process's own
    # grows about linearly with the parameter count.
    usable = available * FIT_FRACTION - PROCESS_BYTES
    largest = shape.n_params * usable / max(needed - PROCESS_BYTES, 1)
    smaller = (f"choose a model of at most ~{largest / 1e9:.1f}B parameters"
               if largest >= 1e8 else "choose a smaller model")
    raise InkwellError(
        f"training an adapter on {model.name!r} ({shape.n_params / 1e9:.2f}B parameters) needs "
        f"~{needed / GB:.1f} GB of memory; this computer has {available / GB:.1f} GB available. "
        f"{smaller[0].upper()}{smaller[1:]} or close other apps"
    )
