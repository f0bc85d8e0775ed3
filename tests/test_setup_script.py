"""``./inkwell-setup``'s two choices: the newest Python 3.11-3.13 that runs, and whether the
trainer (PyPI's torch: the CUDA build on Linux) is installed — only with an NVIDIA GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUNS = f'exec "{sys.executable}" "$@"'
FAILS = "exit 127"  # a pyenv shim for a version that is not installed behaves so


def _plan(tmp_path: Path, tools: dict[str, str]) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    out = subprocess.run(["sh", str(REPO / "inkwell-setup"), "plan"], capture_output=True,
                         text=True, timeout=60, check=True,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)})
    return out.stdout


def test_picks_the_newest_python_that_runs(tmp_path: Path) -> None:
    out = _plan(tmp_path, {"python3.13": FAILS, "python3.12": RUNS, "python3.11": RUNS})
    assert "python: python3.12" in out.splitlines()


@pytest.mark.skipif(sys.platform != "linux", reason="the GPU check is for Linux")
def test_trainer_only_with_an_nvidia_gpu(tmp_path: Path) -> None:
    gpu = _plan(tmp_path / "gpu", {"nvidia-smi": "echo 'GPU 0: NVIDIA H100'"})
    assert "trainer: yes" in gpu.splitlines()
    if os.path.exists("/proc/driver/nvidia/version"):
        pytest.skip("this machine has an NVIDIA driver: the no-GPU case cannot be shown here")
    # nvidia-smi without a working driver (it exits non-zero) is no GPU either.
    none = _plan(tmp_path / "none", {"nvidia-smi": "exit 9"})
    assert "trainer: no (no NVIDIA GPU)" in none.splitlines()
