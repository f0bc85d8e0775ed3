"""Importing adapters trained elsewhere: PEFT folders and mlx-lm adapter folders.

mlx-lm writes ``adapters.safetensors`` with ``<module>.lora_a`` (in, r) and
``<module>.lora_b`` (r, out) and scales by a fixed ``scale`` (default 20) rather
than alpha / r.  llama.cpp cannot load that as it is (mlx-lm#197,
llama.cpp#10551); it is the same LoRA in another layout: A = lora_a^T,
B = lora_b^T, alpha = scale * r.
"""

from __future__ import annotations

from pathlib import Path

from core.adapters.lora import (
    PEFT_CONFIG,
    PEFT_WEIGHTS,
    LoraWeights,
    config_number,
    load_lora_tensors,
    read_adapter_config,
    read_peft,
)
from core.errors import InkwellError
from core.fsutil import sha256_file

MLX_CONFIG = "adapter_config.json"
MLX_WEIGHTS = "adapters.safetensors"


def read_mlx(folder: Path) -> LoraWeights:
    """Read an mlx-lm LoRA adapter folder into PEFT's convention."""
    config_file = folder / MLX_CONFIG
    config = read_adapter_config(config_file)
    kind = config.get("fine_tune_type", "lora")
    if kind != "lora":
        raise InkwellError(
            f"{config_file}: fine_tune_type {kind!r} cannot be exported; only 'lora' can"
        )
    params = config.get("lora_parameters") or {}
    if not isinstance(params, dict) or "rank" not in params:
        raise InkwellError(f"{config_file}: lora_parameters.rank is missing")
    r = config_number(config_file, params, "rank", int)
    scale = config_number(config_file, params, "scale", float, default=20.0)
    tensors = load_lora_tensors(folder / MLX_WEIGHTS)
    modules = {}
    for key, a in tensors.items():
        if key.endswith(".lora_a"):
            module = key.removesuffix(".lora_a")
            b = tensors.get(module + ".lora_b")
            if b is None:
                raise InkwellError(f"{folder / MLX_WEIGHTS}: {module} has lora_a but no lora_b")
            modules[module] = (a.float().numpy().T.copy(), b.float().numpy().T.copy())
        elif not key.endswith(".lora_b"):
            raise InkwellError(f"{folder / MLX_WEIGHTS}: tensor {key} is not a LoRA weight")
    weights = LoraWeights(r, scale * r, modules)
    weights.check(folder / MLX_WEIGHTS)
    return weights


def read_adapter_folder(folder: Path) -> tuple[LoraWeights, str, str]:
    """Detect the folder's format and read it.

    Returns (weights, "peft" or "mlx", SHA-256 of the weights file).
    """
    if not folder.is_dir():
        raise InkwellError(f"{folder}: not a folder (give the adapter's folder, not a file)")
    if (folder / PEFT_WEIGHTS).is_file():
        return read_peft(folder), "peft", sha256_file(folder / PEFT_WEIGHTS)
    if (folder / MLX_WEIGHTS).is_file():
        return read_mlx(folder), "mlx", sha256_file(folder / MLX_WEIGHTS)
    raise InkwellError(
        f"{folder}: no adapter found (a PEFT folder has {PEFT_CONFIG} + {PEFT_WEIGHTS}; an mlx-lm "
        f"folder has {MLX_CONFIG} + {MLX_WEIGHTS})"
    )
