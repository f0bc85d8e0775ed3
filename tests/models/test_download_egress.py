"""The download seen from outside: under strace it connects only to the host it was given,
and in an empty network namespace ``inkwell models get`` fails with a clear message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.privacy.pipeline import Tracer, namespaces_usable, strace_usable, unshare_wrap


def test_the_download_connects_only_to_its_host(home, server, catalog, gguf_bytes, tmp_path):
    if (reason := strace_usable()) is not None:
        pytest.skip(reason)
    tracer = Tracer(tmp_path / "trace")
    cmd = [sys.executable, "-m", "core", "--home", str(home.root), "models", "get", "tiny",
           "--mirror", server.url, "--catalog", str(catalog)]
    subprocess.run(tracer("get", cmd), check=True, capture_output=True, timeout=300)
    port = server.url.rsplit(":", 1)[1]
    ip = [c for c in tracer.calls() if c.family in ("AF_INET", "AF_INET6")]
    assert any(c.call == "connect" for c in ip), "the trace saw no connection at all"
    for c in ip:  # every IP connection and send of every process: the mirror's host and port
        assert c.address == "127.0.0.1" and f"sin_port=htons({port})" in c.line, c.line


def test_without_a_network_get_fails_with_a_clear_message(home) -> None:
    if (reason := namespaces_usable()) is not None:
        pytest.skip(reason)
    cmd = [sys.executable, "-m", "core", "--home", str(home.root), "models", "get",
           "qwen2.5-1.5b-instruct"]
    done = subprocess.run(unshare_wrap("get", cmd), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "cannot download from huggingface.co" in done.stderr
    assert "Check the network connection" in done.stderr
