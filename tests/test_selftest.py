"""``inkwell selftest`` passes from a source install, and the training and download child
processes' command lines are right both from source and in a frozen (PyInstaller) app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.adapters.protocol import TRAIN_WORKER_FLAG, worker_command
from core.catalog import DOWNLOAD_WORKER_FLAG, download_command


def test_selftest_passes_without_the_trainer_and_leaves_no_data_dir(tmp_path: Path) -> None:
    # Everything but training runs without torch: the embedder's ONNX graph is written (into
    # a cache of this test's own) with no torch, then the app indexes, retrieves, writes and
    # applies a random LoRA; training is covered by the adapter tests.
    env = {**os.environ, "TMPDIR": str(tmp_path), "INKWELL_HOME": str(tmp_path / "user-home"),
           "INKWELL_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-m", "tests.without_trainer", "selftest", "--adapter", "apply"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert sum(line.startswith("ok ") for line in lines) == 7, out.stdout
    assert "selftest passed" in lines[-1]
    assert not (tmp_path / "user-home").exists()  # the user's data dir is never touched
    assert not list(tmp_path.glob("inkwell-selftest-*"))  # the temporary one is removed
    assert list((tmp_path / "cache" / "embedder").glob("*.onnx"))  # written without torch


def test_training_without_the_trainer_says_what_it_needs(tmp_path: Path) -> None:
    questions = Path(__file__).parent / "data" / "commit_subject" / "sample_questions.json"
    out = subprocess.run(
        [sys.executable, "-m", "tests.without_trainer", "--home", str(tmp_path / "home"),
         "adapter", "train", "--lamp", str(questions)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0
    assert "not installed: torch, peft" in out.stderr, out.stderr
    assert "GB to download" in out.stderr and "./inkwell-setup trainer" in out.stderr


def test_worker_command_from_source(tmp_path: Path) -> None:
    cmd = worker_command(tmp_path, "work", tmp_path / "request.json")
    # -P: the working directory is not on the worker's sys.path (a planted core/ cannot load)
    assert cmd[:4] == [sys.executable, "-P", "-m", "core.adapters.worker"]
    assert cmd[4:] == ["--home", str(tmp_path), "--profile", "work", "--request",
                       str(tmp_path / "request.json")]


def test_worker_command_in_a_frozen_app(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/inkwell/inkwell-desktop")
    cmd = worker_command(tmp_path, "default", tmp_path / "request.json")
    assert cmd[:2] == ["/opt/inkwell/inkwell-desktop", TRAIN_WORKER_FLAG]
    assert "-m" not in cmd


def test_download_command_from_source(tmp_path: Path) -> None:
    cmd = download_command(tmp_path / "request.json")
    assert cmd == [sys.executable, "-P", "-m", "core.download", "--request",
                   str(tmp_path / "request.json")]


def test_download_command_in_a_frozen_app(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/inkwell/inkwell-desktop")
    cmd = download_command(tmp_path / "request.json")
    assert cmd == ["/opt/inkwell/inkwell-desktop", DOWNLOAD_WORKER_FLAG, "--request",
                   str(tmp_path / "request.json")]


def test_the_frozen_entry_point_knows_the_worker_flags() -> None:
    import importlib.util

    entry = Path(__file__).resolve().parent.parent / "packaging" / "entry.py"
    spec = importlib.util.spec_from_file_location("inkwell_frozen_entry", entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TRAIN_WORKER_FLAG == TRAIN_WORKER_FLAG
    assert module.DOWNLOAD_WORKER_FLAG == DOWNLOAD_WORKER_FLAG
