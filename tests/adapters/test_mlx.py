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
