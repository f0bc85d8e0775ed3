"""``inkwell serve`` as a user starts it: a fresh process, its token, Ctrl+C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from core.privacy import install_network_guard

REPO = Path(__file__).resolve().parents[2]


def _inkwell(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "core", "--home", str(home), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_serve_answers_until_ctrl_c(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shown = subprocess.run(_inkwell(home, "serve", "--show-token", "--json"), env=_env(),
                           capture_output=True, text=True, check=True, timeout=120)
    token = json.loads(shown.stdout)["token"]
    proc = subprocess.Popen(_inkwell(home, "serve", "--port", "0", "--profile", "work"),
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert "profile 'work'" in line, line + proc.stderr.read()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        base = found.group(0)
        # The guard refuses loopback ports other than this process's own unless named.
        install_network_guard(allow_loopback_ports=[int(found.group(1))])
        assert httpx.get(base + "/models").status_code == 401
        models = httpx.get(base + "/models", headers={"Authorization": f"Bearer {token}"})
        assert "smollm2-135m-instruct+rag" in {m["id"] for m in models.json()["data"]}
        answer = httpx.post(base + "/chat/completions", timeout=60,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"model": "smollm2-135m-instruct", "max_tokens": 4,
                                  "messages": [{"role": "user", "content": "hello"}]})
        assert answer.json()["inkwell"]["profile"] == "work"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped after 1 answers" in out


def test_serve_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    done = subprocess.run(_inkwell(tmp_path / "home", "serve", "--host", "0.0.0.0"), env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "loopback only" in done.stderr
