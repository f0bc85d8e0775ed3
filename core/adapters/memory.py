"""How much memory running a model and training an adapter on it take, before doing either.

Training peak = the dequantized base weights in the training dtype + the LoRA
weights with their gradients and AdamW's two moments (float32) + the activations
autograd keeps for one batch + the logits over the vocabulary (float32, with their
softmax and gradient) + the process itself (torch, transformers, tokenizer).
Gradient checkpointing keeps only each block's input and recomputes one block at a
time in the backward pass.  The constants are checked against measured peak RSS
in docs/MODELS.md ("Memory estimates").

Before training, :func:`fit_training` turns the estimate into a :class:`MemoryPlan`:
the training dtype, gradient checkpointing, how many examples go through the model
at once and how long they may be — the first of a fixed sequence of choices that
fits the memory available — or a refusal that says what would fit.

Running (llama.cpp) = the GGUF file (mapped) + the KV cache in f16 at the
context Inkwell opens + llama.cpp's compute buffers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from core.errors import InkwellError

if TYPE_CHECKING:
    from core.adapters.config import TrainConfig
    from core.models import ModelInfo

GB = 1e9
PROCESS_BYTES = 1_000_000_000  # the process: torch, transformers, peft, llama.cpp's vocabulary
LLAMA_BUFFERS_BYTES = 300_000_000  # llama.cpp compute buffers, the runtime, the tokenizer
CUDA_RESERVE_BYTES = 500_000_000  # on a GPU instead: the CUDA context and allocator slack
FIT_FRACTION = 0.85  # of the memory available now: the rest is headroom for the system
MIN_LEN = 64  # the shortest examples a plan cuts to: a prompt's start and a short target
DTYPE_BYTES = {"float32": 4, "bfloat16": 2}


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
    process: int = PROCESS_BYTES,
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
        process=process,
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
    """Peak memory of training with ``config`` as requested: float32, no checkpointing."""
    return training_memory(
        shape, batch=config.batch_size, seq=config.max_len, dtype_bytes=4, r=config.r,
        targets=config.target_modules, checkpointing=False,
    )


@dataclass(frozen=True, kw_only=True)
class MemoryPlan:
    """How one training fits this machine; made by :func:`plan_memory`, recorded with the adapter.

    The schedule is never changed by it — every step still trains on its batch of
    ``batch_size`` examples at its learning rate — only how a step is computed: in
    ``micro_batch``-sized passes whose gradients are accumulated (the same step up to
    rounding), with gradient checkpointing (the same arithmetic, recomputed), in
    ``dtype``, and on examples cut to ``max_len`` tokens (the one choice that changes
    what is learnt, taken last).
    """

    device: str  # "cpu", "cuda" or "mlx"
    dtype: str  # "float32" or "bfloat16": the base weights and activations; LoRA stays float32
    checkpointing: bool
    batch_size: int  # examples per optimizer step, as requested
    micro_batch: int  # examples per forward/backward pass
    max_len: int  # tokens per example
    requested_len: int
    needed: int  # bytes, the estimate of this plan
    available: int  # bytes available for it when it was made
    fits: bool

    def describe(self) -> str:
        """One line for the user: what training will use and why."""
        where = {"cpu": "the CPU", "cuda": "the GPU", "mlx": "Apple's MLX"}.get(self.device,
                                                                            self.device)
        parts = [f"{where}, {self.dtype}", f"batch {self.batch_size}"]
        if self.micro_batch < self.batch_size:
            parts[-1] += f" in passes of {self.micro_batch}"
        if self.checkpointing:
            parts.append("gradient checkpointing")
        parts.append(f"{self.max_len} tokens per example"
                     + (f" (cut from {self.requested_len})"
                        if self.max_len < self.requested_len else ""))
        verdict = "" if self.fits else ", which does not fit"
        return (f"training on {', '.join(parts)}: ~{self.needed / GB:.1f} GB of the "
                f"{self.available / GB:.1f} GB available{verdict}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _overhead(device: str) -> int:
    """What training takes on ``device`` besides the model: the process, or the CUDA context."""
    return CUDA_RESERVE_BYTES if device == "cuda" else PROCESS_BYTES


def plan_memory(
    shape: ModelShape,
    config: TrainConfig,
    *,
    device: str,
    available: int,
    dtypes: tuple[str, ...] = ("float32",),
    can_checkpoint: bool = True,
) -> MemoryPlan:
    """The first configuration that fits ``available`` bytes, in this order of preference.

    For each of ``dtypes`` (the device's own first; then, on a CPU that computes bfloat16
    natively, bfloat16, which halves the weights but learns slightly differently):

    1. as requested;
    2. with gradient checkpointing (slower, same result), where the backend has it;
    3. halving the examples per pass down to one (slower, same steps).

    Then, in the last dtype, halving the examples' length down to :data:`MIN_LEN` tokens
    (which changes what is learnt).  When even that does not fit, the last plan is
    returned with ``fits=False``.
    """
    process = _overhead(device)

    def plan(dtype: str, checkpointing: bool, micro: int, length: int) -> MemoryPlan:
        needed = training_memory(
            shape, batch=micro, seq=length, dtype_bytes=DTYPE_BYTES[dtype], r=config.r,
            targets=config.target_modules, checkpointing=checkpointing, process=process,
        ).total
        return MemoryPlan(
            device=device, dtype=dtype, checkpointing=checkpointing,
            batch_size=config.batch_size, micro_batch=micro, max_len=length,
            requested_len=config.max_len, needed=needed, available=available,
            fits=fits(needed, available),
        )

    def passes() -> Iterator[int]:
        """Examples per pass: the batch, then halved down to one."""
        micro = config.batch_size
        yield micro
        while micro > 1:
            micro = (micro + 1) // 2
            yield micro

    def candidates() -> Iterator[MemoryPlan]:
        for dtype in dtypes:
            yield plan(dtype, False, config.batch_size, config.max_len)
            for micro in passes():
                if can_checkpoint or micro < config.batch_size:
                    yield plan(dtype, can_checkpoint, micro, config.max_len)
        length = config.max_len
        while length > MIN_LEN:
            length = max(MIN_LEN, length // 2)
            yield plan(dtypes[-1], can_checkpoint, 1, length)

    for candidate in candidates():
        if candidate.fits:
            return candidate
    return candidate


def training_device(backend: str) -> tuple[str, int, tuple[str, ...]]:
    """Where ``backend`` trains: the device, the bytes available there now, and the dtypes
    to try there (:func:`plan_memory`)."""
    if backend == "mlx":
        return "mlx", available_memory(), ("float32",)  # mlx-lm trains the base as saved
    import torch

    if torch.cuda.is_available():  # CUDA: the GPU's free memory; bf16 on Ampere and later
        free, _total = torch.cuda.mem_get_info()
        return "cuda", int(free), ("bfloat16",) if torch.cuda.is_bf16_supported() else ("float32",)
    # torch's own checks of the instructions its bfloat16 kernels use (AVX512-BF16, AMX)
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "cpu", available_memory(), ("float32", "bfloat16") if native else ("float32",)


def fit_training(
    model: ModelInfo, config: TrainConfig, backend: str, available: int | None = None
) -> MemoryPlan:
    """The memory plan of training ``model`` with ``config`` here; refuses, before any work,
    a training that does not fit even at one example per pass with the shortest examples.

    ``available`` replaces the device's free memory (the tests' way to be a smaller machine).
    """
    shape = model_shape(model)
    device, free, dtypes = training_device(backend)
    plan = plan_memory(
        shape, config, device=device, available=free if available is None else available,
        dtypes=dtypes, can_checkpoint=backend != "mlx",
    )
    if plan.fits:
        return plan
    # The largest model of the same build that would fit: memory beyond the process's own
    # grows about linearly with the parameter count.
    process = _overhead(device)
    usable = plan.available * FIT_FRACTION - process
    largest = shape.n_params * usable / max(plan.needed - process, 1)
    smaller = (f"choose a model of at most ~{largest / 1e9:.1f}B parameters"
               if largest >= 1e8 else "choose a smaller model")
    memory = "GPU memory" if device == "cuda" else "memory"
    least = ", with gradient checkpointing" if plan.checkpointing else ""
    raise InkwellError(
        f"training an adapter on {model.name!r} ({shape.n_params / 1e9:.2f}B parameters) needs "
        f"~{plan.needed / GB:.1f} GB of {memory} even one example of {plan.max_len} tokens at a "
        f"time{least}; this computer has {plan.available / GB:.1f} GB available. "
        f"{smaller[0].upper()}{smaller[1:]} or close other apps"
    )
