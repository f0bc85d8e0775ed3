"""LoRA weights in one neutral form, and the PEFT folder format.

Every producer of an adapter (the torch backend, the mlx backend, the
importers) hands over a :class:`LoraWeights`; every writer (PEFT folder, GGUF
LoRA) takes one.  The convention is PEFT's: for the linear module ``m``,
``W' = W + (alpha / r) * B @ A`` with ``A`` [r, in] and ``B`` [out, r], which is
also how llama.cpp scales (it reads the rank from ``lora_b``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from core.errors import InkwellError

PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
_PEFT_PREFIX = "base_model.model."
MAX_ADAPTER_BYTES = 4 * 2**30
N = TypeVar("N", int, float)
# Architectures whose Hugging Face modules fuse projections, and so does their GGUF
# (llama.cpp's attn_qkv and ffn_up): a LoRA on a fused module is one LoRA on the fused
# tensor.  Phi-3 (Phi3ForCausalLM): qkv_proj = [q; k; v], gate_up_proj = [gate; up].
FUSED_MODULES = {
    "phi3": {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj",
             "gate_proj": "gate_up_proj", "up_proj": "gate_up_proj"},
}


def module_targets(architecture: str, targets: tuple[str, ...]) -> list[str]:
    """The model's own module names for the projections in ``targets`` (in order, once each)."""
    fused = FUSED_MODULES.get(architecture, {})
    return list(dict.fromkeys(fused.get(t, t) for t in targets))


@dataclass
class LoraWeights:
    """``modules``: Hugging Face module name (``model.layers.0.self_attn.q_proj``) -> (A, B)."""

    r: int
    alpha: float
    modules: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def target_modules(self) -> list[str]:
        return sorted({name.rsplit(".", 1)[-1] for name in self.modules})

    def n_params(self) -> int:
        return sum(a.size + b.size for a, b in self.modules.values())

    def check(self, where: Path | str) -> None:
        """One rank for every module, and A/B shapes that fit together."""
        if not self.modules:
            raise InkwellError(f"{where}: the adapter holds no LoRA weights")
        for name, (a, b) in self.modules.items():
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != self.r or b.shape[1] != self.r:
                raise InkwellError(
                    f"{where}: LoRA weights of {name} have shapes A{tuple(a.shape)} "
                    f"B{tuple(b.shape)}, expected A[r={self.r}, in] and B[out, r={self.r}] "
                    "(per-module ranks cannot be represented in llama.cpp's format)"
                )


def write_peft(weights: LoraWeights, folder: Path, base_model: str) -> None:
    """Write ``adapter_config.json`` + ``adapter_model.safetensors`` (loadable by peft)."""
    from safetensors.numpy import save

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, (a, b) in sorted(weights.modules.items()):
        tensors[f"{_PEFT_PREFIX}{name}.lora_A.weight"] = np.ascontiguousarray(a, dtype=np.float32)
        tensors[f"{_PEFT_PREFIX}{name}.lora_B.weight"] = np.ascontiguousarray(b, dtype=np.float32)
    # Serialised in memory and written by Python, so a full disk is an OSError with its errno
    # (safetensors' own writer reports it as a SafetensorError with only a message).
    (folder / PEFT_WEIGHTS).write_bytes(save(tensors))
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": weights.r,
        "lora_alpha": weights.alpha,
        "target_modules": weights.target_modules,
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "inference_mode": True,
    }
    (folder / PEFT_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def read_adapter_config(config_file: Path) -> dict[str, Any]:
    """An adapter folder's JSON config (PEFT's or mlx-lm's), or a clear error naming it."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InkwellError(f"{config_file}: cannot read the adapter's config ({exc})") from exc
    if not isinstance(config, dict):
        raise InkwellError(f"{config_file}: the adapter's config is not a JSON object")
    return config


def config_number(config_file: Path, config: dict[str, Any], key: str, kind: type[N],
                  default: N | None = None) -> N:
    """``config[key]`` as a positive ``int`` or ``float``; a clear error when it is not one."""
    value: Any = config.get(key, default)
    valid = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not valid or not math.isfinite(value) or value <= 0:
        raise InkwellError(f"{config_file}: {key} must be a positive "
                           f"{'integer' if kind is int else 'number'}, not {value!r}")
    return kind(value)


def load_lora_tensors(weights_file: Path) -> dict[str, Any]:
    """Read a safetensors file of LoRA weights, refusing one too large to be an adapter.

    The whole file is read into memory, so its size is checked first: a LoRA on every
    linear layer of a 70B model at rank 64, in float32, is about 3.3 GB.
    """
    from safetensors.torch import load_file

    size = weights_file.stat().st_size
    if size > MAX_ADAPTER_BYTES:
        raise InkwellError(
            f"{weights_file}: {size / 2**30:.1f} GiB is too large for a LoRA adapter (the limit "
            f"is {MAX_ADAPTER_BYTES / 2**30:.0f} GiB); is it a whole model?"
        )
    try:
        return dict(load_file(str(weights_file)))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise InkwellError(f"{weights_file}: damaged safetensors file ({exc})") from exc


def read_peft(folder: Path) -> LoraWeights:
    """Read a PEFT LoRA folder; refuse what llama.cpp's LoRA format cannot represent."""
    config_file, weights_file = folder / PEFT_CONFIG, folder / PEFT_WEIGHTS
    if not config_file.is_file() or not weights_file.is_file():
        raise InkwellError(
            f"{folder}: not a PEFT adapter folder (needs {PEFT_CONFIG} and {PEFT_WEIGHTS})"
        )
    config = read_adapter_config(config_file)
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise InkwellError(
            f"{config_file}: peft_type is {config.get('peft_type')!r}, only LORA is supported"
        )
    if config.get("use_dora"):
        raise InkwellError(
            f"{config_file}: DoRA adapters cannot be represented in llama.cpp's LoRA format"
        )
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise InkwellError(
            f"{config_file}: per-module rank/alpha patterns cannot be represented in "
            "llama.cpp's format"
        )
    if config.get("modules_to_save"):
        raise InkwellError(
            f"{config_file}: fully trained modules ({config['modules_to_save']}) cannot be exported"
        )
    r = config_number(config_file, config, "r", int)
    alpha = config_number(config_file, config, "lora_alpha", float, default=r)
    if config.get("use_rslora"):
        alpha *= math.sqrt(r)  # rsLoRA scales by alpha/sqrt(r); llama.cpp by alpha/r
    tensors = load_lora_tensors(weights_file)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, tensor in tensors.items():
        name = key.removeprefix(_PEFT_PREFIX)
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in name:
                module = name.split(marker)[0]
                pairs.setdefault(module, {})[part] = tensor.float().numpy()
                break
        else:
            raise InkwellError(
                f"{weights_file}: tensor {key} is not a LoRA A/B weight and cannot be exported"
            )
    modules = {}
    for module, ab in pairs.items():
        if set(ab) != {"lora_A", "lora_B"}:
            raise InkwellError(f"{weights_file}: module {module} lacks its lora_A or lora_B weight")
        modules[module] = (ab["lora_A"], ab["lora_B"])
    weights = LoraWeights(r, alpha, modules)
    weights.check(weights_file)
    return weights
