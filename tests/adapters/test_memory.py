"""Training that fits the machine: the memory estimate, and the refusal before any work."""

from __future__ import annotations

import pytest

from core.adapters.config import TrainConfig
from core.adapters.memory import check_training_fits, model_shape, training_estimate
from core.errors import InkwellError


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


def test_a_training_that_does_not_fit_is_refused_with_what_would(smollm2) -> None:
    config = TrainConfig()
    check_training_fits(smollm2, config, available=64 * 10**9)
    with pytest.raises(InkwellError) as err:
        check_training_fits(smollm2, config, available=2 * 10**9)
    message = str(err.value)
    assert "smollm2-135m-instruct" in message and "needs ~" in message
    assert "2.0 GB available" in message and "close other apps" in message
