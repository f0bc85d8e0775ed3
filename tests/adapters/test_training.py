"""Real training on the bundled models, real llama.cpp loading, parity for both models."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.adapters.job import TrainJob
from core.adapters.store import AdapterStore
from core.adapters.verify import verify_adapter
from core.cli import main
from tests.adapters.conftest import FAST


def test_trained_adapter_is_published_with_its_metadata(smollm2_adapter, session_profile, smollm2):
    record = smollm2_adapter
    assert [r.id for r in AdapterStore(session_profile).list()] == [record.id]
    assert record.id.startswith("smol-") and record.source == "trained:torch"
    assert record.base_sha256 == smollm2.sha256 and record.model == smollm2.name
    assert (record.n_train, record.n_val, record.steps) == (18, 2, 3)
    assert record.val_loss is not None and record.val_loss_base is not None
    assert record.val_loss < record.val_loss_base  # three steps already fit the user's subjects
    assert len(record.doc_ids) == 20 and record.r == 8 and record.alpha == 16
    assert record.gguf_path.is_file() and (record.peft_dir / "adapter_model.safetensors").is_file()
    assert not any(session_profile.training_dir.iterdir())  # the job's folder is gone


def test_llama_cpp_loads_the_adapter_and_it_changes_the_logits(smollm2_adapter, smollm2):
    from core.runtime import ActiveAdapter, get_runtime

    runtime = get_runtime(smollm2, logits_all=True)
    prompt = "Write the subject line for this commit message body: Fix the crash on empty input.\n"
    base = runtime.next_token_logits(prompt)
    adapted = runtime.next_token_logits(prompt, ActiveAdapter(smollm2_adapter.gguf_path))
    assert np.abs(adapted - base).max() > 0.5
    assert np.array_equal(
        runtime.next_token_logits(prompt), base
    )  # switching back restores the base


def test_smollm2_parity_llama_cpp_vs_torch(smollm2_adapter, smollm2, session_profile):
    report = verify_adapter(smollm2_adapter, smollm2, session_profile.home.cache_dir)
    assert report.passed, report.to_json()
    assert report.min_correlation >= 0.99
    for p in report.prompts:
        assert p.effect_size > 0.5  # the adapter matters, so parity is about the adapter too
        assert p.error_ratio < 1.5


def test_cli_list_and_verify(smollm2_adapter, session_profile, capsys):
    home, profile = str(session_profile.home.root), session_profile.name
    assert (
        main(["--home", home, "--profile", profile, "adapter", "verify", smollm2_adapter.id]) == 0
    )
    assert "parity passed" in capsys.readouterr().out
    assert main(["--home", home, "--profile", profile, "adapter", "list", "--json"]) == 0
    assert smollm2_adapter.id in capsys.readouterr().out


def test_same_data_and_settings_reuse_the_adapter(
    smollm2_adapter, session_profile, smollm2, commit_examples
):
    job = TrainJob(session_profile, smollm2, commit_examples, FAST, name="smol")
    assert job.adapter_id == smollm2_adapter.id
    assert job.execute().created == smollm2_adapter.created  # found, not retrained


def test_gemma_adapter_trains_and_passes_parity(gemma, profile, commit_examples):
    from core.runtime import ActiveAdapter, get_runtime

    record = TrainJob(profile, gemma, commit_examples, replace(FAST, steps=2), name="g").execute()
    assert record.architecture == "gemma3" and record.steps == 2
    report = verify_adapter(record, gemma, profile.home.cache_dir)
    assert report.passed, report.to_json()
    prompt = report.prompts[0].prompt
    runtime = get_runtime(gemma, logits_all=True)
    adapted = runtime.next_token_logits(prompt, ActiveAdapter(record.gguf_path))
    assert np.abs(adapted - runtime.next_token_logits(prompt)).max() > 0.1


def test_exported_peft_folder_imports_to_the_same_gguf(smollm2_adapter, profile, smollm2):
    import gguf

    imported = AdapterStore(profile).import_folder(smollm2_adapter.peft_dir, smollm2, name="again")
    assert imported.source == "imported:peft"
    original = {
        t.name: np.asarray(t.data) for t in gguf.GGUFReader(smollm2_adapter.gguf_path).tensors
    }
    copy = {t.name: np.asarray(t.data) for t in gguf.GGUFReader(imported.gguf_path).tensors}
    assert original.keys() == copy.keys()
    assert all(np.array_equal(original[k], copy[k]) for k in original)


def _qk_adapter(store: AdapterStore, like, model, adapter_id: str):
    """A strong random LoRA on q/k only: its effect is far above the quantization noise."""
    from core.adapters.lora import LoraWeights

    rng = np.random.default_rng(0)
    modules = {}
    for layer in range(30):
        for name, n_out in (("q_proj", 576), ("k_proj", 192)):
            a = rng.standard_normal((8, 576)).astype(np.float32) * 0.05
            b = rng.standard_normal((n_out, 8)).astype(np.float32) * 0.05
            modules[f"model.layers.{layer}.self_attn.{name}"] = (a, b)
    return store.publish(replace(like, id=adapter_id), LoraWeights(8, 16.0, modules), model)


def test_qk_permutation_is_what_parity_needs(smollm2_adapter, smollm2, profile):
    report = verify_adapter(
        _qk_adapter(AdapterStore(profile), smollm2_adapter, smollm2, "qk"),
        smollm2,
        profile.home.cache_dir,
    )
    assert report.passed, report.to_json()


@pytest.mark.slow
def test_parity_check_catches_a_missing_qk_permutation(
    smollm2_adapter, smollm2, profile, monkeypatch
):
    from core.adapters import gguf_export

    monkeypatch.setattr(
        gguf_export, "_PERMUTED_ARCHS", set()
    )  # export as if llama were not permuted
    broken = _qk_adapter(AdapterStore(profile), smollm2_adapter, smollm2, "broken")
    report = verify_adapter(broken, smollm2, profile.home.cache_dir)
    assert not report.passed
    assert min(p.error_ratio for p in report.prompts) > 2
