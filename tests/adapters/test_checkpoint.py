"""The training checkpoint: safetensors + a JSON sidecar; nothing that can carry code is loaded."""

from __future__ import annotations

import json
import pickle
import resource
import signal
from pathlib import Path

import numpy as np
import pytest

from core.adapters import checkpoint
from core.adapters.checkpoint import SIDECAR, Checkpoint
from core.errors import DiskFull


def _state(step: int) -> Checkpoint:
    rng = np.random.default_rng(step)
    arrays = {"lora.a": rng.standard_normal((4, 8)).astype(np.float32),
              "optim.0.step": np.array(float(step), dtype=np.float32)}
    return Checkpoint(step, [1.5, 1.25][:step], 2.0, arrays)


def test_round_trip_and_only_the_latest_tensors_are_kept(tmp_path: Path) -> None:
    checkpoint.save(tmp_path, "torch", _state(1))
    checkpoint.save(tmp_path, "torch", _state(2))
    loaded = checkpoint.load(tmp_path, "torch")
    assert loaded is not None and (loaded.step, loaded.losses, loaded.val_loss_base) == (
        2, [1.5, 1.25], 2.0)
    for name, value in _state(2).arrays.items():
        assert loaded.arrays[name].shape == value.shape  # a 0-d scalar stays 0-d
        assert np.array_equal(loaded.arrays[name], value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-000002.safetensors", SIDECAR]
    assert checkpoint.load(tmp_path, "mlx") is None  # another backend's state is not resumed


class _Payload:
    def __reduce__(self):  # what a malicious checkpoint.bin would run when unpickled
        return (Path.touch, (Path(__file__).parent / "never",))


def test_a_pickle_or_a_foreign_path_is_never_loaded(tmp_path: Path) -> None:
    marker = Path(__file__).parent / "never"
    payload = pickle.dumps(_Payload())
    (tmp_path / "checkpoint.bin").write_bytes(payload)  # the old, pickled format
    assert checkpoint.load(tmp_path, "torch") is None
    # A sidecar that names a pickle in the tensors file's place, or a file elsewhere.
    (tmp_path / "checkpoint-000001.safetensors").write_bytes(payload)
    sidecar = {"format": 1, "backend": "torch", "tensors": "checkpoint-000001.safetensors",
               "step": 1, "losses": [1.0], "val_loss_base": None}
    (tmp_path / SIDECAR).write_text(json.dumps(sidecar))
    assert checkpoint.load(tmp_path, "torch") is None
    (tmp_path / "elsewhere.safetensors").write_bytes(b"")
    (tmp_path / SIDECAR).write_text(json.dumps({**sidecar, "tensors": "../elsewhere.safetensors"}))
    assert checkpoint.load(tmp_path, "torch") is None
    assert not marker.exists()


def test_a_full_disk_is_a_disk_full_error(tmp_path: Path) -> None:
    """A real failing write: the file-size limit makes the kernel refuse it (EFBIG), like ENOSPC."""
    big = Checkpoint(1, [1.0], None, {"lora.a": np.zeros((1 << 18,), dtype=np.float32)})
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, don't kill us
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, hard))
    try:
        with pytest.raises(DiskFull, match=r"disk is full.*resume"):
            checkpoint.save(tmp_path, "torch", big)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert checkpoint.load(tmp_path, "torch") is None  # nothing half-written is trusted
