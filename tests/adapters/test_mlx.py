"""The mlx-lm backend (optional extra).  On Linux CPUs mlx is very slow, so one step only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.adapters.backends.mlx_backend import MlxBackend
from core.adapters.job import TrainJob
from core.adapters.verify import verify_adapter
from tests.adapters.conftest import FAST

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MlxBackend.available(), reason="mlx-lm is not installed (extra 'mlx')"),
]


def test_mlx_adapter_exports_to_llama_cpp_at_parity(profile, smollm2, commit_examples):
    config = replace(FAST, backend="mlx", steps=1, batch_size=1, max_len=48)
    record = TrainJob(profile, smollm2, commit_examples[:6], config, name="mlx").execute()
    assert record.source == "trained:mlx" and record.steps == 1
    report = verify_adapter(record, smollm2, profile.home.cache_dir)
    assert report.passed, report.to_json()
    assert max(p.effect_size for p in report.prompts) > 0.01  # one step moved the logits


def test_mlx_state_survives_a_checkpoint(tmp_path, smollm2, commit_examples, profile):
    """The checkpoint format is the same for both backends: mlx's LoRA weights and optimizer
    state come back exactly from safetensors + the sidecar."""
    import numpy as np

    from core.adapters import checkpoint
    from core.adapters.backends import TrainPlan, make_schedule
    from core.adapters.memory import fit_training
    from core.adapters.tokens import vocab_for

    config = replace(FAST, backend="mlx", steps=1, batch_size=1, max_len=48)
    train = [vocab_for(smollm2).encode(e, config.max_len) for e in commit_examples[:2]]
    plan = TrainPlan(config, train, [], make_schedule(train, 1, 1, config.seed))
    cache = profile.home.cache_dir
    memory = fit_training(smollm2, config, "mlx")

    trained = MlxBackend()
    trained.prepare(smollm2, cache, config, memory)
    trained.start_training(plan)
    trained.step(train[:1], config.lr)
    checkpoint.save(tmp_path, "mlx", checkpoint.Checkpoint(1, [0.0], None, trained.state()))

    restored = MlxBackend()
    restored.prepare(smollm2, cache, config, memory)
    restored.start_training(plan)
    loaded = checkpoint.load(tmp_path, "mlx")
    assert loaded is not None
    restored.load_state(loaded.arrays)
    before, after = trained.state(), restored.state()
    assert before.keys() == after.keys() and any(k.startswith("optim.") for k in before)
    assert all(np.array_equal(before[k], after[k]) for k in before)
