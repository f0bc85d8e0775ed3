"""GGUF LoRA export and the PEFT / mlx-lm folder formats (no training needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.adapters.gguf_export import permute_rows, read_base_layout, write_gguf
from core.adapters.importers import read_adapter_folder
from core.adapters.lora import LoraWeights, read_peft, write_peft
from core.errors import InkwellError

Q = "model.layers.0.self_attn.q_proj"
K = "model.layers.0.self_attn.k_proj"


def random_weights(r: int = 4, seed: int = 0) -> LoraWeights:
    """LoRA factors shaped for SmolLM2 (hidden 576, 3 kv heads of 64)."""
    rng = np.random.default_rng(seed)
    return LoraWeights(
        r,
        8.0,
        {
            Q: (
                rng.standard_normal((r, 576), np.float32),
                rng.standard_normal((576, r), np.float32),
            ),
            K: (
                rng.standard_normal((r, 576), np.float32),
                rng.standard_normal((192, r), np.float32),
            ),
        },
    )


def test_permutation_interleaves_each_heads_rotary_halves():
    # llama.cpp stores row 2i of a head from HF row i and row 2i+1 from HF row d/2 + i.
    n_head, d, r = 3, 8, 2
    b = np.arange(n_head * d * r, dtype=np.float32).reshape(n_head * d, r)
    out = permute_rows(b, n_head)
    for h in range(n_head):
        for i in range(d // 2):
            assert (out[h * d + 2 * i] == b[h * d + i]).all()
            assert (out[h * d + 2 * i + 1] == b[h * d + d // 2 + i]).all()


def test_gguf_adapter_layout_and_llama_permutation(smollm2, tmp_path):
    import gguf

    weights = random_weights()
    write_gguf(weights, smollm2, tmp_path / "a.gguf")
    reader = gguf.GGUFReader(tmp_path / "a.gguf")
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "llama" and fields["adapter.lora.alpha"] == 8.0
    tensors = {t.name: t for t in reader.tensors}
    a, b = tensors["blk.0.attn_q.weight.lora_a"], tensors["blk.0.attn_q.weight.lora_b"]
    assert list(a.shape) == [576, 4] and list(b.shape) == [
        4,
        576,
    ]  # ne order: A [n_in, r], B [r, n_out]
    assert np.array_equal(np.asarray(a.data), weights.modules[Q][0])
    layout = read_base_layout(smollm2)
    assert (layout.n_head, layout.n_head_kv) == (9, 3)
    assert np.array_equal(np.asarray(b.data), permute_rows(weights.modules[Q][1], 9))
    k_b = tensors["blk.0.attn_k.weight.lora_b"]
    assert np.array_equal(np.asarray(k_b.data), permute_rows(weights.modules[K][1], 3))


def test_gemma_needs_no_permutation(gemma, tmp_path):
    import gguf

    layout = read_base_layout(gemma)
    rng = np.random.default_rng(1)
    n_q = layout.shapes["attn_q"][1]
    b = rng.standard_normal((n_q, 2), np.float32)
    weights = LoraWeights(2, 4.0, {Q: (rng.standard_normal((2, 640), np.float32), b)})
    write_gguf(weights, gemma, tmp_path / "g.gguf")
    tensors = {t.name: t for t in gguf.GGUFReader(tmp_path / "g.gguf").tensors}
    assert np.array_equal(np.asarray(tensors["blk.0.attn_q.weight.lora_b"].data), b)


def test_adapter_for_another_model_is_refused(gemma, tmp_path):
    with pytest.raises(InkwellError, match="trained for another model"):
        write_gguf(random_weights(), gemma, tmp_path / "x.gguf")


def test_peft_folder_round_trip_and_rslora(tmp_path):
    weights = random_weights()
    write_peft(weights, tmp_path / "p", "smollm2-135m-instruct")
    back = read_peft(tmp_path / "p")
    assert back.r == 4 and back.alpha == 8.0 and back.target_modules == ["k_proj", "q_proj"]
    for name, (a, b) in weights.modules.items():
        assert np.array_equal(back.modules[name][0], a) and np.array_equal(back.modules[name][1], b)
    config_file = tmp_path / "p" / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "use_rslora": True}))
    assert read_peft(tmp_path / "p").alpha == pytest.approx(8.0 * 2)  # alpha * sqrt(r)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"rank_pattern": {"q_proj": 16}}, "per-module rank"),
        ({"modules_to_save": ["lm_head"]}, "cannot be exported"),
        ({"peft_type": "IA3"}, "only LORA"),
    ],
)
def test_peft_features_llama_cpp_cannot_represent_are_refused(tmp_path, change, message):
    write_peft(random_weights(), tmp_path / "p", "m")
    config_file = tmp_path / "p" / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **change}))
    with pytest.raises(InkwellError, match=message):
        read_peft(tmp_path / "p")


def test_mlx_folder_is_converted_to_peft_convention(tmp_path):
    from safetensors.numpy import save_file

    weights = random_weights(r=4)
    folder = tmp_path / "mlx"
    folder.mkdir()
    # mlx-lm layout: lora_a (in, r), lora_b (r, out), scaled by `scale` instead of alpha / r.
    save_file(
        {
            f"{m}.{part}": np.ascontiguousarray(t.T)
            for m, (a, b) in weights.modules.items()
            for part, t in (("lora_a", a), ("lora_b", b))
        },
        str(folder / "adapters.safetensors"),
    )
    (folder / "adapter_config.json").write_text(
        json.dumps(
            {
                "fine_tune_type": "lora",
                "num_layers": 16,
                "lora_parameters": {"rank": 4, "scale": 20.0, "dropout": 0.0},
            }
        )
    )
    back, kind, digest = read_adapter_folder(folder)
    assert kind == "mlx" and len(digest) == 64
    assert back.alpha == 80.0  # scale * r
    for name, (a, b) in weights.modules.items():
        assert np.array_equal(back.modules[name][0], a) and np.array_equal(back.modules[name][1], b)


def test_damaged_or_unknown_folders_give_clear_errors(tmp_path):
    with pytest.raises(InkwellError, match="no adapter found"):
        read_adapter_folder(tmp_path)
    write_peft(random_weights(), tmp_path / "p", "m")
    (tmp_path / "p" / "adapter_model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(InkwellError, match="damaged safetensors"):
        read_adapter_folder(tmp_path / "p")
