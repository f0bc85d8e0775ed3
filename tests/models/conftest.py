"""Fixtures for the catalog and download tests: a tiny GGUF served by a loopback server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.models.model_server import ModelServer, write_catalog

FILE = "tiny-model-q8_0.gguf"


def tiny_gguf(path: Path, n: int = 600_000) -> bytes:
    """A valid GGUF model of ~2.4 MB (one random tensor): large enough to cut and resume."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_tensor("token_embd.weight", np.random.default_rng(0).random((n // 8, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@pytest.fixture(scope="session")
def gguf_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return tiny_gguf(tmp_path_factory.mktemp("gguf") / FILE)


@pytest.fixture
def server(gguf_bytes: bytes):
    srv = ModelServer({FILE: gguf_bytes})
    yield srv
    srv.close()


def entry(data: bytes, *, url: str = f"https://models.example.org/tiny/{FILE}",
          sha256: str | None = None, size: int | None = None) -> dict[str, object]:
    return {
        "name": "tiny", "title": "Tiny test model", "architecture": "llama", "url": url,
        "size": len(data) if size is None else size,
        "sha256": sha256 or hashlib.sha256(data).hexdigest(),
        "license": "Apache-2.0", "context_length": 64, "chat_template": False,
        "good_for": "tests",
        "shape": {"n_params": 1000, "n_layers": 1, "hidden": 8, "n_head": 1, "n_kv_head": 1,
                  "head_dim": 8, "ffn": 16, "vocab": 32},
    }


@pytest.fixture
def catalog(tmp_path: Path, gguf_bytes: bytes) -> Path:
    return write_catalog(tmp_path / "catalog.json", [entry(gguf_bytes)])
