"""Importing an adapter folder from elsewhere: a malformed one is a clear error, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import core.adapters.lora as lora
from core.adapters.importers import MLX_CONFIG, MLX_WEIGHTS
from core.cli import main
from tests.library.conftest import run_cli

LORA_PEFT = {"peft_type": "LORA", "r": 4, "lora_alpha": 8}
LORA_MLX = {"fine_tune_type": "lora", "lora_parameters": {"rank": 4, "scale": 20.0}}


def _peft(folder: Path, config: object) -> Path:
    folder.mkdir()
    (folder / lora.PEFT_CONFIG).write_text(json.dumps(config))
    a = np.zeros((4, 8), np.float32)
    save_file({"base_model.model.layers.0.q_proj.lora_A.weight": a,
               "base_model.model.layers.0.q_proj.lora_B.weight": a.T.copy()},
              str(folder / lora.PEFT_WEIGHTS))
    return folder


def _mlx(folder: Path, config: object) -> Path:
    folder.mkdir()
    (folder / MLX_CONFIG).write_text(json.dumps(config))
    a = np.zeros((8, 4), np.float32)
    save_file({"layers.0.q_proj.lora_a": a, "layers.0.q_proj.lora_b": a.T.copy()},
              str(folder / MLX_WEIGHTS))
    return folder


CASES = {
    "peft config is a list": (_peft, [LORA_PEFT], "not a JSON object"),
    "peft r is text": (_peft, {**LORA_PEFT, "r": "eight"}, "r must be a positive integer"),
    "peft r is missing": (_peft, {"peft_type": "LORA"}, "r must be a positive integer"),
    "peft r is a float": (_peft, {**LORA_PEFT, "r": 4.5}, "r must be a positive integer"),
    "peft alpha is null": (_peft, {**LORA_PEFT, "lora_alpha": None}, "lora_alpha must be"),
    "mlx config is a string": (_mlx, "lora", "not a JSON object"),
    "mlx parameters are a list": (_mlx, {"lora_parameters": [4]}, "rank is missing"),
    "mlx rank is negative": (_mlx, {"lora_parameters": {"rank": -4}}, "rank must be a positive"),
    "mlx scale is text": (_mlx, {"lora_parameters": {"rank": 4, "scale": "x"}}, "scale must be"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_config_is_a_clear_error(case: str, tmp_path: Path, home, capsys) -> None:
    make, config, reason = CASES[case]
    folder = make(tmp_path / "adapter", config)
    assert main(["--home", str(home.root), "adapter", "import", str(folder)]) == 2
    err = capsys.readouterr().err
    assert reason in err and str(folder) in err, err
    assert "Traceback" not in err


def test_an_unreadable_config_is_a_clear_error(tmp_path: Path, home) -> None:
    """Mode 000 (root's powers to read anyway are dropped for the run)."""
    folder = _peft(tmp_path / "adapter", LORA_PEFT)
    (folder / lora.PEFT_CONFIG).chmod(0)
    done = run_cli(home.root, "adapter", "import", str(folder), drop_root_powers=True,
                   check=False)
    assert done.returncode == 2, done.stderr
    assert "cannot read the adapter's config" in done.stderr and "Traceback" not in done.stderr


def test_weights_too_large_for_an_adapter_are_refused_before_reading(
        tmp_path: Path, home, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _peft(tmp_path / "adapter", LORA_PEFT)
    weights = folder / lora.PEFT_WEIGHTS
    monkeypatch.setattr(lora, "MAX_ADAPTER_BYTES", weights.stat().st_size - 1)
    assert main(["--home", str(home.root), "adapter", "import", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "too large for a LoRA adapter" in err and str(weights) in err
    monkeypatch.setattr(lora, "MAX_ADAPTER_BYTES", weights.stat().st_size)
    assert lora.read_peft(folder).r == 4  # at the limit it is read
