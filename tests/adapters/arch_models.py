"""Tiny random-weight models of every common architecture, written by llama.cpp's own converter.

Each is a Hugging Face model made with transformers (2 blocks, hidden size 64, grouped-query
attention: 4 query heads sharing 2 key/value heads), saved with a tokenizer, and converted to
GGUF by ``tests/vendor/llama_cpp`` — the converter of the llama.cpp version Inkwell runs — so
the q/k permutation, norm offsets, fused tensors and metadata are the converter's, not the
tests' idea of them.

Tokenizers: the bundled SmolLM2's (a real 49k BPE vocabulary, read from its GGUF) wherever the
converter accepts it; Qwen2, Gemma 2 and Phi-3 are converted only with a SentencePiece
``tokenizer.model`` (or a BPE vocabulary whose pre-tokenizer the converter knows by hash, which
a vocabulary read back from a GGUF does not reproduce), so they get a 512-piece SentencePiece
model trained on the tests' sample writing.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "tests" / "vendor" / "llama_cpp"
DATA = REPO / "tests" / "data"


@dataclass(frozen=True)
class Arch:
    model_type: str  # transformers' config type
    gguf_arch: str  # what llama.cpp's converter writes as general.architecture
    spm: bool = False  # needs a SentencePiece tokenizer (see the module docstring)
    extra: dict[str, Any] = field(default_factory=dict)


ARCHS = {
    "llama": Arch("llama", "llama"),  # the Llama 3.x layout: GQA, tied embeddings
    "mistral": Arch("mistral", "llama", extra={"sliding_window": None}),
    "qwen2": Arch("qwen2", "qwen2", spm=True),
    # transformers' GGUF loader ignores qwen3.attention.key_length and assumes Qwen3's
    # head_dim of 128 (every released Qwen3 has it), so the tiny model has it too.
    "qwen3": Arch("qwen3", "qwen3", extra={"head_dim": 128}),
    "gemma2": Arch("gemma2", "gemma2", spm=True, extra={"head_dim": 16}),
    # Likewise Gemma 3's attention scale: transformers takes query_pre_attn_scalar = 256 (not
    # in the GGUF), llama.cpp 1/sqrt(head_dim); they agree for head_dim 256, as in Gemma 3.
    "gemma3": Arch("gemma3_text", "gemma3", extra={"head_dim": 256}),
    "phi3": Arch("phi3", "phi3", spm=True),
}


def smollm2_tokenizer(smollm2: Any, folder: Path) -> Path:
    """The bundled SmolLM2's tokenizer, as transformers reads it from the GGUF."""
    from transformers import AutoTokenizer

    if not (folder / "tokenizer.json").exists():
        tok = AutoTokenizer.from_pretrained(str(smollm2.path.parent), gguf_file=smollm2.path.name)
        tok.save_pretrained(folder)
    return folder


def sentencepiece_model(out: Path, vocab_size: int = 512) -> Path:
    """A small SentencePiece model trained on the sample writing in tests/data (deterministic)."""
    import sentencepiece as spm

    texts: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            texts.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for f in sorted(DATA.glob("*/sample_*.json")):
        walk(json.loads(f.read_text(encoding="utf-8")))
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buffer, vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, num_threads=1, character_coverage=1.0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
        # llama.cpp looks these up by text in every Phi-3 vocabulary (llama-vocab.cpp)
        user_defined_symbols=["<|endoftext|>"],
    )
    out.write_bytes(buffer.getvalue())
    return out


def build_hf(name: str, folder: Path, bpe_tokenizer: Path, spm_model: Path) -> Path:
    """Save a random-weight model of architecture ``name`` with its tokenizer in ``folder``."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    arch = ARCHS[name]
    if arch.spm:
        ids = {"vocab_size": 512, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    else:
        tok = AutoTokenizer.from_pretrained(bpe_tokenizer)
        ids = {"vocab_size": len(tok), "bos_token_id": tok.bos_token_id,
               "eos_token_id": tok.eos_token_id, "pad_token_id": None}
    config = AutoConfig.for_model(
        arch.model_type, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=True, **ids, **arch.extra,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # random norms too: a norm rule (Gemma's +1) must then be right
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(torch.rand_like(p) * 0.5 + 0.75 - (1.0 if "gemma" in name else 0.0))
    model.save_pretrained(folder)
    if arch.spm:
        shutil.copy(spm_model, folder / "tokenizer.model")
    else:
        AutoTokenizer.from_pretrained(bpe_tokenizer).save_pretrained(folder)
    return folder


_CONVERT_ALL = """
import sys
from core.privacy import install_network_guard
install_network_guard()
sys.path[:0] = [{vendor!r}]
import convert_hf_to_gguf
for folder, out in {jobs!r}:
    sys.argv = ["convert_hf_to_gguf.py", folder, "--outfile", out, "--outtype", "f16"]
    convert_hf_to_gguf.main()
"""


def convert(jobs: list[tuple[Path, Path]]) -> None:
    """Convert every (Hugging Face folder, GGUF file) in one process of the vendored converter."""
    code = _CONVERT_ALL.format(vendor=str(VENDOR), jobs=[(str(a), str(b)) for a, b in jobs])
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"llama.cpp's converter failed:\n{done.stderr[-4000:]}")


_CONVERT_LORAS = """
import runpy, sys
from core.privacy import install_network_guard
install_network_guard()
sys.path[:0] = [{vendor!r}]
for peft, base, out in {jobs!r}:
    sys.argv = ["convert_lora_to_gguf.py", peft, "--base", base, "--outfile", out,
                "--outtype", "f32"]
    runpy.run_path({script!r}, run_name="__main__")
"""


def convert_loras(jobs: list[tuple[Path, Path, Path]]) -> None:
    """llama.cpp's own LoRA converter on every (PEFT folder, base folder, GGUF file), in one
    process: the independent check of Inkwell's GGUF export."""
    code = _CONVERT_LORAS.format(vendor=str(VENDOR), jobs=[tuple(map(str, j)) for j in jobs],
                                 script=str(VENDOR / "convert_lora_to_gguf.py"))
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"llama.cpp's LoRA converter failed:\n{done.stderr[-4000:]}")
