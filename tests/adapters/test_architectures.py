"""The architecture matrix: train -> export -> parity on every common architecture.

For llama (Llama 3.x layout, grouped-query attention), mistral, qwen2, qwen3, gemma2, gemma3
and phi3, a tiny random-weight model written by llama.cpp's own converter
(``tests/adapters/arch_models.py``) is added as a model; llama.cpp loads it, the adapter
trainer trains a few steps on it, the GGUF LoRA export loads in llama.cpp, and the parity
check (``inkwell adapter verify``) passes.  llama.cpp's own LoRA converter
(``convert_lora_to_gguf.py``) converts the same PEFT adapter independently, and its tensors
must equal Inkwell's export: the per-architecture rules (q/k permutation for llama and
mistral, fused qkv/gate_up for phi3) are checked against the converter, not against the
tests' idea of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.adapters.config import TrainConfig
from core.adapters.job import TrainJob
from core.adapters.verify import verify_adapter
from core.models import ModelRegistry
from tests.adapters.arch_models import (
    ARCHS,
    build_hf,
    convert,
    convert_lora,
    sentencepiece_model,
    smollm2_tokenizer,
)

FAST = TrainConfig(steps=2, lr=5e-3, batch_size=2, max_len=64, checkpoint_every=10)


@pytest.fixture(scope="session")
def arch_models(tmp_path_factory: pytest.TempPathFactory, smollm2) -> dict[str, tuple[Path, Path]]:
    """name -> (Hugging Face folder, GGUF file), all converted in one converter process."""
    root = tmp_path_factory.mktemp("archs")
    bpe = smollm2_tokenizer(smollm2, root / "smollm2-tokenizer")
    spm = sentencepiece_model(root / "tokenizer.model")
    models = {name: (root / f"hf-{name}", root / f"{name}.gguf") for name in ARCHS}
    for name, (hf, _gguf) in models.items():
        build_hf(name, hf, bpe, spm)
    convert(list(models.values()))
    return models


@pytest.fixture(scope="session")
def arch_profile(tmp_path_factory: pytest.TempPathFactory):
    from core.paths import Home

    return Home.resolve(tmp_path_factory.mktemp("archs-home")).ensure().profile("default").ensure()


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_train_export_and_parity(name, arch_models, arch_profile, commit_examples, tmp_path):
    import gguf

    hf, path = arch_models[name]
    model = ModelRegistry(arch_profile.home).add(path, name=f"tiny-{name}")
    assert model.architecture == ARCHS[name].gguf_arch

    record = TrainJob(arch_profile, model, commit_examples, FAST, name=name).execute()
    assert record.steps == FAST.steps and record.gguf_path.exists()

    report = verify_adapter(record, model, arch_profile.home.cache_dir)
    assert report.passed, report.to_json()
    assert min(p.effect_correlation for p in report.prompts) > 0.99, report.to_json()

    # llama.cpp's own LoRA converter, from the same PEFT folder, writes the same tensors.
    theirs = convert_lora(record.peft_dir, hf, tmp_path / "theirs.gguf")
    ours = {t.name: np.array(t.data) for t in gguf.GGUFReader(record.gguf_path).tensors}
    reference = {t.name: np.array(t.data) for t in gguf.GGUFReader(theirs).tensors}
    assert set(ours) == set(reference)
    for tensor, value in reference.items():
        np.testing.assert_allclose(ours[tensor], value, rtol=1e-5, atol=1e-6, err_msg=tensor)
