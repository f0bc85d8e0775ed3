"""Model registry: bundled models found through the import system, GGUF validation."""

from __future__ import annotations

import shutil

import pytest

from core.errors import BadModelFile, InkwellError
from core.models import GEMMA, SMOLLM2, ModelRegistry, read_gguf_header


def test_bundled_models_are_listed_with_metadata(registry) -> None:
    models = {m.name: m for m in registry.list()}
    assert {GEMMA, SMOLLM2} <= set(models)
    gemma, smol = models[GEMMA], models[SMOLLM2]
    assert gemma.architecture == "gemma3" and not gemma.chat_template
    assert smol.architecture == "llama" and smol.chat_template
    assert gemma.context_length >= 8192 and smol.context_length >= 2048
    assert len(gemma.sha256) == 64 and gemma.size > 200_000_000
    # Gemma is assembled into the cache of the data dir, never into ~/.cache.
    assert registry.home.cache_dir in gemma.path.parents


def test_add_user_gguf_and_reject_bad_files(home, smollm2, tmp_path) -> None:
    registry = ModelRegistry(home)
    own = tmp_path / "My-Model.gguf"
    shutil.copy(smollm2.path, own)
    info = registry.add(own)
    assert info.name == "my-model" and info.source == "added"
    assert info.sha256 == smollm2.sha256
    assert "my-model" in {m.name for m in registry.list()}

    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("just some notes")
    with pytest.raises(BadModelFile, match=r"notes\.gguf: not a GGUF file"):
        registry.add(not_gguf)

    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(smollm2.path.read_bytes()[:5_000_000])
    with pytest.raises(BadModelFile, match=r"cut\.gguf: .*(truncated|damaged)"):
        registry.add(truncated)

    wrong_ext = tmp_path / "model.bin"
    shutil.copy(smollm2.path, wrong_ext)
    with pytest.raises(BadModelFile, match=r"expected a \.gguf file"):
        registry.add(wrong_ext)

    with pytest.raises(InkwellError, match="unknown model"):
        registry.get("nope")
    # Nothing stored earlier was harmed by the failures.
    assert registry.get("my-model").sha256 == smollm2.sha256


def test_a_lora_adapter_is_not_accepted_as_a_model(home, smollm2, tmp_path) -> None:
    from tests.gguf_fixtures import write_random_lora

    path = write_random_lora(smollm2, tmp_path / "adapter.gguf")
    assert read_gguf_header(path).file_type == "adapter"
    with pytest.raises(BadModelFile, match="LoRA adapter, not a model"):
        ModelRegistry(home).add(path)
