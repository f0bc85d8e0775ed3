"""Training that fits the machine: the memory estimate, the memory plan, and the refusal
before any work."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.adapters.config import TrainConfig
from core.adapters.memory import (
    MIN_LEN,
    ModelShape,
    fit_training,
    fits,
    model_shape,
    plan_memory,
    training_estimate,
    training_memory,
)
from core.errors import InkwellError

# A 3B model of the usual build (Qwen2.5-3B's dimensions).
SHAPE_3B = ModelShape(n_params=3_090_000_000, n_layers=36, hidden=2048, n_head=16, n_kv_head=2,
                      head_dim=128, ffn=11008, vocab=151936)
GB = 10**9


def test_shape_of_the_bundled_models_from_their_gguf(smollm2, gemma) -> None:
    smol, gem = model_shape(smollm2), model_shape(gemma)
    assert (smol.n_layers, smol.hidden, smol.n_head, smol.n_kv_head) == (30, 576, 9, 3)
    assert 0.125e9 < smol.n_params < 0.14e9 and smol.vocab == 49152  # SmolLM2-135M
    assert (gem.n_layers, gem.head_dim, gem.vocab) == (18, 256, 262144)
    assert 0.25e9 < gem.n_params < 0.29e9  # Gemma 3 270M


def test_estimate_grows_with_batch_length_and_vocabulary(smollm2, gemma) -> None:
    shape = model_shape(smollm2)
    small = training_estimate(shape, TrainConfig(batch_size=1, max_len=64)).total
    large = training_estimate(shape, TrainConfig(batch_size=8, max_len=320)).total
    assert small < training_estimate(shape, TrainConfig()).total < large
    # Gemma's 262k vocabulary makes its logits the largest part, SmolLM2's 49k does not.
    gem = training_estimate(model_shape(gemma), TrainConfig())
    assert gem.logits > gem.weights and training_estimate(shape, TrainConfig()).logits < 0.5e9


def _plan(available: float, config: TrainConfig | None = None, **kw):
    kw = {"device": "cpu", **kw}
    return plan_memory(SHAPE_3B, config or TrainConfig(), available=int(available), **kw)


def test_with_room_the_training_runs_as_requested() -> None:
    plan = _plan(64 * GB)
    assert plan.fits and not plan.checkpointing
    assert (plan.micro_batch, plan.max_len, plan.dtype) == (4, 160, "float32")
    assert plan.needed == training_estimate(SHAPE_3B, TrainConfig()).total
    assert "the CPU, float32, batch 4, 160 tokens per example" in plan.describe()


def test_checkpointing_comes_first_then_smaller_passes_then_shorter_examples() -> None:
    requested = _plan(64 * GB).needed
    checkpointed = _plan(requested * 0.9)  # 85 % of this does not hold the activations
    assert checkpointed.fits and checkpointed.checkpointing
    assert (checkpointed.micro_batch, checkpointed.max_len) == (4, 160)
    assert "gradient checkpointing" in checkpointed.describe()

    # Less and less memory: every plan fits what it was given and needs no more than the last.
    previous = checkpointed
    seen = set()
    for available in range(int(checkpointed.needed / 0.85) - 1, 0, -GB // 50):
        plan = _plan(available)
        if not plan.fits:
            break
        assert plan.checkpointing and plan.needed <= previous.needed
        assert fits(plan.needed, available)
        # Fewer examples per pass before shorter examples; the batch per step is kept.
        assert plan.batch_size == 4 and (plan.max_len == 160 or plan.micro_batch == 1)
        seen.add((plan.micro_batch, plan.max_len))
        previous = plan
    assert {(2, 160), (1, 160), (1, 80), (1, MIN_LEN)} <= seen
    assert "in passes of 1" in previous.describe() and "(cut from 160)" in previous.describe()
    # Below the last, nothing fits: the smallest plan comes back, marked as not fitting.
    assert not plan.fits and (plan.micro_batch, plan.max_len) == (1, MIN_LEN)


def test_bf16_halves_the_weights_and_comes_after_the_exact_choices_on_a_cpu() -> None:
    fp32, bf16 = _plan(64 * GB), _plan(64 * GB, dtypes=("bfloat16",))
    assert bf16.dtype == "bfloat16" and bf16.needed < fp32.needed - SHAPE_3B.n_params * 1.9
    # A CPU that computes bfloat16 natively tries it once float32 does not fit even one
    # example at a time with checkpointing, before it cuts the examples.
    one_at_a_time = training_memory(SHAPE_3B, batch=1, seq=160, dtype_bytes=4, r=8,
                                    targets=TrainConfig().target_modules, checkpointing=True)
    just_too_small = one_at_a_time.total / 0.85 * 0.99
    plan = _plan(just_too_small, dtypes=("float32", "bfloat16"))
    assert plan.fits and plan.dtype == "bfloat16" and plan.max_len == 160
    assert "the CPU, bfloat16" in plan.describe()
    cut = _plan(just_too_small)  # float32 only: the examples are cut instead
    assert cut.dtype == "float32" and cut.max_len < 160 and "(cut from 160)" in cut.describe()


def test_a_gpu_plan_counts_the_cuda_context_not_the_process() -> None:
    cpu = _plan(64 * GB, dtypes=("bfloat16",))
    gpu = _plan(64 * GB, device="cuda", dtypes=("bfloat16",))
    assert gpu.needed < cpu.needed and "the GPU, bfloat16" in gpu.describe()


def test_mlx_has_no_checkpointing_so_it_shrinks_the_passes_first() -> None:
    requested = _plan(64 * GB).needed
    plan = _plan(requested * 0.9, device="mlx", can_checkpoint=False)
    assert plan.fits and not plan.checkpointing and plan.micro_batch < 4


def test_a_short_request_is_never_lengthened() -> None:
    plan = _plan(1 * GB, config=replace(TrainConfig(), max_len=32, batch_size=1))
    assert plan.max_len == 32 and not plan.fits


def test_a_training_that_does_not_fit_is_refused_with_what_would(smollm2) -> None:
    config = TrainConfig()
    roomy = fit_training(smollm2, config, "torch", available=64 * GB)
    assert roomy.fits and not roomy.checkpointing and roomy.micro_batch == 4
    tight = fit_training(smollm2, config, "torch", available=int(roomy.needed * 0.95))
    assert tight.checkpointing and tight.max_len == 160
    with pytest.raises(InkwellError) as err:
        fit_training(smollm2, config, "torch", available=1 * GB)
    message = str(err.value)
    assert "smollm2-135m-instruct" in message and "needs ~" in message
    assert f"one example of {MIN_LEN} tokens at a time, with gradient checkpointing" in message
    assert "1.0 GB available" in message and "close other apps" in message


# -- real training with the plan's choices, on the architecture matrix's tiny llama ---------------

PLAN_CONFIG = TrainConfig(steps=8, lr=5e-3, batch_size=2, max_len=64, checkpoint_every=100)


@pytest.fixture(scope="module")
def tiny_llama(arch_models, session_profile):
    from core.models import ModelRegistry

    return ModelRegistry(session_profile.home).add(arch_models["llama"][1], name="tiny-llama-mem")


def _train(model, cache_dir, memory, train, checkpoint_dir, steps):
    """Train with ``memory`` through the one training loop; the LoRA weights and the outcome."""
    from core.adapters.backends import TrainPlan, make_schedule
    from core.adapters.backends.torch_backend import TorchBackend

    config = replace(PLAN_CONFIG, steps=steps)
    plan = TrainPlan(config, train, train, make_schedule(train, steps, 2, config.seed))
    backend = TorchBackend()
    backend.prepare(model, cache_dir, config, memory)
    base = backend.model.get_base_model()
    checkpointed = []
    try:
        outcome = backend.train(plan, checkpoint_dir,
                                lambda _s: checkpointed.append(base.is_activation_checkpointing),
                                lambda: None)
        weights = backend.export()
    finally:
        backend.close()
    assert checkpointed == [memory.checkpointing] * steps
    assert not base.is_activation_checkpointing  # the shared base is lent out as it came
    return weights, outcome


def test_checkpointing_and_smaller_passes_take_the_same_steps(tiny_llama, session_profile,
                                                              commit_examples, tmp_path) -> None:
    import numpy as np

    from core.adapters.tokens import vocab_for

    train = [vocab_for(tiny_llama).encode(e, 64) for e in commit_examples[:4]]
    roomy = fit_training(tiny_llama, PLAN_CONFIG, "torch", available=64 * GB)
    assert roomy.micro_batch == 2 and not roomy.checkpointing and roomy.dtype == "float32"
    frugal = replace(roomy, checkpointing=True, micro_batch=1)
    cache = session_profile.home.cache_dir
    plain, plain_outcome = _train(tiny_llama, cache, roomy, train, tmp_path / "a", steps=2)
    small, small_outcome = _train(tiny_llama, cache, frugal, train, tmp_path / "b", steps=2)
    # The step's loss is the whole batch's (passes weighted by their target tokens).
    assert abs(small_outcome.train_loss - plain_outcome.train_loss) < 1e-4
    # AdamW moves every weight by about ``lr`` per step whatever the gradient's size, so
    # rounding differences show up at most as a small fraction of one step.
    for module, (a, b) in plain.modules.items():
        a2, b2 = small.modules[module]
        assert np.abs(b).max() > PLAN_CONFIG.lr / 2, module  # B started at zero: it trained
        assert np.abs(a2 - a).max() < 0.01 * PLAN_CONFIG.lr, module
        assert np.abs(b2 - b).max() < 0.01 * PLAN_CONFIG.lr, module


def test_a_tight_machine_trains_with_checkpointing_and_the_loss_falls(
    tiny_llama, session_profile, commit_examples, tmp_path
) -> None:
    from core.adapters.tokens import vocab_for

    roomy = fit_training(tiny_llama, PLAN_CONFIG, "torch", available=64 * GB)
    tight = fit_training(tiny_llama, PLAN_CONFIG, "torch", available=int(roomy.needed / 0.85) - 1)
    assert tight.checkpointing and tight.micro_batch == 2
    train = [vocab_for(tiny_llama).encode(e, tight.max_len) for e in commit_examples[:4]]
    _weights, outcome = _train(tiny_llama, session_profile.home.cache_dir, tight, train,
                               tmp_path, steps=PLAN_CONFIG.steps)
    assert outcome.val_loss is not None and outcome.val_loss_base is not None
    assert outcome.val_loss < outcome.val_loss_base - 0.2, outcome  # 10.86 -> 10.50 here
