"""A training checkpoint, the same for every backend: safetensors plus a JSON sidecar.

    <job folder>/
      checkpoint.json                 step, losses, base validation loss, backend, and the
                                      name of the tensors file it goes with
      checkpoint-000012.safetensors   LoRA weights and optimizer state, as named arrays

The tensors are written first, then the sidecar replaces the old one (the commit
point), then older tensors files are removed: a kill at any moment leaves a
sidecar that names a complete file.  Neither file can carry code — no pickle —
so a job folder that holds something else (an old ``checkpoint.bin`` pickle, a
sidecar naming a file elsewhere) is not trusted: training starts afresh.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import saving
from core.fsutil import atomic_write_bytes, atomic_write_json, read_json

SIDECAR = "checkpoint.json"
FORMAT = 1
_TENSORS = re.compile(r"^checkpoint-(\d{6})\.safetensors$")


@dataclass(frozen=True)
class Checkpoint:
    step: int  # steps done
    losses: list[float]
    val_loss_base: float | None
    arrays: dict[str, np.ndarray]  # the backend's state (Backend.state / load_state)


def save(folder: Path, backend: str, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` into ``folder``; a full disk raises :class:`DiskFull`."""
    from safetensors.numpy import save as to_bytes

    tensors = f"checkpoint-{checkpoint.step:06d}.safetensors"
    with saving(folder, "the training checkpoint",
                "free some space and start the same training again to resume"):
        arrays = {k: np.asarray(v, order="C") for k, v in checkpoint.arrays.items()}  # keeps 0-d
        atomic_write_bytes(folder / tensors, to_bytes(arrays))
        atomic_write_json(folder / SIDECAR, {
            "format": FORMAT,
            "backend": backend,
            "tensors": tensors,
            "step": checkpoint.step,
            "losses": checkpoint.losses,
            "val_loss_base": checkpoint.val_loss_base,
        })
    for old in folder.iterdir():
        if _TENSORS.match(old.name) and old.name != tensors:
            old.unlink(missing_ok=True)


def load(folder: Path, backend: str) -> Checkpoint | None:
    """The checkpoint in ``folder`` written by ``backend``; None if there is no usable one."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        sidecar: Any = read_json(folder / SIDECAR)
    except (OSError, ValueError):
        return None
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        return None
    name = sidecar.get("tensors")
    if sidecar.get("backend") != backend or not isinstance(name, str) or not _TENSORS.match(name):
        return None
    try:
        arrays = load_file(folder / name)
        return Checkpoint(
            step=int(sidecar["step"]),
            losses=[float(x) for x in sidecar["losses"]],
            val_loss_base=None if sidecar["val_loss_base"] is None
            else float(sidecar["val_loss_base"]),
            arrays=arrays,
        )
    except (OSError, ValueError, KeyError, TypeError, SafetensorError):
        return None  # damaged: a fresh start is correct, only slower
