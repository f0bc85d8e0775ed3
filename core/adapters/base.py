"""The training base: the user's GGUF, dequantized once into a Hugging Face folder.

transformers can load a GGUF directly (dequantizing every tensor to float), but
that takes ~35 s for Gemma 3 270M on two cores; saving the result once with
``save_pretrained`` and reloading it takes ~0.5 s with identical logits.  The
folder is cached under ``home.cache_dir/bases/<GGUF SHA-256>`` (derived,
non-personal, re-creatable data), and it is what *both* backends train from:
mlx cannot read K-quant GGUFs, and the same weights in both keeps them at parity.

A process that trains many adapters (the evaluation trains one per benchmark
user) keeps the loaded base in memory: :func:`borrow_base` lends it to one user
at a time and checks that the borrower handed it back without LoRA layers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import InkwellError, saving
from core.fsutil import ensure_private_dir
from core.models import ModelInfo

_COMPLETE = ".complete"


class UnsupportedArchitecture(InkwellError):
    """transformers (or gguf's tensor map) cannot handle this model's architecture."""


def transformers_gguf_architectures() -> set[str]:
    """GGUF architectures transformers can load (and therefore train)."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    return set(GGUF_CONFIG_MAPPING) - {"general", "tokenizer"}  # metadata sections, not models


def check_trainable(model: ModelInfo) -> None:
    """Raise :class:`UnsupportedArchitecture` naming the architecture if it cannot be trained."""
    import gguf
    import transformers

    supported = transformers_gguf_architectures()
    if model.architecture not in supported:
        raise UnsupportedArchitecture(
            f"{model.path}: model {model.name!r} has architecture {model.architecture!r}, which "
            f"transformers {transformers.__version__} cannot load from GGUF, so no adapter can be "
            f"trained for it (trainable architectures: {', '.join(sorted(supported))})"
        )
    if model.architecture not in gguf.MODEL_ARCH_NAMES.values():
        raise UnsupportedArchitecture(
            f"{model.path}: architecture {model.architecture!r} has no GGUF tensor-name map, so an "
            "adapter for it could not be exported to llama.cpp"
        )


def base_dir(model: ModelInfo, cache_dir: Path) -> Path:
    """The dequantized Hugging Face folder of ``model``, created on first use."""
    target = cache_dir / "bases" / model.sha256
    if (target / _COMPLETE).exists():
        return target
    check_trainable(model)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ensure_private_dir(target.parent)
    tmp = target.parent / f".{model.sha256}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with saving(target, "the dequantized training base", "free some space and try again"):
            hf = AutoModelForCausalLM.from_pretrained(
                str(model.path.parent), gguf_file=model.path.name, dtype=torch.float32
            )
            # The weights are plain floats now; the GGUF "quantizer" only marks how they were
            # loaded, and save_pretrained refuses to write a model that carries it.
            hf.hf_quantizer = None  # type: ignore[assignment]
            if hasattr(hf.config, "quantization_config"):
                del hf.config.quantization_config
            hf.save_pretrained(tmp)
            tok = AutoTokenizer.from_pretrained(str(model.path.parent), gguf_file=model.path.name)
            tok.save_pretrained(tmp)
            (tmp / _COMPLETE).write_text(model.name + "\n", encoding="utf-8")
            if target.exists():  # a crashed earlier attempt, or another process won the race
                if (target / _COMPLETE).exists():
                    return target
                shutil.rmtree(target)
            os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def torch_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


_LOADED: dict[tuple[str, str, str], Any] = {}
_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_GUARD = threading.Lock()


@contextlib.contextmanager
def borrow_base(model: ModelInfo, cache_dir: Path, *, device: str, dtype: str) -> Iterator[Any]:
    """Lend this process's loaded copy of the base model to one user at a time.

    ``dtype`` ("float32" or "bfloat16") is what the weights are loaded as, straight onto
    ``device``: on a GPU no full copy of the weights is made in the host's memory.
    The borrower may wrap it with LoRA layers but must remove them (peft's
    ``unload()``) before returning; a base that still holds LoRA layers is
    dropped from the cache rather than lent out again.
    """
    key = (model.sha256, device, dtype)
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        hf = _LOADED.get(key)
        if hf is None:
            import torch
            from transformers import AutoModelForCausalLM

            folder = base_dir(model, cache_dir)
            loaded: Any = AutoModelForCausalLM.from_pretrained(
                str(folder), dtype=getattr(torch, dtype), device_map=device
            )
            hf = _LOADED[key] = loaded.eval()
        try:
            yield hf
        finally:
            if any("lora_" in name for name, _ in hf.named_parameters()):
                _LOADED.pop(key, None)


def release_bases() -> None:
    """Free the loaded bases (e.g. before a memory-hungry step in a long-lived process)."""
    with _GUARD:
        _LOADED.clear()
