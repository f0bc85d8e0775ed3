"""The app works with no network at all: the CLI inside an empty network namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.models import SMOLLM2
from tests.privacy.pipeline import namespaces_usable, need_os_proof, unshare_wrap


def _offline(*args: str, home) -> subprocess.CompletedProcess[str]:
    cmd = unshare_wrap("cli", [sys.executable, "-m", "core", "--home", str(home), *args])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ.copy())


def test_cli_in_an_empty_network_namespace(tmp_path) -> None:
    need_os_proof(namespaces_usable())
    home = tmp_path / "home"
    models = _offline("models", "--json", home=home)
    assert models.returncode == 0, models.stderr
    assert SMOLLM2 in {m["name"] for m in json.loads(models.stdout)}
    out = _offline(
        "write", "--model", SMOLLM2, "--max-tokens", "8", "--json", "Say hello.", home=home
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["text"].strip()
