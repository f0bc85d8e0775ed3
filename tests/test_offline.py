"""The app works with no network at all: the CLI inside an empty network namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from core.models import SMOLLM2

UNSHARE = shutil.which("unshare")


def _offline(*args: str, home) -> subprocess.CompletedProcess[str]:
    cmd = [UNSHARE or "unshare", "-rn", sys.executable, "-m", "core", "--home", str(home), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ.copy())


@pytest.mark.skipif(UNSHARE is None, reason="util-linux's unshare is not installed")
def test_cli_in_an_empty_network_namespace(tmp_path) -> None:
    probe = subprocess.run([UNSHARE or "", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.fail(f"unshare -rn is not permitted here: {probe.stderr.decode()!r}")
    home = tmp_path / "home"
    models = _offline("models", "--json", home=home)
    assert models.returncode == 0, models.stderr
    assert SMOLLM2 in {m["name"] for m in json.loads(models.stdout)}
    out = _offline(
        "write", "--model", SMOLLM2, "--max-tokens", "8", "--json", "Say hello.", home=home
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["text"].strip()
