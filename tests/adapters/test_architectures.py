"""The architecture matrix: train -> export -> parity on every common architecture.

For llama (Llama 3.x layout, grouped-query attention), mistral, qwen2, qwen3, gemma2, gemma3
and phi3, a tiny random-weight model written by llama.cpp's own converter
(``tests/adapters/arch_models.py``) is added as a model; llama.cpp loads it, the adapter
trainer trains a few steps on it, the GGUF LoRA export loads in llama.cpp, and the parity
check (``inkwell adapter verify``) passes.  llama.cpp's own LoRA converter
(``convert_lora_to_gguf.py``) converts the same PEFT adapter independently, and its tensors
must equal Inkwell's export: the per-architecture rules (q/k permutation for llama and
mistral, fused qkv/gate_up for phi3) are checked against the converter, not against the
tests' idea of them.  The converters run once for all seven (one process each): starting
one is most of their cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.adapters.config import TrainConfig
from core.adapters.job import TrainJob
from core.adapters.verify import MIN_CORRELATION, verify_adapter
from core.models import ModelRegistry
from tests.adapters.arch_models import ARCHS, convert_loras

FAST = TrainConfig(steps=2, lr=5e-3, batch_size=2, max_len=64, checkpoint_every=10)


@pytest.fixture(scope="session")
def trained(arch_models, commit_examples, tmp_path_factory) -> dict[str, Any]:
    """name -> (model, adapter record, llama.cpp's conversion of its PEFT folder, cache dir),
    or the error that stopped that architecture (raised by its own test, not the others')."""
    from core.paths import Home

    profile = Home.resolve(tmp_path_factory.mktemp("archs-home")).ensure().profile("default")
    profile.ensure()
    theirs = tmp_path_factory.mktemp("archs-lora")
    results: dict[str, Any] = {}
    for name, (_hf, path) in arch_models.items():
        try:
            model = ModelRegistry(profile.home).add(path, name=f"tiny-{name}")
            record = TrainJob(profile, model, commit_examples, FAST, name=name).execute()
            results[name] = (model, record, theirs / f"{name}.gguf", profile.home.cache_dir)
        except Exception as exc:  # reported by this architecture's test
            results[name] = exc
    convert_loras([(r[1].peft_dir, arch_models[n][0], r[2])
                   for n, r in results.items() if not isinstance(r, Exception)])
    return results


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_train_export_and_parity(name, trained) -> None:
    import gguf

    result = trained[name]
    if isinstance(result, Exception):
        raise result
    model, record, theirs, cache_dir = result
    assert model.architecture == ARCHS[name].gguf_arch  # llama.cpp's converter's name
    assert record.steps == FAST.steps and record.gguf_path.exists()

    # ``adapter verify``'s correlation and top-5 criteria, and the adapter's own effect on the
    # logits the same in llama.cpp as in torch: an export that breaks a rule (an unpermuted or
    # misplaced row) moves the effect, not just the noise.  Its error-ratio criterion is
    # calibrated on quantized real models; on a 2-block f16 model the base's llama.cpp-vs-torch
    # noise is ~1e-4 and the ratio swings with float rounding alone (docs/ADAPTERS.md).
    report = verify_adapter(record, model, cache_dir)
    numbers = [(p.correlation, p.same_top, p.effect_correlation, p.error_ratio)
               for p in report.prompts]
    assert all(p.correlation >= MIN_CORRELATION and p.same_top for p in report.prompts), numbers
    assert all(p.effect_correlation > 0.999 for p in report.prompts), numbers

    # llama.cpp's own LoRA converter, from the same PEFT folder, writes the same tensors.
    ours = {t.name: np.array(t.data) for t in gguf.GGUFReader(record.gguf_path).tensors}
    reference = {t.name: np.array(t.data) for t in gguf.GGUFReader(theirs).tensors}
    assert set(ours) == set(reference)
    for tensor, value in reference.items():
        np.testing.assert_allclose(ours[tensor], value, rtol=1e-5, atol=1e-6, err_msg=tensor)
